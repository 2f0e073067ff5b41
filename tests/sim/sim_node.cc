#include "tests/sim/sim_node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::sim {

using raft::Entry;
using raft::LogIndex;
using raft::Message;
using raft::Ready;

namespace {

// What a refused message must leave as it was: term, vote, commit, leader,
// role, log, election timer, transfer, and the leader's view of each peer.
std::string StateForComparison(const raft::RawNode& core) {
  const raft::Status st = core.GetStatus();
  std::string s =
      absl::StrCat(st.hard_state.term(), "/", st.hard_state.vote(), "/", st.hard_state.commit(),
                   " lead=", st.soft_state.leader, " role=", raft::RoleName(st.soft_state.role),
                   " last=", st.last_index, " applied=", st.applied,
                   " elapsed=", st.election_elapsed, " transferee=", st.lead_transferee);
  for (const raft::ProgressStatus& p : st.progress) {
    absl::StrAppend(&s, " n", p.id, ":", p.match, "/", p.next, "/", static_cast<int>(p.state),
                    p.recent_active ? "/active" : "");
  }
  return s;
}

std::string Describe(const Message& m) {
  const std::string& name = raftpb::MessageType_Name(m.type());
  std::string s =
      absl::StrCat(name.empty() ? absl::StrCat("type_", static_cast<int>(m.type())) : name, " ",
                   m.from(), "->", m.to(), " term=", m.term());
  switch (m.type()) {
    case raftpb::MSG_APP:
      absl::StrAppend(&s, " prev=", m.index(), "/", m.log_term(), " n=", m.entries_size(),
                      " commit=", m.commit());
      break;
    case raftpb::MSG_APP_RESP:
      absl::StrAppend(&s, " index=", m.index(), m.reject() ? " reject hint=" : "",
                      m.reject() ? absl::StrCat(m.reject_hint(), "/", m.log_term()) : "");
      break;
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      absl::StrAppend(&s, " last=", m.index(), "/", m.log_term(), m.force() ? " force" : "");
      break;
    case raftpb::MSG_VOTE_RESP:
    case raftpb::MSG_PRE_VOTE_RESP:
      absl::StrAppend(&s, m.reject() ? " reject" : " grant");
      break;
    case raftpb::MSG_HEARTBEAT:
      absl::StrAppend(&s, " commit=", m.commit());
      break;
    case raftpb::MSG_SNAP:
      absl::StrAppend(&s, " snap=", m.snapshot().metadata().index(), "/",
                      m.snapshot().metadata().term());
      break;
    case raftpb::MSG_READ_INDEX_RESP:
      absl::StrAppend(&s, " index=", m.index());
      break;
    default:
      break;
  }
  return s;
}

}  // namespace

SimNode::SimNode(raft::NodeId id, Host* host, DurableLog* log, Options options)
    : id_(id), host_(host), log_(log), options_(std::move(options)) {}

void SimNode::Trace(absl::string_view text) {
  if (host_->tracer().on()) host_->tracer().Line(absl::StrCat("n", id_, " ", text));
}

void SimNode::Start(uint64_t incarnation, uint64_t seed) {
  incarnation_ = incarnation;
  sm_ = ListStateMachine();
  if (log_->snapshot().metadata().index() > 0) {
    if (absl::Status s = sm_.Restore(log_->snapshot()); !s.ok()) {
      Fail(absl::StrCat("node ", id_, " cannot restore its durable snapshot: ", s.ToString()));
      return;
    }
  }
  host_->checker().OnRestart(id_, *log_);
  raft::Config config = options_.config;
  config.id = id_;
  config.storage = log_;
  config.applied = sm_.applied();
  config.seed = seed;
  absl::StatusOr<std::unique_ptr<raft::RawNode>> core = raft::RawNode::Create(config);
  if (!core.ok()) {
    Fail(absl::StrCat("node ", id_, ": RawNode::Create: ", core.status().ToString()));
    return;
  }
  core_ = *std::move(core);
  alive_ = true;
  pending_.reset();
  inbox_.clear();
  reads_.clear();
  last_ready_ = 0;
  commit_ = log_->hard_state().commit();
  role_ = raft::Role::kFollower;
  term_ = log_->hard_state().term();
  Trace(absl::StrCat("start #", incarnation, " term=", term_, " commit=", commit_, " applied=",
                     sm_.applied(), " log=[", log_->FirstIndex(), ",", log_->LastIndex(), "]"));
  RunReady();
}

void SimNode::Crash() {
  if (!alive_) return;
  Trace(absl::StrCat("crash", pending_ ? " (losing an unfinished write)" : ""));
  alive_ = false;
  core_.reset();
  pending_.reset();
  inbox_.clear();
  reads_.clear();
  log_->Crash();
  role_ = raft::Role::kFollower;
}

void SimNode::Input(std::function<void()> fn) {
  if (!alive_) return;
  if (pending_) {
    if (options_.step_while_writing) {
      fn();  // the next Ready waits for Advance
    } else {
      inbox_.push_back(std::move(fn));
    }
    return;
  }
  fn();
  RunReady();
}

void SimNode::Deliver(Message message, std::function<void(absl::Status)> done) {
  Input([this, m = std::move(message), done = std::move(done)]() mutable {
    if (host_->tracer().on()) Trace(absl::StrCat("recv ", Describe(m)));
    if (!done) {
      absl::Status s = core_->Step(std::move(m));
      if (!s.ok() && host_->tracer().on()) Trace(absl::StrCat("step: ", s.ToString()));
      return;
    }
    const std::string what = Describe(m);
    const std::string before = StateForComparison(*core_);
    const bool had_ready = core_->HasReady();
    absl::Status s = core_->Step(std::move(m));
    if (!s.ok()) {
      if (host_->tracer().on()) Trace(absl::StrCat("step: ", s.ToString()));
      if (StateForComparison(*core_) != before || core_->HasReady() != had_ready) {
        Fail(absl::StrCat("n", id_, " refused ", what, " (", s.ToString(),
                          ") but its state changed"));
      }
    }
    done(s);
  });
}

void SimNode::Tick() {
  Input([this] { core_->Tick(); });
}

void SimNode::Propose(std::string data, std::function<void(absl::Status)> done) {
  Input([this, data = std::move(data), done = std::move(done)]() mutable {
    done(core_->Propose(std::move(data)));
  });
}

void SimNode::ProposeConfChange(raft::ConfChange change, std::function<void(absl::Status)> done) {
  Input([this, change = std::move(change), done = std::move(done)] {
    done(core_->ProposeConfChange(change));
  });
}

void SimNode::ReadIndex(std::string context) {
  Input([this, context = std::move(context)]() mutable { core_->ReadIndex(std::move(context)); });
}

void SimNode::TransferLeader(raft::NodeId transferee) {
  Input([this, transferee] { core_->TransferLeader(transferee); });
}

void SimNode::ReportSnapshot(raft::NodeId to, bool success) {
  Input([this, to, success] { core_->ReportSnapshot(to, success); });
}

void SimNode::ReportUnreachable(raft::NodeId to) {
  Input([this, to] { core_->ReportUnreachable(to); });
}

void SimNode::ForceSnapshot() {
  Input([this] { MaybeSnapshot(/*force=*/true); });
}

void SimNode::RunReady() {
  while (alive_ && !pending_ && !host_->checker().failed() && core_->HasReady()) {
    HandleReady(core_->GetReady());
  }
}

void SimNode::CheckReady(const Ready& rd) {
  if (last_ready_ != 0 && rd.number != last_ready_ + 1) {
    Fail(absl::StrCat("node ", id_, ": Ready number ", rd.number, " follows ", last_ready_));
  }
  last_ready_ = rd.number;
  const raft::HardState& durable = log_->hard_state();
  const bool term_or_vote_changed = rd.hard_state && (rd.hard_state->term() != durable.term() ||
                                                      rd.hard_state->vote() != durable.vote());
  if (!rd.must_sync && (!rd.entries.empty() || rd.snapshot || term_or_vote_changed)) {
    Fail(absl::StrCat("node ", id_, ": Ready ", rd.number,
                      " has must_sync=false but carries entries, a snapshot or a new term/vote"));
  }
  if (!rd.must_sync && rd.hard_state && rd.hard_state->commit() > durable.commit()) {
    // ready.h: a commit index that passes a membership change is synced.
    for (LogIndex i = std::max(durable.commit(), log_->FirstIndex() - 1) + 1;
         i <= rd.hard_state->commit() && i <= log_->LastIndex(); ++i) {
      absl::StatusOr<std::vector<Entry>> e = log_->Entries(i, i + 1, 0);
      if (e.ok() && e->front().type() == raftpb::ENTRY_CONF_CHANGE) {
        Fail(absl::StrCat("node ", id_, ": Ready ", rd.number, " commits membership change ", i,
                          " with must_sync=false"));
        break;
      }
    }
  }
  for (size_t k = 1; k < rd.entries.size(); ++k) {
    if (rd.entries[k].index() != rd.entries[k - 1].index() + 1) {
      Fail(absl::StrCat("node ", id_, ": Ready entries not contiguous at ", rd.entries[k].index()));
    }
  }
  const LogIndex new_commit = rd.hard_state ? rd.hard_state->commit() : commit_;
  if (new_commit < commit_) {
    Fail(absl::StrCat("node ", id_, ": commit goes back from ", commit_, " to ", new_commit));
  }
  LogIndex next = (rd.snapshot ? rd.snapshot->metadata().index() : sm_.applied()) + 1;
  if (rd.snapshot && rd.snapshot->metadata().index() <= sm_.applied()) {
    Fail(absl::StrCat("node ", id_, ": snapshot at ", rd.snapshot->metadata().index(),
                      " is not ahead of applied ", sm_.applied()));
  }
  for (const Entry& e : rd.committed_entries) {
    if (e.index() != next) {
      Fail(absl::StrCat("node ", id_, ": committed entry ", e.index(), " handed out, expected ",
                        next, " (applied must move by one)"));
      break;
    }
    if (e.index() > std::max(new_commit, commit_)) {
      Fail(absl::StrCat("node ", id_, ": entry ", e.index(), " handed out to apply above commit ",
                        new_commit));
      break;
    }
    ++next;
  }
  // Acknowledgements that promise durability must wait for the write.
  const LogIndex first_new = rd.entries.empty() ? 0 : rd.entries.front().index();
  for (const Message& m : rd.messages) {
    if (m.to() == id_ || m.to() == raft::kNoNode) {
      Fail(absl::StrCat("node ", id_, " sends ", Describe(m), " to itself or nobody"));
    }
    if (m.type() == raftpb::MSG_APP_RESP && !m.reject() && first_new != 0 &&
        m.index() >= first_new) {
      Fail(absl::StrCat("node ", id_, " acks entries up to ", m.index(),
                        " in `messages` before persisting them"));
    }
    if (m.type() == raftpb::MSG_VOTE_RESP && !m.reject() && term_or_vote_changed) {
      Fail(absl::StrCat("node ", id_, " grants a vote in `messages` before persisting it"));
    }
  }
}

void SimNode::HandleReady(Ready rd) {
  CheckReady(rd);
  if (host_->tracer().on()) {
    std::string s = absl::StrCat("ready #", rd.number);
    if (rd.soft_state) {
      absl::StrAppend(&s, " role=", raft::RoleName(rd.soft_state->role),
                      " leader=", rd.soft_state->leader);
    }
    if (rd.hard_state) {
      absl::StrAppend(&s, " hs=", rd.hard_state->term(), "/", rd.hard_state->vote(), "/",
                      rd.hard_state->commit());
    }
    if (rd.snapshot) absl::StrAppend(&s, " snap=", rd.snapshot->metadata().index());
    if (!rd.entries.empty()) {
      absl::StrAppend(&s, " append=[", rd.entries.front().index(), ",", rd.entries.back().index(),
                      "]@", rd.entries.back().term());
    }
    if (!rd.committed_entries.empty()) {
      absl::StrAppend(&s, " apply=[", rd.committed_entries.front().index(), ",",
                      rd.committed_entries.back().index(), "]");
    }
    if (!rd.read_states.empty()) absl::StrAppend(&s, " reads=", rd.read_states.size());
    absl::StrAppend(&s, " msgs=", rd.messages.size(), "+", rd.persisted_messages.size());
    Trace(s);
  }
  if (rd.soft_state) {
    const bool became_leader =
        rd.soft_state->role == raft::Role::kLeader && role_ != raft::Role::kLeader;
    role_ = rd.soft_state->role;
    if (became_leader) {
      term_ = core_->GetStatus().hard_state.term();
      const auto& voters = sm_.conf_state().voters();
      if (std::find(voters.begin(), voters.end(), id_) == voters.end()) {
        Fail(absl::StrCat("node ", id_, " becomes leader of term ", term_,
                          " but is not a voter in its configuration"));
      }
      host_->checker().OnLeader(id_, term_, *log_);
    }
  }
  if (rd.hard_state) term_ = rd.hard_state->term();
  for (const Message& m : rd.messages) host_->Send(m);
  const bool writes = rd.snapshot || !rd.entries.empty() || rd.hard_state;
  if (writes) {
    const uint64_t delay = host_->DiskDelay(id_);
    if (delay > 0) {
      pending_ = std::move(rd);
      host_->ScheduleDiskDone(id_, incarnation_, host_->Now() + delay);
      return;
    }
  }
  FinishReady(std::move(rd));
}

void SimNode::DiskDone(uint64_t incarnation) {
  if (!alive_ || incarnation != incarnation_ || !pending_) return;
  Ready rd = std::move(*pending_);
  pending_.reset();
  FinishReady(std::move(rd));
  // Everything that arrived during the write reaches the core before its
  // next Ready, as a real driver's batching loop would do.
  while (alive_ && !pending_ && !inbox_.empty()) {
    std::function<void()> fn = std::move(inbox_.front());
    inbox_.pop_front();
    fn();
  }
  RunReady();
}

void SimNode::FinishReady(Ready rd) {
  Checker& checker = host_->checker();
  const raft::HardState before = log_->hard_state();
  if (rd.snapshot) {
    if (absl::Status s = log_->ApplySnapshot(*rd.snapshot); !s.ok()) {
      Fail(absl::StrCat("node ", id_, " persists a snapshot: ", s.ToString()));
      return;
    }
  }
  if (!rd.entries.empty()) {
    checker.OnAppend(id_, *log_, rd.entries);
    if (absl::Status s = log_->Append(rd.entries); !s.ok()) {
      Fail(absl::StrCat("node ", id_, " persists entries: ", s.ToString()));
      return;
    }
  }
  if (rd.hard_state) {
    log_->SetHardState(*rd.hard_state);
    checker.OnHardState(id_, before, *rd.hard_state, *log_);
    if (rd.hard_state->vote() == id_) checker.OnVote(id_, rd.hard_state->term(), id_);
    commit_ = std::max(commit_, rd.hard_state->commit());
  }
  if (rd.must_sync || rd.snapshot || !rd.entries.empty()) log_->Sync();
  if (rd.hard_state && rd.hard_state->commit() > before.commit() && role_ == raft::Role::kLeader) {
    host_->OnLeaderCommit(id_, rd.hard_state->commit(), sm_.conf_state());
  }
  if (checker.failed()) return;
  for (const Message& m : rd.persisted_messages) host_->Send(m);

  if (rd.snapshot) {
    if (absl::Status s = sm_.Restore(*rd.snapshot); !s.ok()) {
      Fail(absl::StrCat("node ", id_, " installs a snapshot: ", s.ToString()));
      return;
    }
    checker.OnSnapshot(id_, term_, rd.snapshot->metadata(), sm_.digest());
    Trace(absl::StrCat("installed snapshot ", rd.snapshot->metadata().index()));
  }
  for (const Entry& e : rd.committed_entries) {
    if (!alive_ || checker.failed()) return;
    ApplyEntry(e);
  }
  for (raft::ReadState& rs : rd.read_states) reads_.push_back(std::move(rs));
  ServeReads();
  core_->Advance(rd);
  MaybeSnapshot(/*force=*/false);
}

void SimNode::ApplyEntry(const Entry& e) {
  if (e.index() != sm_.applied() + 1) {
    Fail(absl::StrCat("node ", id_, " would apply ", e.index(), " after ", sm_.applied()));
    return;
  }
  // What is applied must be durable here (ready.h: apply after the write).
  absl::StatusOr<raft::Term> durable = log_->TermAt(e.index());
  if (durable.ok() ? *durable != e.term() : !absl::IsOutOfRange(durable.status())) {
    Fail(absl::StrCat("node ", id_, " applies entry ", e.index(), " term ", e.term(),
                      " that its disk does not hold"));
    return;
  }
  sm_.Apply(e);
  host_->checker().OnApply(id_, term_, e, sm_.digest());
  if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
    raft::ConfChange cc;
    if (!cc.ParseFromString(e.data())) {
      Fail(absl::StrCat("node ", id_, ": entry ", e.index(), " is not a ConfChange"));
      return;
    }
    raft::ConfState cs = core_->ApplyConfChange(cc);
    sm_.set_conf_state(cs);
    Trace(absl::StrCat("apply conf change ", raftpb::ConfChange::Type_Name(cc.type()), " ",
                       cc.node_id(), " at ", e.index(), " -> voters=", cs.voters_size(),
                       " learners=", cs.learners_size()));
    host_->OnConfChange(id_, cc, cs);
  }
  host_->OnApplied(id_, incarnation_, e);
}

void SimNode::ServeReads() {
  auto ready = std::stable_partition(reads_.begin(), reads_.end(), [&](const raft::ReadState& r) {
    return r.index > sm_.applied();
  });
  std::vector<raft::ReadState> serve(std::make_move_iterator(ready),
                                     std::make_move_iterator(reads_.end()));
  reads_.erase(ready, reads_.end());
  for (const raft::ReadState& r : serve) {
    host_->OnRead(id_, incarnation_, r.context, r.index, sm_.applied());
  }
}

void SimNode::MaybeSnapshot(bool force) {
  const LogIndex snap = log_->snapshot().metadata().index();
  if (sm_.applied() <= snap) return;
  if (!force && (options_.snapshot_every == 0 || sm_.applied() - snap < options_.snapshot_every)) {
    return;
  }
  if (absl::Status s = log_->CreateSnapshot(sm_.applied(), sm_.conf_state(), sm_.Serialize());
      !s.ok()) {
    Fail(absl::StrCat("node ", id_, " snapshots at ", sm_.applied(), ": ", s.ToString()));
    return;
  }
  // A synced snapshot write makes the commit index that covers it (in the
  // hard state, maybe not yet synced) durable with it; otherwise a restart
  // may find applied > commit, which the core accepts.
  if (options_.snapshot_syncs_commit) log_->Sync();
  const LogIndex upto =
      sm_.applied() > options_.compact_margin ? sm_.applied() - options_.compact_margin : 0;
  if (absl::Status s = log_->Compact(upto); !s.ok()) {
    Fail(absl::StrCat("node ", id_, " compacts to ", upto, ": ", s.ToString()));
    return;
  }
  Trace(absl::StrCat("snapshot at ", sm_.applied(), ", log now [", log_->FirstIndex(), ",",
                     log_->LastIndex(), "]"));
}

}  // namespace synod::sim
