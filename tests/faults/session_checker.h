// The session workload's checker. Clients hold sessions (through the
// synod::Client library) and create ephemeral nodes /faults/eph/c<i>-<n>
// under them through faults, closing a session now and then; the library
// reports each session's state changes (kSession ops, value: the state's
// SessionStateName, CONNECTED, SUSPENDED, EXPIRED or CLOSED). At the end, after
// healing, each client's session is checked to be connected, the parent is
// listed on every replica, the sessions are checked again (a kSession op
// "held" spans the interval in which the session was connected throughout),
// then every client closes its session (kClose) and the parent is listed
// again.
//
// The checker promises to report:
//   - an acknowledged ephemeral of a session held across a listing that the
//     listing lacks (its session was never closed, nor expired by the
//     server: the client's heartbeats were acknowledged before and after);
//   - a listed node owned by a session whose close was acknowledged before
//     the listing began (its ephemerals must go with it, atomically);
//   - a listed child that is not ephemeral, that no client tried to create,
//     whose create failed, or owned by another session than its create's
//     reply named (create_checks.h).
// An unknown create may or may not appear; the ephemerals of a session the
// library reported expired, or whose close was not acknowledged, may or may
// not remain (the server expires it only after its timeout).
//
// Thread: pure functions.
#pragma once

#include <vector>

#include "tests/faults/create_checks.h"
#include "tests/faults/history.h"

namespace synod::faults {

CreateVerdict CheckSessions(const std::vector<Op>& ops);

}  // namespace synod::faults
