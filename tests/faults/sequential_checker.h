// The sequential-create workload's checker. Clients create
// PERSISTENT_SEQUENTIAL children "n-" under one parent through faults, each
// with a tag unique in the run as its data; after healing, the parent is
// listed on every replica (kList ops). The checker promises to report:
//   - an acknowledged create whose path is missing from a final listing, or
//     holds another tag;
//   - two acknowledged creates given the same name;
//   - two acknowledged creates A, B where A's reply came before B was sent
//     but A's sequence number is not below B's (sequence numbers follow the
//     real-time order of the writes, as they follow the parent's cversion);
//   - a listed child that no client tried to create there, whose create
//     failed, or whose tag is on two children (see create_checks.h).
// An unknown create may or may not appear.
//
// Thread: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/faults/create_checks.h"
#include "tests/faults/history.h"

namespace synod::faults {

// The 10-digit suffix of a sequential node's path, or -1.
int64_t SequenceOf(const std::string& path);

CreateVerdict CheckSequential(const std::vector<Op>& ops);

}  // namespace synod::faults
