// Fuzz target: what a client's write turns into on every replica: a
// v1::MultiRequest made into a multi command as the Tree service does, or
// any v1::Command, applied by the pure apply function (storage/apply.h,
// ApplyCommand) to an Overlay over a MemoryTreeStore.
//
// Input: up to kMaxCommands items, each u8 kind + u16 length + bytes. Kind
// even: the bytes are a v1::Command; odd: a v1::MultiRequest. Bytes that do
// not parse are skipped. Item i applies at revision i + 1, so the session a
// command opens has an id a later command can name.
// Promises checked beyond "no crash": ApplyCommand never fails on a memory
// store (bad input is a Synod code, not a status); a txn that fails changes
// no node and raises no event (all or nothing); apply is deterministic (two
// stores fed the same commands report the same results and digests); the
// recorded digest is the one recomputed from the nodes; a write retried
// with its session sequence returns the stored result and changes nothing.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "storage/apply.h"
#include "storage/memory_tree_store.h"
#include "storage/overlay.h"
#include "synod/v1/tree.pb.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace synod::fuzz {
namespace {

constexpr int kMaxCommands = 32;

struct Applied {
  v1::CommandResult result;
  bool node_changes = false;
  bool events = false;
};

// Applies `command` at `revision` and commits it.
Applied Apply(storage::TreeStore* store, uint64_t revision, const v1::Command& command) {
  Applied out;
  absl::StatusOr<std::unique_ptr<storage::StateView>> view = store->NewView();
  Require(view.ok(), "NewView", view.status().ToString());
  storage::WriteSet ws;
  {
    storage::Overlay overlay(view->get());
    const absl::Status s = storage::ApplyCommand(storage::ApplyLimits(), revision, command,
                                                 &overlay, nullptr, &out.result);
    Require(s.ok(), "ApplyCommand failed on a memory store", s.ToString());
    ws = overlay.TakeWriteSet(revision);
  }
  view->reset();
  out.node_changes = !ws.nodes.empty();
  out.events = !ws.events.empty();
  const absl::Status s = store->Commit(ws);
  Require(s.ok(), "Commit", s.ToString());
  return out;
}

uint64_t RecomputeDigest(storage::TreeStore* store) {
  absl::StatusOr<std::unique_ptr<storage::StateView>> view = store->NewView();
  Require(view.ok(), "NewView", view.status().ToString());
  uint64_t digest = 0;
  const absl::Status s =
      (*view)->ForEachNode([&digest](std::string_view path, const storage::Node& node) {
        digest += storage::NodeDigestTerm(path, node);
        return absl::OkStatus();
      });
  Require(s.ok(), "ForEachNode", s.ToString());
  return digest;
}

// The command the Tree service proposes for a Multi call.
v1::Command FromMulti(const v1::MultiRequest& request) {
  v1::Command command;
  v1::TxnCommand* txn = command.mutable_txn();
  *txn->mutable_ops() = request.ops();
  txn->set_is_multi(true);
  *command.mutable_write() = request.write();
  return command;
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  storage::MemoryTreeStore a;
  storage::MemoryTreeStore b;
  uint64_t revision = 0;
  for (int i = 0; i < kMaxCommands && !in.empty(); ++i) {
    const uint8_t kind = in.U8();
    const std::string_view bytes = in.Field();
    v1::Command command;
    if (kind % 2 == 0) {
      if (!command.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
    } else {
      v1::MultiRequest request;
      if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
      command = FromMulti(request);
    }
    const uint64_t before = a.meta().digest;
    const Applied on_a = Apply(&a, ++revision, command);
    const Applied on_b = Apply(&b, revision, command);
    Require(on_a.result.SerializeAsString() == on_b.result.SerializeAsString(),
            "two stores give different results", absl::StrCat("revision ", revision));
    Require(a.meta().digest == b.meta().digest, "two stores reach different digests",
            absl::StrCat("revision ", revision));
    Require(RecomputeDigest(&a) == a.meta().digest, "recorded digest differs from the nodes'",
            absl::StrCat("revision ", revision));
    if (!command.has_txn()) continue;
    const v1::ErrorCode code = on_a.result.code();
    if (code != v1::OK) {
      Require(!on_a.node_changes && !on_a.events && a.meta().digest == before,
              "a failed txn changed the tree", on_a.result.ShortDebugString());
    }
    const v1::WriteContext& write = command.write();
    if (write.session_id() != 0 && write.sequence() != 0 && code != v1::SESSION_EXPIRED &&
        code != v1::DEADLINE_EXCEEDED) {
      // The client retries (a lost reply): the stored answer, no change.
      const uint64_t digest = a.meta().digest;
      const Applied retry = Apply(&a, ++revision, command);
      Apply(&b, revision, command);
      Require(retry.result.SerializeAsString() == on_a.result.SerializeAsString(),
              "a retried write answers differently", retry.result.ShortDebugString());
      Require(!retry.node_changes && !retry.events && a.meta().digest == digest,
              "a retried write changed the tree");
    }
  }
  return 0;
}
