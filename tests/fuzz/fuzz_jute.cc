// Fuzz target: the ZooKeeper protocol's record decoders (server/zk/jute.h,
// records.h), which read every frame a ZooKeeper client sends to --zk_addr
// before any check.
//
// Input: byte 0 picks the record (mod the number below), the rest is its
// bytes. Promises checked beyond "no crash": errors are OutOfRange
// (truncated) or InvalidArgument (bad or too long a length) only; a record
// that decodes encodes to bytes that decode again and encode the same (the
// encoding of a decoded record is stable).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/zk/jute.h"
#include "server/zk/records.h"
#include "tests/fuzz/fuzz_input.h"

namespace synod::fuzz {
namespace {

constexpr std::initializer_list<absl::StatusCode> kJuteCodes = {
    absl::StatusCode::kOutOfRange, absl::StatusCode::kInvalidArgument};

// Decodes `in` as a Record (Decode(r, &record, args...)); if it decodes to
// the end, checks that its encoding is stable.
template <typename Record, typename... Args>
void Check(std::string_view in, const char* what, Args... args) {
  zk::JuteReader r(in);
  Record record;
  absl::Status s = zk::Decode(r, &record, args...);
  RequireTyped(s, kJuteCodes, what);
  if (!s.ok() || !r.ExpectEnd().ok()) return;
  zk::JuteWriter w;
  zk::Encode(w, record, args...);
  const std::string once = w.Take();
  zk::JuteReader again(once);
  Record decoded;
  Require(zk::Decode(again, &decoded, args...).ok() && again.ExpectEnd().ok(), what,
          "does not decode its own encoding");
  zk::JuteWriter w2;
  zk::Encode(w2, decoded, args...);
  Require(w2.Take() == once, what, "encoding is not stable");
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  const uint8_t which = in.U8() % 15;
  const std::string_view bytes = in.Rest();
  switch (which) {
    case 0: Check<zk::ConnectRequest>(bytes, "connect request"); break;
    case 1: Check<zk::RequestHeader>(bytes, "request header"); break;
    case 2: Check<zk::CreateRequest>(bytes, "create request", false); break;
    case 3: Check<zk::CreateRequest>(bytes, "create2 request with ttl", true); break;
    case 4: Check<zk::PathWatchRequest>(bytes, "path+watch request"); break;
    case 5: Check<zk::PathVersionRequest>(bytes, "path+version request"); break;
    case 6: Check<zk::SetDataRequest>(bytes, "setData request"); break;
    case 7: Check<zk::MultiHeader>(bytes, "multi header"); break;
    case 8: Check<zk::SetWatchesRequest>(bytes, "setWatches request", false); break;
    case 9: Check<zk::SetWatchesRequest>(bytes, "setWatches2 request", true); break;
    case 10: Check<zk::AddWatchRequest>(bytes, "addWatch request"); break;
    case 11: Check<zk::WatchesRequest>(bytes, "check/removeWatches request"); break;
    case 12: Check<zk::AuthPacket>(bytes, "auth packet"); break;
    case 13: Check<zk::SetAclRequest>(bytes, "setACL request"); break;
    case 14: Check<zk::MultiReadRequest>(bytes, "multiRead request"); break;
  }
  return 0;
}
