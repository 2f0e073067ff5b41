// Verdicts: each workload's checks run over a recorded history, printed
// for verdict.txt, with synod-faults' exit code for the result.
//
// Thread: pure functions (they write to the stream they are given).
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "tests/faults/bank_checker.h"
#include "tests/faults/history.h"
#include "tests/faults/register_checker.h"

namespace synod::faults {

// synod-faults' exit codes (documented in its --help).
inline constexpr int kPass = 0;
inline constexpr int kAnomaly = 1;
inline constexpr int kError = 2;
inline constexpr int kInconclusive = 3;
inline constexpr int kSkip = 77;  // not root, or no `ip`: ctest's SKIP_RETURN_CODE
inline constexpr int kInterrupted = 130;

// The register workload: linearizability per key, and (if given the final
// state) that acknowledged writes survive.
int CheckAndReport(const std::vector<Op>& ops,
                   const std::map<std::string, FinalKeyState>* final_state, std::ostream& out);
// The bank workload (with the final state if given).
int CheckBankAndReport(const BankHistory& h, const BankFinal* final_state, std::ostream& out);

// The create-based workloads: "sequential", "session" or "exactly-once".
// Their final listings are in the history, so a recorded history is
// checked as fully as a live run's.
bool IsCreateWorkload(const std::string& workload);
int CheckCreatesAndReport(const std::string& workload, const std::vector<Op>& ops,
                          std::ostream& out);

}  // namespace synod::faults
