// PeriodicDuties: a replica's timed work, on one thread: session expiry and
// the TTL and container sweep, history compaction and digest checks on the
// leader; heartbeat forwarding on a follower; settings checks on every
// replica. Each duty is described below.
//
// On the leader it proposes ExpireSessionsCommand for sessions whose
// deadline passed (SessionTracker), and DeleteExpiredCommand for TTL nodes
// and empty containers due by its clock (TreeStore::FindExpired; apply
// checks each again against the command's leader time). When this replica
// becomes leader it restarts every session's clock (a new leader cannot know
// when the old one last heard from each client); when it loses leadership
// the tracker stops expiring.
//
// Also on the leader, once per TTL sweep, when `history_retention` is set
// and the applied revision ran that far (plus a step) past the compaction
// revision, it proposes a CompactHistoryCommand at applied - retention:
// watch events and node versions older than that go, and a watch or read
// from below it fails with COMPACTED. Without it the event log only grows.
// The step (an eighth of the retention, at least 2) keeps an idle leader
// from proposing one compaction per sweep for its own previous one.
//
// Also on the leader, every `digest_check` it proposes a DigestCheckCommand
// with its applied revision and tree digest; a replica whose digest at that
// revision differs stops (StateMachine), rather than serve a diverged state.
//
// On a follower it forwards the heartbeats its clients sent (batched by
// HeartbeatBatcher) to the leader in one Peer.KeepAliveBatch per interval,
// a quarter of the shortest session timeout the cluster settings allow.
//
// With a SettingsSeed, on every replica it reports flags that differ from
// the recorded cluster settings, and on the leader it proposes the seed's
// bootstrap settings while the state records none (settings_seed.h).
//
// Thread: owns one thread, woken every `tick`; Start/Stop from the owner.
#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/peer_transport.h"
#include "server/raft_driver.h"
#include "server/replica_state.h"
#include "server/session/session_tracker.h"
#include "server/settings_seed.h"
#include "storage/tree_store.h"

namespace synod::server {

class PeriodicDuties {
 public:
  struct Options {
    absl::Duration tick = absl::Milliseconds(100);
    absl::Duration ttl_sweep = absl::Seconds(1);
    absl::Duration digest_check = absl::Seconds(10);  // zero: never
    size_t max_expired_per_command = 1000;
    // Revisions of watch events and node history kept; 0: all, forever.
    uint64_t history_retention = 0;
  };

  // Not owned; all outlive this object.
  PeriodicDuties(const Options& options, ReplicaState* state, RaftDriver* driver,
                storage::TreeStore* store, PeerTransport* transport, SessionTracker* tracker,
                HeartbeatBatcher* batcher)
      : options_(options),
        state_(state),
        driver_(driver),
        store_(store),
        transport_(transport),
        tracker_(tracker),
        batcher_(batcher) {}
  ~PeriodicDuties();

  // Before Start; not owned, outlives this object.
  void set_settings_seed(SettingsSeed* seed) { settings_seed_ = seed; }

  void Start();
  void Stop();

 private:
  void Loop();
  void LeaderWork(absl::Time now);
  void FollowerWork(absl::Time now);
  void MaybeCompactHistory();
  void SettingsWork(bool leader, absl::Time now);

  const Options options_;
  ReplicaState* const state_;
  RaftDriver* const driver_;
  storage::TreeStore* const store_;
  PeerTransport* const transport_;
  SessionTracker* const tracker_;
  HeartbeatBatcher* const batcher_;
  SettingsSeed* settings_seed_ = nullptr;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  // Its own thread only.
  bool was_leader_ = false;
  absl::Time next_sweep_ = absl::InfinitePast();
  absl::Time next_digest_check_ = absl::InfinitePast();
  uint64_t last_digest_check_ = 0;
  int64_t heartbeat_for_timeout_ms_ = 0;  // the shortest timeout the interval is set for
};

}  // namespace synod::server
