// Line: the pattern under leader election, locks and the read-write lock. A
// participant takes a ticket (an ephemeral-sequential node under a directory)
// and waits until no ticket it must yield to remains, watching only the one
// ticket right before it that blocks it (no herd effect: a deletion wakes
// one waiter). Tickets are ordered by their sequence suffix, which follows
// creation order, so the node's czxid grows along the line too (fencing).
//
// Thread-safety: functions are reentrant; each call uses the client's
// thread-safe API and blocks the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "synod/client.h"

namespace synod::recipes {

struct Ticket {
  std::string path;    // full path of the ticket node
  std::string name;    // its name under the directory
  uint64_t czxid = 0;  // creation revision: the fencing token
};

// The sequence number of a sequential node name (its last 10 digits), or
// nullopt if the name does not end with one.
std::optional<uint64_t> SequenceOf(absl::string_view name);

// Names sorted by sequence number; names without one are dropped.
std::vector<std::string> SortBySequence(std::vector<std::string> names);

// Creates `path` with `mode` (and missing parents, the same way) if it does
// not exist. OK if it exists.
absl::Status EnsureNode(Client& client, const std::string& path, CreateMode mode,
                        absl::Time deadline);
// EnsureNode with container nodes, which the server removes once their last
// child goes (lock and election directories do not pile up).
absl::Status EnsureContainer(Client& client, const std::string& path, absl::Time deadline);

// Creates an ephemeral-sequential node `dir/prefix<seq>` holding `data`,
// creating `dir` (and its parents) as containers when needed.
absl::StatusOr<Ticket> TakeTicket(Client& client, const std::string& dir, const std::string& prefix,
                                  const std::string& data, absl::Time deadline);

// Given the sorted line and the index of our ticket in it, the name of the
// ticket we must wait for, or nullopt if it is our turn.
using Blocker =
    std::function<std::optional<std::string>(const std::vector<std::string>& line, size_t mine)>;

// The usual blocker: the ticket right before ours (exclusive line).
std::optional<std::string> PredecessorBlocks(const std::vector<std::string>& line, size_t mine);

// Waits for our turn. Returns OK when it is; SESSION_EXPIRED if our ticket
// vanished (the session ended); DEADLINE_EXCEEDED at the deadline; CANCELLED
// soon after `stop` is notified (it is looked at every 50 ms). With `wait`
// false, returns FAILED_PRECONDITION at once when it is not our turn.
absl::Status WaitForTurn(Client& client, const std::string& dir, const Ticket& ticket,
                         const Blocker& blocker, absl::Time deadline, bool wait = true,
                         const absl::Notification* stop = nullptr);

}  // namespace synod::recipes
