#include "server/raft_driver.h"

#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/check.h"
#include "base/log.h"
#include "storage/snapshot_descriptor.h"

namespace synod::server {
namespace {

Membership::Point PointOf(const raft::Snapshot& snapshot, const std::vector<v1::Member>& members) {
  Membership::Point point;
  point.index = snapshot.metadata().index();
  point.conf_state = snapshot.metadata().conf_state();
  for (const v1::Member& m : members) point.members[m.id()] = m;
  return point;
}

}  // namespace

RaftDriver::RaftDriver(const Options& options, storage::LogStore* log, storage::TreeStore* store,
                       PeerTransport* transport, StateMachine* state_machine,
                       RequestTracker* tracker, ReplicaState* state,
                       const storage::SnapshotFiles* snapshots, FaultInjection* faults)
    : options_(options),
      log_(log),
      transport_(transport),
      state_machine_(state_machine),
      tracker_(tracker),
      state_(state),
      snapshots_(snapshots),
      faults_(faults),
      poller_(LinkPoller::Options{options.cluster_id, options.self, options.max_link_frame_bytes},
              LinkPoller::Hooks{[this](raft::NodeId from, std::vector<raft::Message> messages) {
                                  if (faults_->Isolated(from)) return;
                                  for (raft::Message& m : messages) StepMessage(std::move(m));
                                },
                                [this](raft::NodeId) {
                                  if (metrics_ != nullptr) metrics_->peer_links_refused->Inc();
                                }}),
      snapshotter_(store, snapshots,
                   [this](uint64_t index, bool ok) {
                     InboxLock lock(this);
                     inbox_.snapshots_created.emplace_back(index, ok);
                   }),
      reads_(
          options.self, options.seed, std::max(2, options.election_ticks / 3),
          ReadIndexBatcher::Hooks{[this](uint64_t id) { return tracker_->Pending(id); },
                                  [this](const std::vector<uint64_t>& ids, v1::ErrorCode code,
                                         const std::string& why) { FailRequests(ids, code, why); },
                                  [this](raft::LogIndex index, std::vector<uint64_t> ids) {
                                    ServeReads(index, std::move(ids));
                                  }}),
      proposals_(
          options.self,
          Proposals::Hooks{[this](uint64_t id) { return tracker_->Pending(id); },
                           [this](uint64_t id, v1::ErrorCode code, const std::string& why) {
                             if (metrics_ != nullptr) metrics_->proposals_failed->Inc();
                             FailRequests({id}, code, why);
                           },
                           [this](std::vector<uint64_t> ids) { tracker_->MarkProposed(ids); },
                           [this](raft::LogIndex index, std::vector<uint64_t> ids) {
                             FailWritesAfter(index, std::move(ids));
                           },
                           [] { return absl::ToUnixMillis(absl::Now()); }}),
      membership_(
          Membership::Options{options.self, options.max_learner_lag, options.election_ticks,
                              options.seed_peers},
          Membership::Hooks{
              [this](uint64_t id) { return tracker_->Pending(id); },
              [this](uint64_t id, const Outcome& outcome) { tracker_->Complete(id, outcome); },
              [this](uint64_t id) { tracker_->MarkProposed({id}); },
              [this](raft::NodeId peer) { return transport_->Reachable(peer); },
              [this](std::vector<v1::Member> members, std::map<raft::NodeId, std::string> peers) {
                state_->set_members(std::move(members));
                transport_->UpdatePeers(peers);
              }}),
      compaction_(options.snapshot_threshold, log, &membership_,
                  LogCompaction::Hooks{
                      [this] { snapshotter_.Request(); },
                      [this](const raft::Snapshot& snap) { return log_->SaveSnapshot(snap); },
                      [this](raft::LogIndex keep_from) { snapshots_->Prune(keep_from); }}) {}

RaftDriver::~RaftDriver() {
  Stop();
  // Links adopted after the raft thread ended (the poller closes its own).
  absl::MutexLock lock(&mu_);
  for (Inbox::AdoptedLink& link : inbox_.links) ::close(link.fd);
  inbox_.links.clear();
}

absl::Status RaftDriver::Start() {
  absl::StatusOr<raft::Snapshot> snapshot = log_->GetSnapshot();
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<std::vector<v1::Member>> members =
      storage::DecodeSnapshotDescriptor(snapshot->data());
  if (!members.ok()) return members.status();
  Membership::Point start = PointOf(*snapshot, *members);
  const raft::ConfState conf = start.conf_state;
  compaction_.Reset(start.index);

  raft::Config config;
  config.id = options_.self;
  config.election_tick = options_.election_ticks;
  config.heartbeat_tick = 1;
  config.storage = log_;
  config.applied = start.index;
  config.max_size_per_msg = options_.max_size_per_msg;
  config.max_inflight_msgs = options_.max_inflight_msgs;
  config.max_uncommitted_entries_size = options_.max_uncommitted_bytes;
  config.pre_vote = true;
  config.check_quorum = true;
  config.seed = options_.seed;
  absl::StatusOr<std::unique_ptr<raft::RawNode>> node = raft::RawNode::Create(config);
  if (!node.ok()) return node.status();
  node_ = *std::move(node);
  membership_.Reset(std::move(start));
  const raft::HardState hs = log_->hard_state();
  state_->set_term(hs.term());
  state_->set_commit(hs.commit());

  // A lone voter need not wait an election timeout to lead itself.
  if (conf.voters_size() == 1 && conf.voters(0) == options_.self && conf.learners_size() == 0) {
    node_->Campaign().IgnoreError();  // refused only if it is not promotable
  }
  if (absl::Status s = poller_.Init(); !s.ok()) return s;
  state_machine_->set_on_room([this] {
    InboxLock lock(this);
    inbox_.apply_room = true;
  });
  snapshotter_.Start();
  thread_ = std::thread([this] {
    base::NameThread("synod-raft");
    Loop();
  });
  return absl::OkStatus();
}

void RaftDriver::Stop() {
  {
    InboxLock lock(this);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  snapshotter_.Stop();
  if (thread_.joinable()) thread_.join();
}

// ---- Raft thread --------------------------------------------------------------

void RaftDriver::Loop() {
  absl::Time next_tick = absl::Now() + options_.tick;
  while (true) {
    Wait(next_tick);
    Inbox inbox;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      std::swap(inbox, inbox_);
      raft_side_reads_ = reads_.held() + inbox.reads.size();
    }
    for (Inbox::AdoptedLink& link : inbox.links) {
      poller_.Add(link.fd, link.from, std::move(link.tls));
    }
    Process(&inbox);
    const absl::Time now = absl::Now();
    if (now >= next_tick) {
      Tick();
      next_tick += options_.tick;
      // After a long stall (a slow fsync), do not fire a burst of ticks: a
      // burst would time out elections that real time did not.
      if (next_tick < now) next_tick = now + options_.tick;
    }
    DrainReadies();
    // Rounds that finished in those Readys make room for the reads queued
    // behind them.
    if (reads_.MaybeIssue(node_.get(), soft_.leader != raft::kNoNode)) DrainReadies();
  }
  state_machine_->set_on_room(nullptr);
  poller_.CloseAll();
  // Whatever is still queued is refused; requests waiting on read batches
  // are completed by the tracker at shutdown. Status queries are answered
  // (their reactors must finish).
  std::vector<std::function<void(const DriverStatus&)>> queries;
  {
    absl::MutexLock lock(&mu_);
    queries.swap(inbox_.status_queries);
  }
  if (!queries.empty()) {
    const DriverStatus status = BuildStatus();
    for (auto& done : queries) done(status);
  }
  absl::MutexLock lock(&mu_);
  for (v1::Command& c : inbox_.proposals) {
    Outcome outcome;
    outcome.code = v1::UNAVAILABLE;
    outcome.message = "replica is shutting down";
    tracker_->Complete(c.origin_request(), outcome);
  }
  inbox_.proposals.clear();
}

void RaftDriver::DrainReadies() {
  while (true) {
    // A full apply queue pauses the committed entries only: the Ready's
    // messages, appends and hard state go on (see the class comment).
    node_->PauseCommittedEntries(state_machine_->Full());
    if (!node_->HasReady()) return;
    HandleReady(node_->GetReady());
  }
}

void RaftDriver::Wait(absl::Time deadline) {
  bool sleep = false;
  {
    absl::MutexLock lock(&mu_);
    reads_paused_ = reads_.rounds_full();
    raft_side_reads_ = reads_.held();
    sleep = !stopping_ && inbox_.EmptyBesidesReads() && (inbox_.reads.empty() || reads_paused_);
    sleeping_ = sleep;
    signaled_ = false;
  }
  int timeout_ms = 0;
  if (sleep) {
    const absl::Duration left = deadline - absl::Now();
    timeout_ms = left <= absl::ZeroDuration()
                     ? 0
                     : static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)));
  }
  poller_.Wait(timeout_ms);
  if (sleep) {
    absl::MutexLock lock(&mu_);
    sleeping_ = false;
  }
}

void RaftDriver::Process(Inbox* inbox) {
  for (raft::Message& m : inbox->messages) StepMessage(std::move(m));
  for (raft::NodeId peer : inbox->unreachable) node_->ReportUnreachable(peer);
  for (auto& [peer, ok] : inbox->snapshot_reports) node_->ReportSnapshot(peer, ok);
  const bool has_leader = soft_.leader != raft::kNoNode;
  for (v1::Command& c : inbox->proposals) proposals_.Propose(node_.get(), has_leader, &c);
  proposals_.Flush();
  if (!inbox->reads.empty()) {
    reads_.Add(inbox->reads);
    reads_.MaybeIssue(node_.get(), has_leader);
  }
  for (auto& [index, ok] : inbox->snapshots_created) {
    if (std::optional<raft::LogIndex> compacted = compaction_.OnCreated(index, ok)) {
      membership_.Compact(*compacted);
    }
  }
  for (const MembershipRequest& r : inbox->membership) {
    membership_.Request(node_.get(), soft_.role, r);
  }
  if (!inbox->status_queries.empty()) {
    const DriverStatus status = BuildStatus();
    for (auto& done : inbox->status_queries) done(status);
  }
}

void RaftDriver::Tick() {
  node_->Tick();
  faults_->Poll();
  reads_.Tick(node_.get(), soft_.leader != raft::kNoNode);
  membership_.Tick(node_.get(), soft_.role);
  compaction_.MaybeRequest(state_machine_->applied(), snapshotter_.MinEntriesBetween());
}

void RaftDriver::StepMessage(raft::Message m) {
  if (m.type() == raft::MessageType::MSG_PROP &&
      !proposals_.FilterForwarded(*node_, membership_.IsMember(m.from()), &m)) {
    return;
  }
  const raft::MessageType type = m.type();
  const raft::NodeId from = m.from();
  absl::Status s = node_->Step(std::move(m));
  if (s.ok()) return;
  // The core refused the message (RawNode::Step): malformed or misaddressed,
  // an answer from a non-member, or a request it cannot pass on without a
  // leader. Nothing changed and Raft recovers by itself (§3.5), but a
  // steady count means a peer that breaks the rules.
  if (metrics_ != nullptr) metrics_->peer_messages_refused->Inc();
  base::Log(base::LogLevel::kDebug, "%s from member %llu refused: %s",
            raftpb::MessageType_Name(type).c_str(), static_cast<unsigned long long>(from),
            s.ToString().c_str());
}

void RaftDriver::FailRequests(const std::vector<uint64_t>& ids, v1::ErrorCode code,
                              const std::string& why) {
  Outcome outcome;
  outcome.code = code;
  outcome.message = why;
  for (uint64_t id : ids) tracker_->Complete(id, outcome);
}

void RaftDriver::ServeReads(raft::LogIndex index, std::vector<uint64_t> ids) {
  RequestTracker* tracker = tracker_;
  state_machine_->WaitApplied(
      index,
      [tracker, ids = std::move(ids)] {
        Outcome ok;
        for (uint64_t id : ids) tracker->Complete(id, ok);
      },
      /*inline_ok=*/false);
}

void RaftDriver::FailWritesAfter(raft::LogIndex index, std::vector<uint64_t> ids) {
  RequestTracker* tracker = tracker_;
  StateMachine* state_machine = state_machine_;
  // The waiter runs when `index` is applied, before the replies of that
  // apply batch are posted; going round the reply thread once more lets a
  // write applied in the same batch complete with its result first.
  state_machine_->WaitApplied(
      index,
      [tracker, state_machine, index, ids = std::move(ids)]() mutable {
        state_machine->WaitApplied(
            index,
            [tracker, ids = std::move(ids)] {
              Outcome outcome;
              outcome.code = v1::DEADLINE_EXCEEDED;
              outcome.message =
                  "the leader changed before this write was applied; its outcome is unknown";
              for (uint64_t id : ids) tracker->Complete(id, outcome);
            },
            /*inline_ok=*/false);
      },
      /*inline_ok=*/false);
}

void RaftDriver::OnSoftState(const raft::SoftState& soft, raft::Term term) {
  // One line per new known leader (event=leader_change, counted in
  // synod_raft_leader_changes_total), per loss of the leader
  // (event=leader_lost), or, with the same leader, per change of this
  // member's role (event=role_change, debug).
  if (soft.leader != soft_.leader || soft.role != soft_.role) {
    const bool leader_changed = soft.leader != soft_.leader;
    base::Log(leader_changed ? base::LogLevel::kInfo : base::LogLevel::kDebug,
              "event=%s member=%llu role=%s leader=%llu previous_leader=%llu term=%llu",
              !leader_changed                ? "role_change"
              : soft.leader == raft::kNoNode ? "leader_lost"
                                             : "leader_change",
              static_cast<unsigned long long>(options_.self), raft::RoleName(soft.role),
              static_cast<unsigned long long>(soft.leader),
              static_cast<unsigned long long>(soft_.leader), static_cast<unsigned long long>(term));
    if (metrics_ != nullptr && leader_changed && soft.leader != raft::kNoNode) {
      metrics_->leader_changes->Inc();
    }
  }
  soft_ = soft;
  state_->set_leader(soft_.leader);
  state_->set_role(soft_.role);
  membership_.OnLeader(soft_.leader);
}

void RaftDriver::Apply(std::vector<raft::Entry> entries, raft::LogIndex restore_index) {
  for (const raft::Entry& e : entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) membership_.ApplyEntry(node_.get(), e);
  }
  proposals_.OnCommitted(entries);
  ApplyWork work;
  work.restore_index = restore_index;
  work.entries = std::move(entries);
  state_machine_->Enqueue(std::move(work));
}

void RaftDriver::HandleReady(raft::Ready rd) {
  if (rd.soft_state.has_value()) {
    OnSoftState(*rd.soft_state, rd.hard_state.has_value() ? rd.hard_state->term() : state_->term());
  }
  if (rd.hard_state.has_value()) {
    state_->set_term(rd.hard_state->term());
    state_->set_commit(rd.hard_state->commit());
  }
  // 1. Send before persisting (§10.2.1).
  transport_->Send(&rd.messages);
  // Committed entries that were durable here before this Ready (always so
  // on the leader, which commits only what it persisted) go to the apply
  // thread now, while the fsync below runs: apply latency does not include
  // the next batch's fsync. Entries that arrive in this very Ready wait for
  // it, so the state never runs ahead of the local log.
  if (!rd.snapshot.has_value() && !rd.committed_entries.empty()) {
    const raft::LogIndex durable = log_->LastIndex();
    size_t n = 0;
    while (n < rd.committed_entries.size() && rd.committed_entries[n].index() <= durable) ++n;
    if (n > 0) {
      std::vector<raft::Entry> early(
          std::make_move_iterator(rd.committed_entries.begin()),
          std::make_move_iterator(rd.committed_entries.begin() + static_cast<std::ptrdiff_t>(n)));
      rd.committed_entries.erase(rd.committed_entries.begin(),
                                 rd.committed_entries.begin() + static_cast<std::ptrdiff_t>(n));
      Apply(std::move(early), 0);
    }
  }
  // 2. One write for snapshot + entries + hard state.
  if (rd.snapshot.has_value()) {
    const raft::LogIndex index = rd.snapshot->metadata().index();
    SYNOD_CHECK(index == storage::kBootstrapIndex || snapshots_->Exists(index))
        << "snapshot " << index << " to install has no file";
  }
  const absl::Time save_start = absl::Now();
  log_->Save(&rd);  // moves rd.entries into the log cache
  if (metrics_ != nullptr && (rd.must_sync || rd.snapshot.has_value())) {
    metrics_->log_sync_seconds->ObserveDuration(absl::Now() - save_start);
  }
  // 3. Messages that promise durability.
  transport_->Send(&rd.persisted_messages);
  // 4. Membership, then state.
  raft::LogIndex restore_index = 0;
  if (rd.snapshot.has_value()) {
    OnSnapshotInstalled(*rd.snapshot);
    restore_index = rd.snapshot->metadata().index();
  }
  // (rd.committed_entries is then empty; Advance uses its own record of
  // what this Ready handed out.)
  Apply(std::move(rd.committed_entries), restore_index);
  rd.committed_entries.clear();
  for (const raft::ReadState& rs : rd.read_states) reads_.OnReadState(rs);
  // 5.
  node_->Advance(rd);
}

void RaftDriver::OnSnapshotInstalled(const raft::Snapshot& snapshot) {
  absl::StatusOr<std::vector<v1::Member>> members =
      storage::DecodeSnapshotDescriptor(snapshot.data());
  SYNOD_CHECK_OK(members.status()) << "snapshot from the leader";
  const raft::LogIndex index = snapshot.metadata().index();
  compaction_.OnInstalled(index, state_machine_->applied());
  membership_.Reset(PointOf(snapshot, *members));
  if (metrics_ != nullptr) metrics_->snapshots_received->Inc();
  // The event line of a snapshot received: the core took it and the log
  // now starts after it (the line the transport logs when the file arrives
  // does not mean the core accepted it). Tests look for "installed snapshot".
  base::Log(
      "event=snapshot_received index=%llu term=%llu msg=\"installed snapshot from the leader\"",
      static_cast<unsigned long long>(index),
      static_cast<unsigned long long>(snapshot.metadata().term()));
}

DriverStatus RaftDriver::BuildStatus() const {
  DriverStatus st;
  st.raft = node_->GetStatus();
  absl::StatusOr<raft::Snapshot> snap = log_->GetSnapshot();
  if (snap.ok()) st.snapshot_index = snap->metadata().index();
  st.log_first_index = log_->FirstIndex();
  st.members = state_->members();
  for (const v1::Member& m : st.members) {
    st.reachable[m.id()] = m.id() == options_.self || transport_->Reachable(m.id());
  }
  return st;
}

}  // namespace synod::server
