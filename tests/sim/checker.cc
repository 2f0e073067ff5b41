#include "tests/sim/checker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "tests/sim/state_machine.h"
#include "tests/sim/trace.h"

namespace synod::sim {

using raft::Entry;
using raft::LogIndex;
using raft::NodeId;
using raft::Term;

void Checker::Fail(const std::string& what) {
  if (failure_.empty()) failure_ = absl::StrCat("t=", FormatTime(*now_), ": ", what);
}

void Checker::FailLiveness(const std::string& what) {
  if (failed()) return;
  Fail(absl::StrCat("liveness: ", what));
  liveness_failure_ = true;
}

void Checker::Commit(NodeId id, LogIndex index, Term term, Term seen_in, const char* how) {
  auto [it, inserted] = committed_.emplace(index, Committed{term, seen_in});
  if (inserted) return;
  if (it->second.term != term) {
    Fail(absl::StrCat("committed entry lost: index ", index, " was committed with term ",
                      it->second.term, ", node ", id, " ", how, " it with term ", term));
    return;
  }
  it->second.seen_in = std::min(it->second.seen_in, seen_in);
}

void Checker::OnLeader(NodeId id, Term term, const DurableLog& log) {
  auto [it, inserted] = leaders_.emplace(term, id);
  if (!inserted && it->second != id) {
    Fail(absl::StrCat("two leaders in term ", term, ": nodes ", it->second, " and ", id));
    return;
  }
  // Entries up to the snapshot are vouched for by the snapshot's digest.
  const LogIndex snap = log.snapshot().metadata().index();
  // A leader elected late in an old term may lack what a newer term
  // committed; only entries committed before its term must be there.
  for (auto c = committed_.upper_bound(snap); c != committed_.end(); ++c) {
    if (c->second.seen_in >= term) continue;
    absl::StatusOr<Term> t = log.TermAt(c->first);
    if (!t.ok() || *t != c->second.term) {
      Fail(absl::StrCat("leader completeness: node ", id, " leads term ", term, " without entry ",
                        c->first, " (term ", c->second.term, ") committed in term ",
                        c->second.seen_in, "; has ",
                        t.ok() ? absl::StrCat("term ", *t) : t.status().ToString(), ")"));
      return;
    }
  }
}

void Checker::OnAppend(NodeId id, const DurableLog& log, const std::vector<Entry>& entries) {
  for (size_t k = 0; k < entries.size(); ++k) {
    const Entry& e = entries[k];
    EntryInfo info;
    info.hash = EntryHash(e);
    if (k > 0) {
      info.prev_term = entries[k - 1].term();
      info.prev_known = true;
    } else if (absl::StatusOr<Term> t = log.TermAt(e.index() - 1); t.ok()) {
      info.prev_term = *t;
      info.prev_known = true;
    }
    if (info.prev_known && e.term() < info.prev_term) {
      Fail(absl::StrCat("log terms fall on node ", id, ": entry ", e.index(), " has term ",
                        e.term(), " after term ", info.prev_term));
      return;
    }
    auto [it, inserted] = entries_.emplace(std::make_pair(e.index(), e.term()), info);
    if (inserted) continue;
    if (it->second.hash != info.hash) {
      Fail(absl::StrCat("log matching: node ", id, " appends a different entry at index ",
                        e.index(), " term ", e.term()));
      return;
    }
    if (info.prev_known && it->second.prev_known && it->second.prev_term != info.prev_term) {
      Fail(absl::StrCat("log matching: node ", id, " has entry ", e.index(), " term ", e.term(),
                        " after term ", info.prev_term, ", elsewhere after term ",
                        it->second.prev_term));
      return;
    }
    if (!it->second.prev_known && info.prev_known) {
      it->second.prev_term = info.prev_term;
      it->second.prev_known = true;
    }
  }
}

void Checker::OnHardState(NodeId id, const raft::HardState& before, const raft::HardState& after,
                          const DurableLog& log) {
  if (after.term() < before.term()) {
    Fail(absl::StrCat("durable term of node ", id, " goes back: ", before.term(), " -> ",
                      after.term()));
    return;
  }
  if (after.term() == before.term() && before.vote() != raft::kNoNode &&
      after.vote() != before.vote()) {
    Fail(absl::StrCat("node ", id, " votes twice in term ", after.term(), ": for ", before.vote(),
                      " then ", after.vote()));
    return;
  }
  if (after.commit() < before.commit()) {
    Fail(absl::StrCat("durable commit of node ", id, " goes back: ", before.commit(), " -> ",
                      after.commit()));
    return;
  }
  if (after.commit() > log.LastIndex()) {
    Fail(absl::StrCat("node ", id, " commits ", after.commit(), " beyond its last entry ",
                      log.LastIndex()));
    return;
  }
  const LogIndex from = std::max(before.commit(), log.FirstIndex() - 1) + 1;
  for (LogIndex i = from; i <= after.commit() && !failed(); ++i) {
    absl::StatusOr<Term> t = log.TermAt(i);
    if (t.ok()) Commit(id, i, *t, after.term(), "commits");
  }
}

void Checker::OnSnapshot(NodeId id, Term term, const raft::SnapshotMetadata& metadata,
                         uint64_t digest) {
  Commit(id, metadata.index(), metadata.term(), term, "installs a snapshot with");
  auto [it, inserted] = digests_.emplace(metadata.index(), digest);
  if (!inserted && it->second != digest) {
    Fail(absl::StrCat("state machine safety: node ", id, " installs a snapshot at ",
                      metadata.index(), " whose state differs from what others applied"));
  }
}

void Checker::OnApply(NodeId id, Term term, const Entry& entry, uint64_t digest) {
  Commit(id, entry.index(), entry.term(), term, "applies");
  if (failed()) return;
  auto e = entries_.find({entry.index(), entry.term()});
  if (e == entries_.end() || e->second.hash != EntryHash(entry)) {
    Fail(absl::StrCat(
        "node ", id, " applies entry ", entry.index(), " term ", entry.term(),
        e == entries_.end() ? " that no replica appended" : " with a payload no replica appended"));
    return;
  }
  auto [it, inserted] = digests_.emplace(entry.index(), digest);
  if (!inserted && it->second != digest) {
    Fail(absl::StrCat("state machine safety: node ", id, " diverges at index ", entry.index()));
  }
}

namespace {

// Raft's up-to-date order on logs (§3.6.1): last term, then last index.
std::pair<Term, LogIndex> LastOf(const DurableLog* log) {
  if (log == nullptr) return {0, 0};
  absl::StatusOr<Term> t = log->TermAt(log->LastIndex());
  return {t.ok() ? *t : 0, log->LastIndex()};
}

bool Holds(const DurableLog* log, LogIndex index, Term term) {
  if (log == nullptr) return false;
  if (index <= log->snapshot().metadata().index()) return true;
  absl::StatusOr<Term> t = log->TermAt(index);
  return t.ok() && *t == term;
}

}  // namespace

void Checker::OnLeaderCommit(NodeId id, LogIndex commit,
                             const std::vector<std::pair<NodeId, const DurableLog*>>& voters) {
  auto c = committed_.find(commit);
  if (c == committed_.end() || voters.empty()) return;
  for (const auto& [v, log] : voters) {
    if (Holds(log, commit, c->second.term)) continue;
    const std::pair<Term, LogIndex> mine = LastOf(log);
    std::vector<NodeId> electors;
    for (const auto& [q, qlog] : voters) {
      if (LastOf(qlog) <= mine) electors.push_back(q);
    }
    if (2 * electors.size() > voters.size()) {
      std::string who;
      for (NodeId q : electors) absl::StrAppend(&who, who.empty() ? "" : ",", q);
      Fail(absl::StrCat("commit safety: leader ", id, " commits index ", commit, " (term ",
                        c->second.term, ") but node ", v, ", which lacks it (last entry ",
                        mine.second, "/", mine.first, "), can win an election with votes from {",
                        who, "}"));
      return;
    }
  }
}

void Checker::OnVote(NodeId voter, Term term, NodeId candidate) {
  auto [it, inserted] = votes_.emplace(std::make_pair(voter, term), candidate);
  if (!inserted && it->second != candidate) {
    Fail(absl::StrCat("node ", voter, " votes twice in term ", term, ": for ", it->second,
                      " and for ", candidate));
  }
}

void Checker::OnRestart(NodeId id, const DurableLog& log) {
  const LogIndex commit = log.hard_state().commit();
  for (LogIndex i = log.FirstIndex(); i <= commit && i <= log.LastIndex() && !failed(); ++i) {
    absl::StatusOr<Term> t = log.TermAt(i);
    if (t.ok()) Commit(id, i, *t, log.hard_state().term(), "restarts holding");
  }
}

}  // namespace synod::sim
