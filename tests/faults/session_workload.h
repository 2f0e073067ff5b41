// SessionWorkload: clients that hold sessions through the synod::Client
// library (SessionClients) and create ephemeral nodes
// /faults/eph/c<client>-<n> (data: the same tag) under them through faults;
// a client closes its session after a few ephemerals (or now and then), and
// its next create opens a new one. An acknowledged create records the
// owner its reply's stat names; any error is an unknown outcome (the
// library may have sent it more than once, with one session sequence).
//
// The end (ReadFinal, after healing): every client's session connected,
// the parent listed on every replica, the sessions that stayed connected
// throughout recorded as "held", every session closed, the parent listed
// again. CheckSessions (session_checker.h) checks the history.
//
// Thread: as ClientWorkload.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/faults/client_workload.h"
#include "tests/faults/session_clients.h"

namespace synod::faults {

class SessionWorkload : public ClientWorkload {
 public:
  struct Options : ClientOptions {
    // Above the longest fault (8 s), so the server expires no session
    // that a fault alone cut off (a new leader restarts every clock
    // anyway); the end's checks run well within it.
    absl::Duration session_timeout = absl::Seconds(10);
    int ephemerals_per_session = 6;
  };
  static constexpr char kParent[] = "/faults/eph";

  SessionWorkload(NetnsCluster* cluster, HistoryRecorder* history, const Options& options);
  ~SessionWorkload() override { Stop(); }

  absl::Status Setup(absl::Duration timeout);
  absl::Status ReadFinal(absl::Duration timeout);

 private:
  void RunClient(int client) override;

  const Options options_;
  std::unique_ptr<SessionClients> sessions_;
};

}  // namespace synod::faults
