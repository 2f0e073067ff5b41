#include "tests/faults/tree_calls.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/faults/call_outcome.h"

namespace synod::faults {

absl::Status EnsureNodes(NetnsCluster* cluster,
                         const std::vector<std::pair<std::string, std::string>>& nodes,
                         absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& [path, data] : nodes) {
    for (int attempt = 0;; ++attempt) {
      auto tree = v1::Tree::NewStub(cluster->channel(1 + attempt % cluster->size()));
      v1::CreateRequest req;
      req.mutable_op()->set_path(path);
      req.mutable_op()->set_data(data);
      v1::CreateResponse resp;
      grpc::Status s = tree->Create(CallContext(absl::Seconds(2)).get(), req, &resp);
      Op probe;
      if (ClassifyCall(s, resp.header(), &probe) == Outcome::kOk || probe.error == "NODE_EXISTS") {
        break;
      }
      if (absl::Now() > deadline) {
        return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", probe.error));
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  }
  return absl::OkStatus();
}

namespace {

// One attempt of ListChildren; fills `op` or says why it could not.
absl::Status ListOnce(v1::Tree::Stub* tree, const std::string& parent, Op* op) {
  op->children.clear();
  op->error.clear();
  std::string token;
  uint64_t revision = 0;
  do {
    v1::GetChildrenRequest req;
    req.set_path(parent);
    req.set_include_stat(true);
    req.set_page_token(token);
    v1::GetChildrenResponse resp;
    grpc::Status s = tree->GetChildren(CallContext(absl::Seconds(2)).get(), req, &resp);
    Op probe;
    if (ClassifyCall(s, resp.header(), &probe) != Outcome::kOk) {
      return absl::UnavailableError(absl::StrCat("list ", parent, ": ", probe.error));
    }
    if (revision == 0) revision = resp.header().revision();
    for (int i = 0; i < resp.children_size(); ++i) {
      ListedChild c;
      c.name = resp.children(i);
      if (i < resp.child_stats_size()) c.owner = resp.child_stats(i).ephemeral_owner();
      op->children.push_back(std::move(c));
    }
    token = resp.next_page_token();
  } while (!token.empty());
  op->revision = revision;
  std::vector<ListedChild> kept;
  for (ListedChild& c : op->children) {
    v1::GetRequest req;
    req.set_path(absl::StrCat(parent, "/", c.name));
    req.set_revision(revision);
    // The replica has applied `revision` (it listed at it): its own state
    // there is the listing's, no read index needed.
    req.mutable_read()->set_consistency(v1::SERIALIZABLE);
    req.mutable_read()->set_min_revision(revision);
    v1::GetResponse resp;
    grpc::Status s = tree->Get(CallContext(absl::Seconds(2)).get(), req, &resp);
    Op probe;
    if (ClassifyCall(s, resp.header(), &probe) == Outcome::kOk) {
      c.data = resp.data();
      kept.push_back(std::move(c));
    } else if (probe.error == "NO_NODE") {
      absl::StrAppend(&op->error, op->error.empty() ? "" : " ", c.name, ":gone");
    } else {
      return absl::UnavailableError(absl::StrCat("read ", req.path(), ": ", probe.error));
    }
  }
  op->children = std::move(kept);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Op> ListChildren(NetnsCluster* cluster, HistoryRecorder* history, int replica,
                                const std::string& parent, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  auto tree = v1::Tree::NewStub(cluster->channel(replica));
  Op op;
  op.client = 1000 + replica;
  op.replica = replica;
  op.key = parent;
  op.type = OpType::kList;
  for (;;) {
    op.id = history->NextId();
    op.invoke_ns = RunClockNs();
    absl::Status s = ListOnce(tree.get(), parent, &op);
    op.complete_ns = RunClockNs();
    if (s.ok()) break;
    if (absl::Now() > deadline) return s;
    absl::SleepFor(absl::Milliseconds(200));
  }
  op.outcome = Outcome::kOk;
  history->Add(op);
  return op;
}

}  // namespace synod::faults
