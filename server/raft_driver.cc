#include "server/raft_driver.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/check.h"
#include "base/log.h"
#include "synod/v1/cluster.pb.h"

namespace synod::server {
std::string RaftDriver::EncodeDescriptor(const std::vector<v1::Member>& members) {
  // The snapshot manifest message doubles as the descriptor: members only.
  v1::SnapshotChunk descriptor;
  for (const v1::Member& m : members) *descriptor.add_members() = m;
  return descriptor.SerializeAsString();
}

absl::StatusOr<std::vector<v1::Member>> RaftDriver::DecodeDescriptor(const std::string& data) {
  v1::SnapshotChunk descriptor;
  if (!descriptor.ParseFromString(data)) {
    return absl::DataLossError("log snapshot descriptor does not parse");
  }
  return std::vector<v1::Member>(descriptor.members().begin(), descriptor.members().end());
}

RaftDriver::RaftDriver(const Options& options, storage::LogStore* log, storage::TreeStore* store,
                       PeerTransport* transport, StateMachine* state_machine,
                       RequestTracker* tracker, ReplicaState* state, const SnapshotFiles* snapshots,
                       FaultInjection* faults)
    : options_(options),
      log_(log),
      transport_(transport),
      state_machine_(state_machine),
      tracker_(tracker),
      state_(state),
      snapshots_(snapshots),
      faults_(faults),
      snapshotter_(store, snapshots, [this](uint64_t index, bool ok) {
        InboxLock lock(this);
        inbox_.snapshots_created.emplace_back(index, ok);
      }),
      reads_(options.self, options.seed, std::max(2, options.election_ticks / 3),
             ReadIndexBatcher::Hooks{
                 [this](uint64_t id) { return tracker_->Pending(id); },
                 [this](const std::vector<uint64_t>& ids, v1::ErrorCode code,
                        const std::string& why) { FailRequests(ids, code, why); },
                 [this](raft::LogIndex index, std::vector<uint64_t> ids) {
                   ServeReads(index, std::move(ids));
                 }}) {}

RaftDriver::~RaftDriver() {
  Stop();
  // Links adopted before (or while) the raft thread ran.
  for (auto& [fd, link] : links_) ::close(fd);
  links_.clear();
  absl::MutexLock lock(&mu_);
  for (auto& [fd, from] : inbox_.links) ::close(fd);
  inbox_.links.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

absl::Status RaftDriver::Start() {
  absl::StatusOr<raft::Snapshot> snapshot = log_->GetSnapshot();
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<std::vector<v1::Member>> members = DecodeDescriptor(snapshot->data());
  if (!members.ok()) return members.status();
  ConfPoint start;
  start.index = snapshot->metadata().index();
  start.conf_state = snapshot->metadata().conf_state();
  for (const v1::Member& m : *members) start.members[m.id()] = m;
  conf_history_ = {start};
  last_snapshot_index_ = start.index;

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
  InstallMembership(start);
  const raft::HardState hs = log_->hard_state();
  state_->set_term(hs.term());
  state_->set_commit(hs.commit());

  // A lone voter need not wait an election timeout to lead itself.
  if (start.conf_state.voters_size() == 1 && start.conf_state.voters(0) == options_.self &&
      start.conf_state.learners_size() == 0) {
    node_->Campaign().IgnoreError();  // refused only if it is not promotable
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd/epoll: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", std::strerror(errno)));
  }
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

// ---- Inbox (any thread) ------------------------------------------------------

void RaftDriver::Propose(v1::Command command) {
  const uint64_t id = command.origin_request();
  {
    InboxLock lock(this);
    if (!stopping_ && inbox_.proposals.size() < options_.max_inbox_proposals) {
      inbox_.proposals.push_back(std::move(command));
      return;
    }
  }
  if (metrics_ != nullptr) metrics_->proposals_failed->Inc();
  Outcome outcome;
  outcome.code = v1::UNAVAILABLE;
  outcome.message = "replica overloaded or shutting down; retry";
  tracker_->Complete(id, outcome);
}

void RaftDriver::ReadIndex(uint64_t request_id) {
  Outcome outcome;
  {
    InboxLock lock(this);
    const size_t waiting = inbox_.reads.size() + raft_side_reads_;
    if (stopping_) {
      outcome.code = v1::UNAVAILABLE;
      outcome.message = "replica is shutting down";
    } else if (waiting >= options_.max_queued_reads) {
      outcome.code = v1::RESOURCE_EXHAUSTED;
      outcome.message = absl::StrCat("replica overloaded: ", waiting,
                                     " linearizable reads wait for a read index; retry later");
    } else {
      inbox_.reads.push_back(request_id);
      return;
    }
  }
  tracker_->Complete(request_id, outcome);
}

void RaftDriver::RequestMembership(MembershipRequest request) {
  {
    InboxLock lock(this);
    if (!stopping_) {
      inbox_.membership.push_back(std::move(request));
      return;
    }
  }
  Outcome outcome;
  outcome.code = v1::UNAVAILABLE;
  outcome.message = "replica is shutting down";
  tracker_->Complete(request.request_id, outcome);
}

void RaftDriver::QueryStatus(std::function<void(const DriverStatus&)> done) {
  {
    InboxLock lock(this);
    if (!stopping_) {
      inbox_.status_queries.push_back(std::move(done));
      return;
    }
  }
  done(DriverStatus());  // shutting down: nothing to report, but answer
}

void RaftDriver::DeliverMessages(std::vector<raft::Message> messages) {
  InboxLock lock(this);
  if (stopping_) return;
  for (raft::Message& m : messages) {
    if (inbox_.messages.size() >= options_.max_inbox_messages) break;  // Raft resends
    inbox_.messages.push_back(std::move(m));
  }
}

void RaftDriver::ReportUnreachable(raft::NodeId peer) {
  InboxLock lock(this);
  if (std::find(inbox_.unreachable.begin(), inbox_.unreachable.end(), peer) ==
      inbox_.unreachable.end()) {
    inbox_.unreachable.push_back(peer);
  }
}

void RaftDriver::ReportSnapshot(raft::NodeId peer, bool ok) {
  if (metrics_ != nullptr) (ok ? metrics_->snapshots_sent : metrics_->snapshots_send_failed)->Inc();
  InboxLock lock(this);
  inbox_.snapshot_reports.emplace_back(peer, ok);
}

// ---- Raft thread --------------------------------------------------------------

void RaftDriver::Loop() {
  absl::Time next_tick = absl::Now() + options_.tick;
  while (true) {
    WaitAndReadLinks(next_tick);
    Inbox inbox;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      std::swap(inbox, inbox_);
      raft_side_reads_ = reads_.held() + inbox.reads.size();
    }
    for (auto& [fd, from] : inbox.links) AddLink(fd, from);
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
  while (!links_.empty()) CloseLink(links_.begin()->first, "");
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

void RaftDriver::WakeLocked() {
  if (!sleeping_ || signaled_) return;
  if (!stopping_ && inbox_.EmptyBesidesReads() && (inbox_.reads.empty() || reads_paused_)) return;
  signaled_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void RaftDriver::AdoptLink(int fd, raft::NodeId from) {
  InboxLock lock(this);
  if (stopping_) {
    ::close(fd);
    return;
  }
  inbox_.links.emplace_back(fd, from);
}

void RaftDriver::AddLink(int fd, raft::NodeId from) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    base::Log(base::LogLevel::kWarning, "raft link from member %llu: epoll_ctl: %s",
              static_cast<unsigned long long>(from), std::strerror(errno));
    ::close(fd);
    return;
  }
  Link& link = links_[fd];
  link.from = from;
  link.reader = std::make_unique<LinkFrameReader>(
      options_.max_link_frame_bytes, LinkHello{options_.cluster_id, from, options_.self});
}

void RaftDriver::CloseLink(int fd, const std::string& why) {
  auto it = links_.find(fd);
  if (it == links_.end()) return;
  if (!why.empty()) {
    base::Log(base::LogLevel::kWarning, "raft link from member %llu closed: %s",
              static_cast<unsigned long long>(it->second.from), why.c_str());
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  links_.erase(it);
}

void RaftDriver::WaitAndReadLinks(absl::Time deadline) {
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
  epoll_event events[16];
  int n = ::epoll_wait(epoll_fd_, events, 16, timeout_ms);
  if (n < 0 && errno != EINTR) {
    base::Log(base::LogLevel::kError, "raft thread: epoll_wait: %s", std::strerror(errno));
    std::abort();
  }
  if (sleep) {
    absl::MutexLock lock(&mu_);
    sleeping_ = false;
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      uint64_t count = 0;
      (void)!::read(wake_fd_, &count, sizeof(count));
      continue;
    }
    auto it = links_.find(fd);
    if (it == links_.end()) continue;
    std::vector<raft::Message> messages;
    std::string why;
    const bool open = ReadLinkFrames(fd, /*drain=*/true, it->second.reader.get(), &link_scratch_,
                                     &messages, &why);
    if (it->second.reader->refused() && metrics_ != nullptr) metrics_->peer_links_refused->Inc();
    if (!faults_->Isolated(it->second.from)) {
      for (raft::Message& m : messages) StepMessage(std::move(m));
    }
    if (!open) CloseLink(fd, why);
  }
}

void RaftDriver::Process(Inbox* inbox) {
  for (raft::Message& m : inbox->messages) StepMessage(std::move(m));
  for (raft::NodeId peer : inbox->unreachable) node_->ReportUnreachable(peer);
  for (auto& [peer, ok] : inbox->snapshot_reports) node_->ReportSnapshot(peer, ok);
  for (v1::Command& c : inbox->proposals) DoPropose(&c);
  if (!proposed_now_.empty()) {
    tracker_->MarkProposed(proposed_now_);
    proposed_now_.clear();
  }
  if (!inbox->reads.empty()) {
    reads_.Add(inbox->reads);
    reads_.MaybeIssue(node_.get(), soft_.leader != raft::kNoNode);
  }
  for (auto& [index, ok] : inbox->snapshots_created) OnSnapshotCreated(index, ok);
  for (const MembershipRequest& r : inbox->membership) DoMembership(r);
  if (!inbox->status_queries.empty()) {
    const DriverStatus status = BuildStatus();
    for (auto& done : inbox->status_queries) done(status);
  }
}

void RaftDriver::Tick() {
  node_->Tick();
  faults_->Poll();
  reads_.Tick(node_.get(), soft_.leader != raft::kNoNode);
  // The core abandons a transfer that did not finish within an election
  // timeout (§3.10); while the request still waits, ask again.
  if (pending_transfer_.has_value()) {
    if (!tracker_->Pending(pending_transfer_->request_id)) {
      pending_transfer_.reset();  // timed out
    } else if (soft_.role == raft::Role::kLeader &&
               ++transfer_age_ticks_ >= options_.election_ticks) {
      transfer_age_ticks_ = 0;
      node_->TransferLeader(pending_transfer_->transferee);
    }
  }
  MaybeRequestSnapshot();
}

int64_t RaftDriver::StampTime() {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  last_stamp_ms_ = std::max(last_stamp_ms_, now);
  return last_stamp_ms_;
}

void RaftDriver::StepMessage(raft::Message m) {
  if (m.type() == raft::MessageType::MSG_PROP && !FilterForwardedProposal(&m)) return;
  const raft::MessageType type = m.type();
  const raft::NodeId from = m.from();
  absl::Status s = node_->Step(std::move(m));
  if (s.ok()) return;
  // The core refused the message (RawNode::Step): malformed or misaddressed,
  // an answer from a non-member, or a request it cannot pass on without a
  // leader. Nothing changed and Raft recovers by itself (§3.5), but a
  // steady count means a peer that breaks the rules.
  if (metrics_ != nullptr) metrics_->peer_messages_refused->Inc();
  Log(LogLevel::kDebug, "%s from member %llu refused: %s",
      raftpb::MessageType_Name(type).c_str(), static_cast<unsigned long long>(from),
      s.ToString().c_str());
}

bool RaftDriver::FilterForwardedProposal(raft::Message* m) {
  const raft::Term term = node_->term();
  const bool leader = node_->soft_state().role == raft::Role::kLeader;
  if (leader && !IsMember(m->from())) {
    base::Log(base::LogLevel::kWarning, "forwarded proposal from non-member %llu dropped",
              static_cast<unsigned long long>(m->from()));
    return false;
  }
  auto* entries = m->mutable_entries();
  int kept = 0;
  for (int i = 0; i < entries->size(); ++i) {
    raft::Entry& e = (*entries)[i];
    if (e.type() != raftpb::ENTRY_NORMAL) {
      // Membership changes are proposed by the leader's driver after its
      // checks (DoMembership), never taken from another member.
      base::Log(base::LogLevel::kWarning, "membership change forwarded by member %llu dropped",
                static_cast<unsigned long long>(m->from()));
      continue;
    }
    v1::Command c;
    if (e.data().empty() || !c.ParseFromString(e.data()) || c.proposal_term() != term) {
      // Proposed in another term (or no command at all): see the class
      // comment. Its origin answers it once a later term's entry applies.
      continue;
    }
    if (leader) {
      // Forwarded proposals get the leader's clock (see the class comment).
      c.set_leader_time_ms(StampTime());
      e.set_data(c.SerializeAsString());
    }
    if (kept != i) entries->SwapElements(kept, i);
    ++kept;
  }
  if (kept < entries->size()) entries->DeleteSubrange(kept, entries->size() - kept);
  return kept > 0;
}

bool RaftDriver::IsMember(raft::NodeId id) const {
  const raft::ConfState& cs = conf_history_.back().conf_state;
  return std::find(cs.voters().begin(), cs.voters().end(), id) != cs.voters().end() ||
         std::find(cs.learners().begin(), cs.learners().end(), id) != cs.learners().end();
}

void RaftDriver::DoPropose(v1::Command* command) {
  const uint64_t id = command->origin_request();
  // The core's term now, not the term of the last Ready: a message stepped
  // just before may have moved it.
  const raft::Term term = node_->term();
  command->set_origin_member(options_.self);
  command->set_leader_time_ms(StampTime());
  command->set_proposal_term(term);
  v1::ErrorCode code = v1::OK;
  std::string why;
  if (soft_.leader == raft::kNoNode) {
    code = v1::UNAVAILABLE;
    why = "no leader (election in progress or this replica is cut off); retry";
  } else {
    absl::Status s = node_->Propose(command->SerializeAsString());
    if (!s.ok()) {
      code = s.code() == absl::StatusCode::kResourceExhausted ? v1::UNAVAILABLE : v1::NOT_LEADER;
      why = std::string(s.message());
    }
  }
  if (code != v1::OK) {
    if (metrics_ != nullptr) metrics_->proposals_failed->Inc();
    Outcome outcome;
    outcome.code = code;
    outcome.message = why;
    tracker_->Complete(id, outcome);
    return;
  }
  if (id != 0) RememberProposal(id, term);
}

void RaftDriver::RememberProposal(uint64_t request_id, raft::Term term) {
  proposed_now_.push_back(request_id);
  std::vector<uint64_t>& ids = proposed_by_term_[term];
  ids.push_back(request_id);
  if (ids.size() < proposed_prune_at_) return;
  // A long term proposes without end: drop the ids that already finished,
  // so the list holds about what is in flight.
  ids.erase(std::remove_if(ids.begin(), ids.end(),
                           [this](uint64_t id) { return !tracker_->Pending(id); }),
            ids.end());
  proposed_prune_at_ = std::max<size_t>(1024, 2 * ids.size());
}

// A write proposed here in term T carries T (proposal_term) and can only
// become an entry of term T: the leader of T appends it only while in T,
// and nobody forwards it in another term (FilterForwardedProposal). Entries
// of term T precede the first entry of any later term in every log that
// commits it (§3.6: terms in a log never decrease; §3.5 log matching). So
// once an entry of a later term is applied here, a write of term T still
// pending will never be applied after that point: its fate is decided. Its
// caller hears DEADLINE_EXCEEDED (outcome unknown) at once rather than at
// its deadline: it was most likely lost, but a snapshot installed here may
// have carried it in without its entry, and a session write is retried and
// answered once by the session table (§6.3).
void RaftDriver::FailWritesOfEarlierTerms(const std::vector<raft::Entry>& committed) {
  for (const raft::Entry& e : committed) {
    if (e.term() <= committed_term_) continue;
    committed_term_ = e.term();
    std::vector<uint64_t> stale;
    auto end = proposed_by_term_.lower_bound(e.term());
    for (auto it = proposed_by_term_.begin(); it != end; ++it) {
      stale.insert(stale.end(), it->second.begin(), it->second.end());
    }
    proposed_by_term_.erase(proposed_by_term_.begin(), end);
    if (stale.empty()) continue;
    RequestTracker* tracker = tracker_;
    StateMachine* state_machine = state_machine_;
    const uint64_t index = e.index();
    // The waiter runs when `index` is applied, before the replies of that
    // apply batch are posted; going round the reply thread once more lets a
    // write applied in the same batch complete with its result first.
    state_machine_->WaitApplied(
        index,
        [tracker, state_machine, index, stale = std::move(stale)]() mutable {
          state_machine->WaitApplied(
              index,
              [tracker, stale = std::move(stale)] {
                Outcome outcome;
                outcome.code = v1::DEADLINE_EXCEEDED;
                outcome.message =
                    "the leader changed before this write was applied; its outcome is unknown";
                for (uint64_t id : stale) tracker->Complete(id, outcome);
              },
              /*inline_ok=*/false);
        },
        /*inline_ok=*/false);
  }
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

void RaftDriver::HandleReady(raft::Ready rd) {
  if (rd.soft_state.has_value()) {
    // One line per new known leader (event=leader_change, counted in
    // synod_raft_leader_changes_total), per loss of the leader
    // (event=leader_lost), or, with the same leader, per change of this
    // member's role (event=role_change, debug).
    if (rd.soft_state->leader != soft_.leader || rd.soft_state->role != soft_.role) {
      const bool leader_changed = rd.soft_state->leader != soft_.leader;
      base::Log(leader_changed ? base::LogLevel::kInfo : base::LogLevel::kDebug,
                "event=%s member=%llu role=%s leader=%llu previous_leader=%llu term=%llu",
                !leader_changed                          ? "role_change"
                : rd.soft_state->leader == raft::kNoNode ? "leader_lost"
                                                         : "leader_change",
                static_cast<unsigned long long>(options_.self), raft::RoleName(rd.soft_state->role),
                static_cast<unsigned long long>(rd.soft_state->leader),
                static_cast<unsigned long long>(soft_.leader),
                static_cast<unsigned long long>(rd.hard_state.has_value() ? rd.hard_state->term()
                                                                          : state_->term()));
      if (metrics_ != nullptr && leader_changed && rd.soft_state->leader != raft::kNoNode) {
        metrics_->leader_changes->Inc();
      }
    }
    soft_ = *rd.soft_state;
    state_->set_leader(soft_.leader);
    state_->set_role(soft_.role);
    if (pending_transfer_.has_value() && soft_.leader == pending_transfer_->transferee) {
      tracker_->Complete(pending_transfer_->request_id, Outcome());
      pending_transfer_.reset();
    }
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
      ApplyWork early;
      early.entries.assign(std::make_move_iterator(rd.committed_entries.begin()),
                           std::make_move_iterator(rd.committed_entries.begin() + n));
      rd.committed_entries.erase(rd.committed_entries.begin(), rd.committed_entries.begin() + n);
      for (const raft::Entry& e : early.entries) {
        if (e.type() == raftpb::ENTRY_CONF_CHANGE) ApplyConfChangeEntry(e);
      }
      FailWritesOfEarlierTerms(early.entries);
      state_machine_->Enqueue(std::move(early));
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
  ApplyWork work;
  if (rd.snapshot.has_value()) {
    OnSnapshotInstalled(*rd.snapshot);
    work.restore_index = rd.snapshot->metadata().index();
  }
  for (const raft::Entry& e : rd.committed_entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) ApplyConfChangeEntry(e);
  }
  FailWritesOfEarlierTerms(rd.committed_entries);
  work.entries = std::move(rd.committed_entries);
  state_machine_->Enqueue(std::move(work));
  // (rd.committed_entries is now empty; Advance uses its own record of what
  // this Ready handed out.)
  for (const raft::ReadState& rs : rd.read_states) reads_.OnReadState(rs);
  // 5.
  node_->Advance(rd);
}

// ---- Membership ---------------------------------------------------------------

void RaftDriver::ApplyConfChangeEntry(const raft::Entry& entry) {
  raft::ConfChange cc;
  if (!cc.ParseFromString(entry.data())) {
    base::Log("entry %llu: undecodable membership change ignored",
              static_cast<unsigned long long>(entry.index()));
    return;
  }
  ConfPoint point = conf_history_.back();
  point.index = entry.index();
  point.conf_state = node_->ApplyConfChange(cc);
  const raft::NodeId id = cc.node_id();
  switch (cc.type()) {
    case raft::ConfChange::ADD_LEARNER:
    case raft::ConfChange::ADD_VOTER: {
      v1::Member m;
      if (!cc.context().empty() && !m.ParseFromString(cc.context())) m.Clear();
      m.set_id(id);
      m.set_learner(cc.type() == raft::ConfChange::ADD_LEARNER);
      point.members[id] = m;
      break;
    }
    case raft::ConfChange::PROMOTE_LEARNER:
      point.members[id].set_learner(false);
      break;
    case raft::ConfChange::REMOVE_NODE:
      point.members.erase(id);
      break;
    default:
      break;
  }
  // Only members the core kept count (a change it ignored changes nothing).
  for (auto it = point.members.begin(); it != point.members.end();) {
    const auto& cs = point.conf_state;
    const bool member =
        std::find(cs.voters().begin(), cs.voters().end(), it->first) != cs.voters().end() ||
        std::find(cs.learners().begin(), cs.learners().end(), it->first) != cs.learners().end();
    it = member ? std::next(it) : point.members.erase(it);
  }
  base::Log("event=member_change index=%llu change=%s member=%llu voters=%d learners=%d%s",
            static_cast<unsigned long long>(entry.index()),
            raft::ConfChange::Type_Name(cc.type()).c_str(), static_cast<unsigned long long>(id),
            point.conf_state.voters_size(), point.conf_state.learners_size(),
            cc.type() == raft::ConfChange::REMOVE_NODE && id == options_.self
                ? " note=\"this member was removed from the cluster; it may be shut down\""
                : "");
  conf_history_.push_back(point);
  InstallMembership(point);
  if (pending_change_.has_value() && pending_change_->change.type() == cc.type() &&
      pending_change_->change.node_id() == cc.node_id()) {
    // After the install: the reply lists the new membership.
    tracker_->Complete(pending_change_->request_id, Outcome());
    pending_change_.reset();
  }
}

void RaftDriver::InstallMembership(const ConfPoint& point) {
  std::vector<v1::Member> members;
  std::map<raft::NodeId, std::string> peers;
  for (const auto& [id, m] : point.members) {
    members.push_back(m);
    if (id != options_.self && !m.peer_addr().empty()) peers[id] = m.peer_addr();
  }
  if (point.members.empty()) peers = options_.seed_peers;
  state_->set_members(std::move(members));
  transport_->UpdatePeers(peers);
}

v1::ErrorCode RaftDriver::CheckMembership(const raft::ConfChange& change, std::string* why) const {
  const raft::Status st = node_->GetStatus();
  const raft::ConfState& cs = st.conf_state;
  auto contains = [](const auto& list, raft::NodeId id) {
    return std::find(list.begin(), list.end(), id) != list.end();
  };
  const raft::NodeId id = change.node_id();
  const bool voter = contains(cs.voters(), id);
  const bool learner = contains(cs.learners(), id);
  switch (change.type()) {
    case raft::ConfChange::ADD_LEARNER:
    case raft::ConfChange::ADD_VOTER: {
      if (voter || learner) {
        *why = absl::StrCat("member ", id, " exists");
        return v1::MEMBER_EXISTS;
      }
      v1::Member m;
      if (!m.ParseFromString(change.context()) || m.peer_addr().empty()) {
        *why = "the new member needs a peer address";
        return v1::INVALID_ARGUMENT;
      }
      for (const auto& [other, member] : conf_history_.back().members) {
        if (member.peer_addr() == m.peer_addr() ||
            (!m.client_addr().empty() && member.client_addr() == m.client_addr())) {
          *why = absl::StrCat("member ", other, " already uses that address");
          return v1::MEMBER_EXISTS;
        }
      }
      return v1::OK;
    }
    case raft::ConfChange::PROMOTE_LEARNER: {
      if (!learner) {
        *why = absl::StrCat("member ", id, " is not a learner");
        return voter ? v1::MEMBER_EXISTS : v1::MEMBER_NOT_FOUND;
      }
      for (const raft::ProgressStatus& p : st.progress) {
        if (p.id != id) continue;
        // Replicating (it acknowledged a matching log and is streaming)
        // and close to the end; a learner that never answered has match 0
        // and is probed, not replicating.
        if (p.state != raft::ProgressStatus::State::kReplicate || p.match == 0 ||
            p.match + options_.max_learner_lag < st.last_index || !p.recent_active) {
          *why = absl::StrCat("learner ", id, " has ", p.match, " of ", st.last_index,
                              " entries; promote it once it has caught up");
          return v1::LEARNER_NOT_READY;
        }
        return v1::OK;
      }
      *why = absl::StrCat("no replication progress for learner ", id);
      return v1::LEARNER_NOT_READY;
    }
    case raft::ConfChange::REMOVE_NODE: {
      if (!voter && !learner) {
        *why = absl::StrCat("member ", id, " does not exist");
        return v1::MEMBER_NOT_FOUND;
      }
      if (!voter) return v1::OK;
      // The voters that remain must still hold a live majority among
      // themselves, or the cluster stops committing.
      int remaining = 0;
      int live = 0;
      for (raft::NodeId v : cs.voters()) {
        if (v == id) continue;
        ++remaining;
        if (v == options_.self) {
          ++live;
          continue;
        }
        // Live: heard from within the last election timeout (check-quorum)
        // and its stream is up (a killed peer breaks it at once).
        for (const raft::ProgressStatus& p : st.progress) {
          if (p.id == v && p.recent_active && transport_->Reachable(v)) ++live;
        }
      }
      if (remaining == 0 || live < remaining / 2 + 1) {
        *why = absl::StrCat("removing ", id, " leaves ", live, " live of ", remaining,
                            " voters: no majority");
        return v1::UNSAFE_MEMBERSHIP_CHANGE;
      }
      return v1::OK;
    }
    default:
      *why = "unknown membership change";
      return v1::INVALID_ARGUMENT;
  }
}

void RaftDriver::DoMembership(const MembershipRequest& request) {
  Outcome refused;
  auto refuse = [&](v1::ErrorCode code, std::string why) {
    refused.code = code;
    refused.message = std::move(why);
    tracker_->Complete(request.request_id, refused);
  };
  if (soft_.role != raft::Role::kLeader) {
    refuse(v1::NOT_LEADER, "membership changes go to the leader");
    return;
  }
  if (request.kind == MembershipRequest::Kind::kTransfer) {
    const raft::ConfState cs = node_->GetStatus().conf_state;
    if (std::find(cs.voters().begin(), cs.voters().end(), request.transferee) ==
        cs.voters().end()) {
      refuse(v1::MEMBER_NOT_FOUND, absl::StrCat("member ", request.transferee, " is not a voter"));
      return;
    }
    if (request.transferee == options_.self) {
      tracker_->Complete(request.request_id, Outcome());  // already leading
      return;
    }
    if (pending_transfer_.has_value()) {
      refuse(v1::MEMBERSHIP_CHANGE_IN_PROGRESS, "a leadership transfer is under way");
      return;
    }
    pending_transfer_ = request;
    transfer_age_ticks_ = 0;
    node_->TransferLeader(request.transferee);
    return;
  }
  std::string why;
  if (v1::ErrorCode code = CheckMembership(request.change, &why); code != v1::OK) {
    refuse(code, why);
    return;
  }
  if (pending_change_.has_value() && tracker_->Pending(pending_change_->request_id)) {
    refuse(v1::MEMBERSHIP_CHANGE_IN_PROGRESS, "another membership change is under way");
    return;
  }
  absl::Status s = node_->ProposeConfChange(request.change);
  if (!s.ok()) {
    const v1::ErrorCode code = s.code() == absl::StatusCode::kAlreadyExists ? v1::MEMBER_EXISTS
                               : s.code() == absl::StatusCode::kNotFound    ? v1::MEMBER_NOT_FOUND
                               : s.code() == absl::StatusCode::kInvalidArgument
                                   ? v1::INVALID_ARGUMENT
                                   : v1::MEMBERSHIP_CHANGE_IN_PROGRESS;
    refuse(code, std::string(s.message()));
    return;
  }
  pending_change_ = request;
  tracker_->MarkProposed({request.request_id});
}

const RaftDriver::ConfPoint& RaftDriver::ConfAt(raft::LogIndex index) const {
  for (auto it = conf_history_.rbegin(); it != conf_history_.rend(); ++it) {
    if (it->index <= index) return *it;
  }
  return conf_history_.front();
}

// ---- Snapshots ----------------------------------------------------------------

void RaftDriver::OnSnapshotInstalled(const raft::Snapshot& snapshot) {
  absl::StatusOr<std::vector<v1::Member>> members = DecodeDescriptor(snapshot.data());
  SYNOD_CHECK_OK(members.status()) << "snapshot from the leader";
  ConfPoint point;
  point.index = snapshot.metadata().index();
  point.conf_state = snapshot.metadata().conf_state();
  for (const v1::Member& m : *members) point.members[m.id()] = m;
  conf_history_ = {point};
  pending_snapshot_.reset();
  last_snapshot_index_ = point.index;
  // Older files go, except one the apply thread has yet to restore: a
  // snapshot installed in an earlier Ready may still wait in its queue
  // (two snapshots can arrive back to back while it is busy), and it
  // restores each in turn. Those are above its applied index.
  snapshots_->Prune(std::min<uint64_t>(point.index, state_machine_->applied() + 1));
  InstallMembership(point);
  if (metrics_ != nullptr) metrics_->snapshots_received->Inc();
  // The event line of a snapshot received: the core took it and the log
  // now starts after it (the line the transport logs when the file arrives
  // does not mean the core accepted it). Tests look for "installed snapshot".
  base::Log(
      "event=snapshot_received index=%llu term=%llu msg=\"installed snapshot from the leader\"",
      static_cast<unsigned long long>(point.index),
      static_cast<unsigned long long>(snapshot.metadata().term()));
}

void RaftDriver::MaybeRequestSnapshot() {
  if (snapshot_requested_ || options_.snapshot_threshold == 0) return;
  // A large state is snapshotted less often (Snapshotter::MinEntriesBetween).
  const uint64_t between = std::max(options_.snapshot_threshold, snapshotter_.MinEntriesBetween());
  if (state_machine_->applied() < last_snapshot_index_ + between) return;
  snapshot_requested_ = true;
  snapshotter_.Request();
}

void RaftDriver::OnSnapshotCreated(uint64_t index, bool ok) {
  snapshot_requested_ = false;
  if (!ok || index <= last_snapshot_index_) return;
  absl::StatusOr<raft::Term> term = log_->TermAt(index);
  if (!term.ok()) {
    // The log moved past it (a snapshot from the leader was installed).
    return;
  }
  if (pending_snapshot_.has_value()) {
    // The previous file becomes the log snapshot: compact up to it.
    raft::Snapshot snap;
    snap.mutable_metadata()->set_index(pending_snapshot_->index);
    snap.mutable_metadata()->set_term(pending_snapshot_->term);
    *snap.mutable_metadata()->mutable_conf_state() = pending_snapshot_->conf.conf_state;
    std::vector<v1::Member> members;
    for (const auto& [id, m] : pending_snapshot_->conf.members) members.push_back(m);
    snap.set_data(EncodeDescriptor(members));
    absl::Status s = log_->SaveSnapshot(snap);
    if (s.ok()) {
      const raft::LogIndex compacted = pending_snapshot_->index;
      snapshots_->Prune(compacted);
      // Keep the membership point in force at the new log snapshot.
      while (conf_history_.size() > 1 && conf_history_[1].index <= compacted) {
        conf_history_.erase(conf_history_.begin());
      }
    } else {
      base::Log("log compaction to %llu skipped: %s",
                static_cast<unsigned long long>(pending_snapshot_->index), s.ToString().c_str());
    }
  }
  pending_snapshot_ = PendingSnapshot{index, *term, ConfAt(index)};
  pending_snapshot_->conf.index = index;
  last_snapshot_index_ = index;
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
