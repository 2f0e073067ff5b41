#include "tests/faults/verdicts.h"

#include <algorithm>

#include "tests/faults/exactly_once_checker.h"
#include "tests/faults/sequential_checker.h"
#include "tests/faults/session_checker.h"

namespace synod::faults {

// Checks `ops` (and, if given, the final state); prints and returns the
// verdict's exit code.
int CheckAndReport(const std::vector<Op>& ops, const std::map<std::string, FinalKeyState>* final_state,
                   std::ostream& out) {
  int code = kPass;
  size_t ok = 0, failed = 0, unknown = 0;
  for (const Op& op : ops) {
    (op.outcome == Outcome::kOk ? ok : op.outcome == Outcome::kFail ? failed : unknown) += 1;
  }
  out << "history: " << ops.size() << " operations (" << ok << " ok, " << failed << " fail, "
      << unknown << " unknown)\n";
  for (const KeyVerdict& v : CheckRegisters(ops, CheckOptions())) {
    out << "linearizability " << v.key << ": "
        << (v.result == KeyVerdict::kLinearizable      ? "ok"
            : v.result == KeyVerdict::kNotLinearizable ? "VIOLATION"
                                                       : "INCONCLUSIVE")
        << " (" << v.ops << " ops, " << v.steps << " search steps)\n";
    if (!v.report.empty()) out << v.report << "\n";
    if (v.result == KeyVerdict::kNotLinearizable) code = kAnomaly;
    if (v.result == KeyVerdict::kBudgetExceeded && code == kPass) code = kInconclusive;
  }
  if (final_state != nullptr) {
    int64_t unchecked = 0;
    std::vector<std::string> lost = CheckAcknowledgedWritesSurvive(ops, *final_state, &unchecked);
    out << "acknowledged writes survive: " << (lost.empty() ? "ok" : "VIOLATION") << " ("
        << unchecked << " versions no longer kept, not checked)\n";
    for (const std::string& line : lost) out << "  " << line << "\n";
    if (!lost.empty()) code = kAnomaly;
  }
  return code;
}

// Checks a bank history (and, if given, the final state); prints and
// returns the verdict's exit code.
int CheckBankAndReport(const BankHistory& h, const BankFinal* final_state, std::ostream& out) {
  size_t ok = 0, failed = 0, unknown = 0;
  for (const BankTransfer& t : h.transfers) {
    (t.outcome == Outcome::kOk ? ok : t.outcome == Outcome::kFail ? failed : unknown) += 1;
  }
  out << "history: " << h.accounts << " accounts, total " << h.total << "; " << h.transfers.size()
      << " transfers (" << ok << " ok, " << failed << " fail, " << unknown << " unknown), "
      << h.snapshots.size() << " snapshots\n";
  const BankVerdict v = CheckBank(h, final_state);
  out << "bank: " << (v.violations.empty() ? "ok" : "VIOLATION") << " (" << v.snapshots_checked
      << " snapshots checked";
  if (final_state != nullptr) {
    out << ", " << v.transfers_checked << " acknowledged transfers found in the final state, "
        << v.versions_unchecked << " versions no longer kept";
  }
  out << ")\n";
  const size_t shown = std::min<size_t>(v.violations.size(), 20);
  for (size_t i = 0; i < shown; ++i) out << "  " << v.violations[i] << "\n";
  if (shown < v.violations.size()) out << "  ... " << v.violations.size() - shown << " more\n";
  return v.violations.empty() ? kPass : kAnomaly;
}

bool IsCreateWorkload(const std::string& workload) {
  return workload == "sequential" || workload == "session" || workload == "exactly-once";
}

int CheckCreatesAndReport(const std::string& workload, const std::vector<Op>& ops,
                          std::ostream& out) {
  const CreateVerdict v = workload == "sequential" ? CheckSequential(ops)
                          : workload == "session"  ? CheckSessions(ops)
                                                   : CheckExactlyOnce(ops);
  out << "history: " << v.summary << "\n";
  out << workload << ": " << (v.violations.empty() ? "ok" : "VIOLATION") << "\n";
  const size_t shown = std::min<size_t>(v.violations.size(), 20);
  for (size_t i = 0; i < shown; ++i) out << "  " << v.violations[i] << "\n";
  if (shown < v.violations.size()) out << "  ... " << v.violations.size() - shown << " more\n";
  return v.violations.empty() ? kPass : kAnomaly;
}

}  // namespace synod::faults
