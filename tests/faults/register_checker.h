// Linearizability checker for register histories (one register per key),
// and the end-of-run check that every acknowledged write survived.
//
// The model is a Synod node used as a register: its state is (version,
// value). A write sets the value and adds one to the version; a CAS (a set
// with expected_version) does so only if the version matches, and a CAS
// answered BAD_VERSION proves the version differed at the point it took
// effect; a read returns the state. A write whose reply carries the new
// version must land on exactly that version.
//
// The search is Wing & Gong's, with Lowe's memoisation (the set of
// operations already linearized plus the model state, as Porcupine and
// Knossos do): walk the history in real-time order, try each pending call
// as the next linearization point, backtrack when a completion is reached
// whose operation has not been linearized. Operations of unknown outcome
// may take effect at any time after their invocation, or never; failed
// writes never take effect. Keys are independent (P-compositionality) and
// are checked one at a time.
//
// Thread: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/faults/history.h"

namespace synod::faults {

struct CheckOptions {
  // The register before the history: the node as the workload created it.
  std::string initial_value = "init";
  int64_t initial_version = 0;
  // Search steps per key before giving up with kBudgetExceeded (which is
  // not a pass).
  int64_t max_steps = 20'000'000;
};

struct KeyVerdict {
  enum Result { kLinearizable, kNotLinearizable, kBudgetExceeded };
  std::string key;
  Result result = kLinearizable;
  size_t ops = 0;        // operations that constrain the search
  int64_t steps = 0;     // search steps taken
  std::string report;    // why not, in words, with the history excerpt
};

// Checks the operations of one key.
KeyVerdict CheckRegister(const std::string& key, const std::vector<Op>& ops,
                         const CheckOptions& options);
// Splits `ops` by key and checks each; ordered by key.
std::vector<KeyVerdict> CheckRegisters(const std::vector<Op>& ops, const CheckOptions& options);

// What the cluster holds for one key at the end of a run, read after every
// fault was healed: the current version and the value at each version that
// versioned reads could still return.
struct FinalKeyState {
  int64_t version = -1;
  std::map<int64_t, std::string> values;  // version -> data
};

// Every acknowledged write or CAS (outcome ok, version V) must still be
// there: the final version is at least V and the node's data at version V is
// the value written. Returns one line per violation; empty if none. A
// version no longer kept (history ring) is reported by `unchecked`.
std::vector<std::string> CheckAcknowledgedWritesSurvive(
    const std::vector<Op>& ops, const std::map<std::string, FinalKeyState>& final_state,
    int64_t* unchecked);

}  // namespace synod::faults
