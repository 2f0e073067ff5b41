#include "tests/faults/session_checker.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace synod::faults {

CreateVerdict CheckSessions(const std::vector<Op>& ops) {
  CreateVerdict v;
  const std::map<std::string, const Op*> creates = CreatesByTag(ops);
  const std::vector<const Op*> listings = Listings(ops);
  std::map<uint64_t, std::vector<const Op*>> acked_by_session;
  std::set<uint64_t> sessions;
  int64_t ok = 0, failed = 0, unknown = 0, closes_ok = 0, closes_unknown = 0, expired = 0,
          held = 0;
  for (const Op& op : ops) {
    if (op.type == OpType::kCreate) {
      (op.outcome == Outcome::kOk ? ok : op.outcome == Outcome::kFail ? failed : unknown) += 1;
      if (op.outcome == Outcome::kOk) acked_by_session[op.session].push_back(&op);
    }
    if (op.session != 0) sessions.insert(op.session);
    if (op.type == OpType::kClose) (op.outcome == Outcome::kOk ? closes_ok : closes_unknown) += 1;
    if (op.type == OpType::kSession && op.value == "EXPIRED") ++expired;
    if (op.type == OpType::kSession && op.value == "held") ++held;
  }

  for (const Op* listing : listings) {
    CheckListedChildren(creates, *listing, &v.violations);
    for (const ListedChild& c : listing->children) {
      if (c.owner == 0) {
        v.violations.push_back(absl::StrCat("listing #", listing->id, ": ", listing->key, "/",
                                            c.name, " is not ephemeral"));
      }
    }
    for (const Op& op : ops) {
      if (op.type == OpType::kClose && op.outcome == Outcome::kOk &&
          op.complete_ns < listing->invoke_ns) {
        // Closed before the listing began: nothing of it may remain.
        for (const ListedChild& c : listing->children) {
          if (c.owner != op.session) continue;
          v.violations.push_back(absl::StrCat("listing #", listing->id, ": ", listing->key, "/",
                                              c.name, " outlived its session's close: ",
                                              Describe(op)));
        }
      }
      if (op.type == OpType::kSession && op.value == "held" &&
          op.invoke_ns <= listing->invoke_ns && listing->complete_ns <= op.complete_ns) {
        // Held throughout the listing: every acknowledged ephemeral of it
        // (acknowledged before the listing began) must be there.
        std::vector<const Op*> due;
        for (const Op* create : acked_by_session[op.session]) {
          if (create->complete_ns < listing->invoke_ns) due.push_back(create);
        }
        CheckCreatesListed(due, *listing, &v.violations);
      }
    }
  }
  v.summary = absl::StrCat(ok + failed + unknown, " ephemeral creates (", ok, " ok, ", failed,
                           " fail, ", unknown, " unknown) in ", sessions.size(), " sessions; ",
                           closes_ok, " closes acknowledged, ", closes_unknown, " not; ", expired,
                           " expiries reported; ", held, " sessions held at the end; ",
                           listings.size(), " final listings");
  return v;
}

}  // namespace synod::faults
