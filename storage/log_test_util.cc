#include "storage/log_test_util.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::storage::testing {

std::string EntryData(raft::LogIndex index, raft::Term term) {
  return absl::StrCat("cmd-", index, "-", term, "-", std::string(24, 'p'));
}

raft::Entry MakeEntry(raft::LogIndex index, raft::Term term) {
  return MakeEntry(index, term, EntryData(index, term));
}

raft::Entry MakeEntry(raft::LogIndex index, raft::Term term, std::string data) {
  raft::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

std::vector<raft::Entry> Range(raft::LogIndex lo, raft::LogIndex hi, raft::Term term) {
  std::vector<raft::Entry> out;
  for (raft::LogIndex i = lo; i <= hi; ++i) out.push_back(MakeEntry(i, term));
  return out;
}

raft::HardState Hard(raft::Term term, raft::NodeId vote, raft::LogIndex commit) {
  raft::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

raft::Snapshot Snap(raft::LogIndex index, raft::Term term,
                    const std::vector<raft::NodeId>& voters) {
  raft::Snapshot s;
  s.mutable_metadata()->set_index(index);
  s.mutable_metadata()->set_term(term);
  for (raft::NodeId v : voters) s.mutable_metadata()->mutable_conf_state()->add_voters(v);
  s.set_data(absl::StrCat("state@", index));
  return s;
}

LogStore::Options LogOptions(const std::string& dir, uint64_t segment_bytes, size_t cache_bytes,
                             FileIO* io) {
  LogStore::Options options;
  options.dir = dir;
  options.segment_bytes = segment_bytes;
  options.cache_bytes = cache_bytes;
  options.io = io;
  options.background_spare = io == nullptr;
  return options;
}

}  // namespace synod::storage::testing
