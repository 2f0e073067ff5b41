// The exactly-once workload's checker. Each counter is a node
// /faults/eo/k<i>; an increment creates a PERSISTENT_SEQUENTIAL child
// "n-" under it with a tag unique in the run as data, carrying the client's
// session and a sequence number (WriteContext), and is retried with the
// same (session, sequence) after any unknown outcome, on the next replica,
// until Synod answers it. A retry must apply at most once (the replicated
// session table answers a repeat from its stored result), so a counter's
// value is its number of children. At the end every counter is listed on
// every replica.
//
// The checker promises to report, per counter and listing:
//   - a count below the acknowledged increments, above the acknowledged
//     plus the unknown ones, or above the increments attempted;
//   - a tag on two children (an increment applied twice), an acknowledged
//     increment missing or at another path than its reply named, a child
//     no increment made or whose increment failed (create_checks.h).
//
// Thread: pure functions.
#pragma once

#include <vector>

#include "tests/faults/create_checks.h"
#include "tests/faults/history.h"

namespace synod::faults {

CreateVerdict CheckExactlyOnce(const std::vector<Op>& ops);

}  // namespace synod::faults
