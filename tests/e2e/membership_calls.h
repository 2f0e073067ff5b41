// Membership calls for end-to-end tests: Cluster.MemberAdd / MemberPromote /
// MemberRemove / TransferLeader against one member of a TestCluster, each
// returning the Synod code, plus the waits these tests share (digests
// agree, the leader among some members).
//
// Thread: any; each call uses only the member's thread-safe stub.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/wait.h"

namespace synod::e2e {

// The last lines of every member's log (ids 1 .. size + extra), for failure
// messages.
inline std::string Logs(TestCluster& c, int extra = 0) {
  std::string out;
  for (int id = 1; id <= c.size() + extra; ++id) out += c.LogTail(id, 2500) + "\n";
  return out;
}

// Adds member `id` with the given addresses, asking member `via`.
inline v1::ErrorCode AddAs(TestCluster& c, int via, int id, const std::string& peer_addr,
                           const std::string& client_addr) {
  v1::MemberAddRequest req;
  req.set_id(id);
  req.set_peer_addr(peer_addr);
  req.set_client_addr(client_addr);
  v1::MemberAddResponse resp;
  grpc::Status s = c.cluster(via)->MemberAdd(Ctx(absl::Seconds(10)).get(), req, &resp);
  return CodeOf(s, resp.header());
}

// Adds member `id` (a TestCluster slot) with its reserved addresses.
inline v1::ErrorCode Add(TestCluster& c, int via, int id) {
  return AddAs(c, via, id, c.peer_addr(id), c.client_addr(id));
}

inline v1::ErrorCode Promote(TestCluster& c, int via, int id) {
  v1::MemberPromoteRequest req;
  req.set_id(id);
  v1::MemberPromoteResponse resp;
  grpc::Status s = c.cluster(via)->MemberPromote(Ctx(absl::Seconds(10)).get(), req, &resp);
  return CodeOf(s, resp.header());
}

inline v1::ErrorCode Remove(TestCluster& c, int via, int id) {
  v1::MemberRemoveRequest req;
  req.set_id(id);
  v1::MemberRemoveResponse resp;
  grpc::Status s = c.cluster(via)->MemberRemove(Ctx(absl::Seconds(10)).get(), req, &resp);
  return CodeOf(s, resp.header());
}

inline v1::ErrorCode Transfer(TestCluster& c, int via, int id) {
  v1::TransferLeaderRequest req;
  req.set_id(id);
  v1::TransferLeaderResponse resp;
  grpc::Status s = c.cluster(via)->TransferLeader(Ctx().get(), req, &resp);
  return CodeOf(s, resp.header());
}

// Waits (up to 30 s) until every member in `among` reports the same applied
// index and digest; returns that digest, or 0 if they never agreed.
inline uint64_t Digest(TestCluster& c, const std::set<int>& among) {
  uint64_t digest = 0;
  testing::WaitUntil(
      [&] {
        std::set<std::pair<uint64_t, uint64_t>> seen;
        for (int id : among) {
          auto st = c.Status(id);
          if (!st.ok()) return false;
          seen.insert({st->applied_index(), st->digest()});
        }
        if (seen.size() != 1) return false;
        digest = seen.begin()->second;
        return true;
      },
      absl::Seconds(30), absl::Milliseconds(100));
  return digest;
}

// Runs `call(leader)` against the leader among `among`, again while the
// answer says to ask elsewhere or later (no leader yet, leadership moved,
// another change still under way), for at most `timeout`. Returns the last
// code.
inline v1::ErrorCode OnLeader(TestCluster& c, const std::set<int>& among,
                              const std::function<v1::ErrorCode(int leader)>& call,
                              absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  v1::ErrorCode code = v1::UNAVAILABLE;
  while (absl::Now() < deadline) {
    const int leader = c.WaitForLeader(absl::Seconds(5), among);
    if (leader != 0) {
      code = call(leader);
      if (code != v1::NOT_LEADER && code != v1::UNAVAILABLE &&
          code != v1::MEMBERSHIP_CHANGE_IN_PROGRESS) {
        return code;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return code;
}

// Voters and learners as member `id` reports them.
struct Membership {
  std::set<int> voters;
  std::set<int> learners;
};
inline Membership MembershipOf(TestCluster& c, int id) {
  Membership m;
  auto st = c.Status(id);
  if (!st.ok()) return m;
  for (const auto& ms : st->members()) {
    (ms.member().learner() ? m.learners : m.voters).insert(static_cast<int>(ms.member().id()));
  }
  return m;
}

}  // namespace synod::e2e
