// RaftDriver: the raft thread. It alone owns the RawNode and drives it:
// ticks, steps peer messages, proposes commands, asks for read indexes, and
// carries out every Ready in the order raft/ready.h prescribes:
//   1. send `messages` (the leader sends before its own write, §10.2.1);
//   2. persist snapshot + entries + hard state in ONE LogStore write, synced
//      when the Ready asks (group commit: every proposal that arrived since
//      the last Ready shares the fsync);
//   3. send `persisted_messages` (votes and acks promise durability);
//   4. apply membership changes, hand committed entries (and an installed
//      snapshot) to the apply thread, route read states;
//   5. Advance.
//
// Inputs arrive through a bounded inbox from any thread: peer messages and
// reports (RaftMailbox), proposals, read-index requests, status queries,
// snapshot completions. A full inbox drops peer messages (Raft resends) and
// refuses proposals (UNAVAILABLE: the client retries). Raft links handed
// over by the peer listener (AdoptLink) are read by the raft thread itself
// (LinkPoller): it sleeps in epoll on the links and an eventfd the inbox
// signals. A peer message the core refuses is counted
// (synod_peer_refused_total{what=raft_message}).
//
// The driver's parts, each on the raft thread: Proposals (stamps, proposal
// terms, answering writes an election decided), ReadIndexBatcher (§6.4
// rounds), Membership (history, checked changes, leadership transfer),
// LogCompaction (when to snapshot and compact), LinkPoller (the wait).
//
// Apply back-pressure: when the apply queue is full the driver pauses the
// core's committed entries (RawNode::PauseCommittedEntries) instead of
// blocking; ticks, heartbeats and appends go on, so a slow state machine
// never costs the leader its leadership. The apply thread wakes the raft
// thread when the queue has room again.
//
// Restart: the core starts from the LogStore's snapshot S (Config.applied =
// S, membership as of S); entries after S are handed out again, their
// membership changes re-applied to the core, and the apply thread skips the
// ones the state already holds.
//
// Thread: Start/Stop by the owner; the public enqueue methods from any
// thread; everything else on the raft thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "raft/raw_node.h"
#include "raft/types.h"
#include "server/fault_injection.h"
#include "server/link_poller.h"
#include "server/log_compaction.h"
#include "server/membership.h"
#include "server/metrics/server_metrics.h"
#include "server/peer_transport.h"
#include "server/proposals.h"
#include "server/raft_mailbox.h"
#include "server/read_index_batcher.h"
#include "server/replica_state.h"
#include "server/request_tracker.h"
#include "server/snapshotter.h"
#include "server/state_machine.h"
#include "storage/log_store.h"
#include "storage/snapshot_files.h"
#include "storage/tree_store.h"
#include "synod/v1/cluster.pb.h"
#include "synod/v1/command.pb.h"

namespace synod::server {

// What Cluster.Status needs from the raft thread.
struct DriverStatus {
  raft::Status raft;
  raft::LogIndex snapshot_index = 0;
  raft::LogIndex log_first_index = 0;
  std::vector<v1::Member> members;
  std::map<raft::NodeId, bool> reachable;
};

class RaftDriver final : public RaftMailbox {
 public:
  struct Options {
    raft::NodeId self = raft::kNoNode;
    uint64_t cluster_id = 0;
    absl::Duration tick = absl::Milliseconds(100);  // = heartbeat interval
    int election_ticks = 10;
    uint64_t snapshot_threshold = 100000;  // applied entries between snapshots
    size_t max_inbox_messages = 65536;
    size_t max_inbox_proposals = 65536;
    // Linearizable reads waiting on this driver (in its inbox, queued for a
    // round, or in a round); beyond it a read is refused at once.
    size_t max_queued_reads = 65536;
    uint64_t max_size_per_msg = 1u << 20;
    // Largest frame an adopted Raft link may carry.
    size_t max_link_frame_bytes = 64u << 20;
    int max_inflight_msgs = 256;
    uint64_t max_uncommitted_bytes = 256u << 20;
    // A learner is promoted only if its log is at most this many entries
    // behind the leader's.
    uint64_t max_learner_lag = 1000;
    uint64_t seed = 0;
    // Peers to talk to while the log holds no membership yet (a member that
    // joins with an empty log).
    std::map<raft::NodeId, std::string> seed_peers;
  };

  // Not owned; all outlive the driver.
  RaftDriver(const Options& options, storage::LogStore* log, storage::TreeStore* store,
             PeerTransport* transport, StateMachine* state_machine, RequestTracker* tracker,
             ReplicaState* state, const storage::SnapshotFiles* snapshots, FaultInjection* faults);
  ~RaftDriver() override;
  RaftDriver(const RaftDriver&) = delete;
  RaftDriver& operator=(const RaftDriver&) = delete;

  // Creates the core from the LogStore (which must be bootstrapped) and
  // starts the raft and snapshot threads. Errors: from RawNode::Create, a
  // malformed snapshot descriptor, or eventfd/epoll (Internal).
  absl::Status Start();
  // Stops the snapshot and raft threads. Requests still waiting on the core
  // are left to the tracker (its Stop completes them).
  void Stop();

  // Counters and latencies this driver updates; null: none. Set before
  // Start; `metrics` outlives the driver.
  void set_metrics(metrics::ServerMetrics* metrics) { metrics_ = metrics; }

  // Any thread. Proposes `command`; its origin_request is the tracker id to
  // complete if the proposal is refused. Stamps origin_member and the time.
  void Propose(v1::Command command);
  // Any thread. Completes tracker request `request_id` with OK once this
  // replica has applied up to a linearizable read index (§6.4), with
  // UNAVAILABLE when there is no leader, or with RESOURCE_EXHAUSTED at once
  // when max_queued_reads reads already wait.
  void ReadIndex(uint64_t request_id);
  // Any thread. Carries out a membership change or leadership transfer on
  // the leader and completes `request.request_id`: OK once the change is
  // committed and applied here (transfer: once the transferee leads), else
  // NOT_LEADER, MEMBER_EXISTS, MEMBER_NOT_FOUND, LEARNER_NOT_READY,
  // UNSAFE_MEMBERSHIP_CHANGE, MEMBERSHIP_CHANGE_IN_PROGRESS,
  // INVALID_ARGUMENT (see Membership).
  void RequestMembership(MembershipRequest request);
  // Any thread. Runs `done` on the raft thread with the current status.
  void QueryStatus(std::function<void(const DriverStatus&)> done);

  // Any thread. Takes over the Raft link socket `fd` (its hello accepted,
  // non-blocking) from member `from`: the raft thread reads its frames and
  // closes it when it ends or at Stop.
  void AdoptLink(int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls);

  // RaftMailbox.
  void DeliverMessages(std::vector<raft::Message> messages) override;
  void ReportUnreachable(raft::NodeId peer) override;
  void ReportSnapshot(raft::NodeId peer, bool ok) override;

 private:
  struct Inbox {
    std::vector<raft::Message> messages;
    std::vector<v1::Command> proposals;
    std::vector<uint64_t> reads;
    std::vector<std::function<void(const DriverStatus&)>> status_queries;
    std::vector<raft::NodeId> unreachable;
    std::vector<std::pair<raft::NodeId, bool>> snapshot_reports;
    std::vector<std::pair<uint64_t, bool>> snapshots_created;
    std::vector<MembershipRequest> membership;
    struct AdoptedLink {
      int fd = -1;
      raft::NodeId from = raft::kNoNode;
      std::unique_ptr<LinkTlsSession> tls;  // null: plaintext
    };
    std::vector<AdoptedLink> links;
    // The apply queue has room again (see PauseCommittedEntries).
    bool apply_room = false;
    bool empty() const { return reads.empty() && EmptyBesidesReads(); }
    bool EmptyBesidesReads() const {
      return messages.empty() && proposals.empty() && status_queries.empty() &&
             unreachable.empty() && snapshot_reports.empty() && snapshots_created.empty() &&
             membership.empty() && links.empty() && !apply_room;
    }
  };

  void Loop();
  // Waits until the inbox has work, a link is readable, or `deadline`;
  // steps what the readable links carry.
  void Wait(absl::Time deadline);
  void Process(Inbox* inbox);
  void Tick();
  // Handles every Ready the core has, taking committed entries only while
  // the apply queue has room.
  void DrainReadies();
  void HandleReady(raft::Ready rd);
  void OnSoftState(const raft::SoftState& soft, raft::Term term);
  // Hands committed entries to the apply thread (with a snapshot installed
  // in the same Ready: `restore_index`), after their membership changes.
  void Apply(std::vector<raft::Entry> entries, raft::LogIndex restore_index);
  void OnSnapshotInstalled(const raft::Snapshot& snapshot);

  void StepMessage(raft::Message m);
  void FailRequests(const std::vector<uint64_t>& ids, v1::ErrorCode code, const std::string& why);
  // Completes the reads `ids` with OK once `index` is applied.
  void ServeReads(raft::LogIndex index, std::vector<uint64_t> ids);
  // Completes the writes `ids` with DEADLINE_EXCEEDED once `index` is
  // applied and the replies of its apply batch are out.
  void FailWritesAfter(raft::LogIndex index, std::vector<uint64_t> ids);
  DriverStatus BuildStatus() const;

  const Options options_;
  storage::LogStore* const log_;
  PeerTransport* const transport_;
  StateMachine* const state_machine_;
  RequestTracker* const tracker_;
  ReplicaState* const state_;
  const storage::SnapshotFiles* const snapshots_;
  FaultInjection* const faults_;
  metrics::ServerMetrics* metrics_ = nullptr;  // set before Start

  // Inbox (any thread -> raft thread).
  absl::Mutex mu_;
  Inbox inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // ReadIndexBatcher::kMaxRounds rounds are in flight: a new read could only
  // be queued, so it does not wake the raft thread (the next swap of the
  // inbox, or the end of a round, takes it).
  bool reads_paused_ ABSL_GUARDED_BY(mu_) = false;
  // The raft thread sleeps in the poller: whoever fills the inbox wakes it
  // (once per sleep).
  bool sleeping_ ABSL_GUARDED_BY(mu_) = false;
  bool signaled_ ABSL_GUARDED_BY(mu_) = false;
  // Reads the raft thread holds (reads_.held()), as of its last look: with
  // the inbox's, what max_queued_reads bounds.
  size_t raft_side_reads_ ABSL_GUARDED_BY(mu_) = 0;
  // After a change to the inbox (or stopping_): wakes the raft thread if it
  // sleeps and now has something to do.
  void WakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // mu_ held for the scope, then WakeLocked.
  class ABSL_SCOPED_LOCKABLE InboxLock {
   public:
    explicit InboxLock(RaftDriver* d) ABSL_EXCLUSIVE_LOCK_FUNCTION(d->mu_) : d_(d) {
      d_->mu_.Lock();
    }
    ~InboxLock() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      d_->WakeLocked();
      d_->mu_.Unlock();
    }
    InboxLock(const InboxLock&) = delete;
    InboxLock& operator=(const InboxLock&) = delete;

   private:
    RaftDriver* const d_;
  };

  // Raft thread only (Wake excepted: see LinkPoller).
  LinkPoller poller_;
  Snapshotter snapshotter_;
  ReadIndexBatcher reads_;
  Proposals proposals_;
  Membership membership_;
  LogCompaction compaction_;
  std::unique_ptr<raft::RawNode> node_;
  raft::SoftState soft_;

  std::thread thread_;
};

}  // namespace synod::server
