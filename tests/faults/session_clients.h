// SessionClients: one synod::Client (the project's client library) per
// workload client, each holding at most one session, with every session
// state change the library reports recorded as a kSession op (value: its
// SessionStateName, e.g. "EXPIRED").
//
// Thread: Connect and Hold from the owner thread; client(i) is used by
// workload client i's thread; the listeners run on each library's callback
// thread and only add to the history.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "synod/client.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

class SessionClients {
 public:
  // `session_timeout`: asked of the server (it clamps it).
  static absl::StatusOr<std::unique_ptr<SessionClients>> Connect(NetnsCluster* cluster,
                                                                 HistoryRecorder* history,
                                                                 int clients,
                                                                 absl::Duration session_timeout);
  Client* client(int i) { return clients_.at(i).get(); }
  int size() const { return static_cast<int>(clients_.size()); }

  // Every client's session connected (one opened where there is none), or
  // DEADLINE_EXCEEDED naming the client that was not by `timeout`. Returns
  // when each connected, the session ids.
  absl::StatusOr<std::vector<uint64_t>> AllConnected(absl::Duration timeout);
  // Records a kSession "held" op from `since` to now for each client whose
  // session is still `ids[i]` and connected.
  void RecordHeld(const std::vector<uint64_t>& ids, int64_t since_ns);
  // Closes every client's session, recorded as kClose ops.
  void CloseAll(absl::Duration timeout);
  // Closes client i's session (none: nothing recorded); false if not
  // acknowledged.
  bool Close(int i, absl::Duration timeout);

 private:
  explicit SessionClients(HistoryRecorder* history) : history_(history) {}

  HistoryRecorder* const history_;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace synod::faults
