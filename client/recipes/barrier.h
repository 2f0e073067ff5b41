// Barriers.
//
// Barrier: a node whose existence holds processes back. Set() creates it,
// Remove() deletes it, Wait() blocks until it is gone.
//
// DoubleBarrier: `count` processes Enter() together and Leave() together.
// Each holds an ephemeral child named after itself; Enter returns once
// `count` children exist (the first to see that creates a "ready" node that
// every waiter watches), Leave returns once no participant is left (the last
// one out deletes "ready"). A participant that dies leaves with its session.
//
// Thread-safety: methods block the calling thread; one thread at a time per
// object.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "synod/client.h"

namespace synod::recipes {

class Barrier {
 public:
  Barrier(Client* client, std::string path);
  // Creates the barrier node (and its parents). OK if it exists.
  absl::Status Set(const CallOptions& call = {});
  // Deletes it. OK if absent.
  absl::Status Remove(const CallOptions& call = {});
  // Blocks until the barrier node does not exist. DEADLINE_EXCEEDED if it
  // still does at `deadline`.
  absl::Status Wait(absl::Time deadline = absl::InfiniteFuture());

 private:
  Client* const client_;
  const std::string path_;
};

class DoubleBarrier {
 public:
  // `name` identifies this participant (unique among them).
  DoubleBarrier(Client* client, std::string path, std::string name, int count);
  // Joins and blocks until `count` participants have joined.
  absl::Status Enter(absl::Time deadline = absl::InfiniteFuture());
  // Leaves and blocks until every participant has left.
  absl::Status Leave(absl::Time deadline = absl::InfiniteFuture());

 private:
  // The children at one revision: participants (other than "ready") and
  // whether "ready" is among them.
  struct Listing {
    int participants = 0;
    bool ready = false;
    uint64_t revision = 0;
  };
  absl::StatusOr<Listing> List(absl::Time deadline);

  Client* const client_;
  const std::string path_;
  const std::string name_;
  const int count_;
};

// Blocks until `path` satisfies `done(exists)`, watching it from the read's
// revision so no change between the read and the watch is missed. Shared
// by the recipes that wait on one node.
absl::Status WaitForNode(Client& client, const std::string& path,
                         const std::function<bool(bool exists)>& done, absl::Time deadline);

// Blocks until `path`'s children change after `revision` (or its deletion),
// or the deadline passes (DEADLINE_EXCEEDED).
absl::Status WaitForChildrenChange(Client& client, const std::string& path, uint64_t revision,
                                   absl::Time deadline);

}  // namespace synod::recipes
