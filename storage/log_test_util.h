// Test helpers for the Raft log (LogStore): what the tests save (entries,
// hard states, snapshots) and the options a test store opens with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "raft/types.h"
#include "storage/file_io.h"
#include "storage/log_store.h"

namespace synod::storage::testing {

// The data of entry `index` of `term`: it names both, so an entry replaced
// by another term's (a new leader's tail, §5.3) reads differently.
std::string EntryData(raft::LogIndex index, raft::Term term);

// Entry `index` of `term` holding EntryData(index, term).
raft::Entry MakeEntry(raft::LogIndex index, raft::Term term);
// Entry `index` of `term` holding `data`.
raft::Entry MakeEntry(raft::LogIndex index, raft::Term term, std::string data);
// Entries lo..hi (inclusive) of `term`, as MakeEntry(i, term).
std::vector<raft::Entry> Range(raft::LogIndex lo, raft::LogIndex hi, raft::Term term);

raft::HardState Hard(raft::Term term, raft::NodeId vote, raft::LogIndex commit);
// A snapshot at (index, term) of the configuration `voters`, whose data is
// "state@<index>".
raft::Snapshot Snap(raft::LogIndex index, raft::Term term,
                    const std::vector<raft::NodeId>& voters = {1});

// A store in `dir` with segments of `segment_bytes` and an entry cache of
// `cache_bytes`. With `io`, on that file system and without the background
// spare segment, so that its faults meet one file order.
LogStore::Options LogOptions(const std::string& dir, uint64_t segment_bytes, size_t cache_bytes,
                             FileIO* io = nullptr);

}  // namespace synod::storage::testing
