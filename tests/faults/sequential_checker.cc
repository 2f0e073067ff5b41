#include "tests/faults/sequential_checker.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace synod::faults {

int64_t SequenceOf(const std::string& path) {
  constexpr size_t kDigits = 10;
  if (path.size() < kDigits) return -1;
  const std::string suffix = path.substr(path.size() - kDigits);
  int64_t seq = -1;
  for (char ch : suffix) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(ch))) return -1;
  }
  if (!absl::SimpleAtoi(suffix, &seq)) return -1;
  return seq;
}

CreateVerdict CheckSequential(const std::vector<Op>& ops) {
  CreateVerdict v;
  std::vector<const Op*> acked;
  int64_t failed = 0, unknown = 0;
  for (const Op& op : ops) {
    if (op.type != OpType::kCreate) continue;
    if (op.outcome == Outcome::kOk) {
      acked.push_back(&op);
    } else {
      (op.outcome == Outcome::kFail ? failed : unknown) += 1;
    }
  }

  std::map<std::string, const Op*> by_name;
  for (const Op* op : acked) {
    if (SequenceOf(op->read_value) < 0) {
      v.violations.push_back(absl::StrCat("acknowledged create got no sequence number: ",
                                          Describe(*op)));
      continue;
    }
    auto [it, fresh] = by_name.emplace(op->read_value, op);
    if (!fresh) {
      v.violations.push_back(absl::StrCat("two acknowledged creates named ", op->read_value, ": ",
                                          Describe(*it->second), " and ", Describe(*op)));
    }
  }

  // Real-time order: sweep the creates by invocation, keeping the highest
  // sequence among those acknowledged before the current one was sent.
  std::vector<const Op*> by_invoke = acked, by_complete = acked;
  std::sort(by_invoke.begin(), by_invoke.end(),
            [](const Op* a, const Op* b) { return a->invoke_ns < b->invoke_ns; });
  std::sort(by_complete.begin(), by_complete.end(),
            [](const Op* a, const Op* b) { return a->complete_ns < b->complete_ns; });
  const Op* highest = nullptr;
  size_t done = 0;
  int64_t order_violations = 0;
  for (const Op* b : by_invoke) {
    while (done < by_complete.size() && by_complete[done]->complete_ns < b->invoke_ns) {
      const Op* a = by_complete[done++];
      if (highest == nullptr || SequenceOf(a->read_value) > SequenceOf(highest->read_value)) {
        highest = a;
      }
    }
    if (highest != nullptr && SequenceOf(highest->read_value) >= SequenceOf(b->read_value)) {
      ++order_violations;
      if (order_violations <= 20) {
        v.violations.push_back(absl::StrCat(
            "sequence out of real-time order: ", Describe(*highest),
            " was acknowledged before ", Describe(*b), " was sent, with a sequence number not below it"));
      }
    }
  }
  if (order_violations > 20) {
    v.violations.push_back(absl::StrCat("... ", order_violations - 20, " more out-of-order creates"));
  }

  const std::map<std::string, const Op*> creates = CreatesByTag(ops);
  const std::vector<const Op*> listings = Listings(ops);
  for (const Op* listing : listings) {
    CheckListedChildren(creates, *listing, &v.violations);
    CheckCreatesListed(acked, *listing, &v.violations);
  }
  v.summary = absl::StrCat(acked.size() + failed + unknown, " creates (", acked.size(), " ok, ",
                           failed, " fail, ", unknown, " unknown), ", listings.size(),
                           " final listings of ",
                           listings.empty() ? 0 : listings.front()->children.size(), " children");
  if (listings.empty()) v.summary += " (none: acknowledged creates not checked for presence)";
  return v;
}

}  // namespace synod::faults
