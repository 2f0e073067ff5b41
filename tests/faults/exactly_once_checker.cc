#include "tests/faults/exactly_once_checker.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace synod::faults {
namespace {

struct Counter {
  std::vector<const Op*> acked;
  int64_t unknown = 0;
  int64_t attempted = 0;
};

}  // namespace

CreateVerdict CheckExactlyOnce(const std::vector<Op>& ops) {
  CreateVerdict v;
  std::map<std::string, Counter> counters;
  int64_t ok = 0, failed = 0, unknown = 0, sends = 0, ok_after_retry = 0;
  for (const Op& op : ops) {
    if (op.type != OpType::kCreate) continue;
    Counter& c = counters[ParentOf(op.key)];
    ++c.attempted;
    sends += op.attempts;
    if (op.outcome == Outcome::kOk) {
      c.acked.push_back(&op);
      ++ok;
      if (op.attempts > 1) ++ok_after_retry;
    } else if (op.outcome == Outcome::kUnknown) {
      ++c.unknown;
      ++unknown;
    } else {
      ++failed;
    }
  }
  const std::map<std::string, const Op*> creates = CreatesByTag(ops);
  const std::vector<const Op*> listings = Listings(ops);
  for (const Op* listing : listings) {
    CheckListedChildren(creates, *listing, &v.violations);
    const Counter& c = counters[listing->key];
    CheckCreatesListed(c.acked, *listing, &v.violations);
    const int64_t count = static_cast<int64_t>(listing->children.size());
    const int64_t acked = static_cast<int64_t>(c.acked.size());
    if (count < acked || count > acked + c.unknown || count > c.attempted) {
      v.violations.push_back(absl::StrCat(
          "listing #", listing->id, ": counter ", listing->key, " is ", count, ", outside [",
          acked, " acknowledged, ", acked + c.unknown, " acknowledged + unknown] (",
          c.attempted, " attempted)"));
    }
  }
  v.summary = absl::StrCat(ok + failed + unknown, " increments on ", counters.size(),
                           " counters (", ok, " ok, ", failed, " fail, ", unknown, " unknown), ",
                           sends, " sends, ", ok_after_retry, " acknowledged after a retry; ",
                           listings.size(), " final listings");
  return v;
}

}  // namespace synod::faults
