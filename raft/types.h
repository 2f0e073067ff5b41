// Basic Raft vocabulary shared by the core, its storage and its drivers.
#pragma once

#include <cstdint>

#include "synod/v1/raft.pb.h"

namespace synod::raft {

using NodeId = uint64_t;  // 0 means "none"
using Term = uint64_t;
using LogIndex = uint64_t;  // first real entry is 1; 0 is "before the log"

inline constexpr NodeId kNoNode = 0;

using Entry = synod::raftpb::Entry;
using HardState = synod::raftpb::HardState;
using ConfState = synod::raftpb::ConfState;
using ConfChange = synod::raftpb::ConfChange;
using Snapshot = synod::raftpb::Snapshot;
using SnapshotMetadata = synod::raftpb::SnapshotMetadata;
using Message = synod::raftpb::Message;
using MessageType = synod::raftpb::MessageType;

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };

const char* RoleName(Role role);

// Requests a follower forwards to the leader it knows. Their `from` names
// the originator, not the node that passed them on: the proposer or reader
// (whom the leader answers), the transferee of a transfer. Around a leader
// change a request may be passed on twice, or come back to its originator.
inline bool IsForwardedRequest(MessageType t) {
  return t == synod::raftpb::MSG_PROP || t == synod::raftpb::MSG_READ_INDEX ||
         t == synod::raftpb::MSG_TRANSFER_LEADER;
}

// Size of an entry as counted against the byte limits of messages, Readies
// and the uncommitted tail: payload plus a fixed allowance for the header.
inline uint64_t EntryBytes(const Entry& entry) { return entry.data().size() + 16; }

}  // namespace synod::raft
