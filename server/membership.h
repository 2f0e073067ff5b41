// Membership: the members this replica's core works with, as the log
// changes them, and the membership changes and leadership transfers this
// replica carries out as leader.
//
// It keeps the membership history from the log snapshot on (a point per
// applied membership change, ascending by index; the last one is in force),
// so a log snapshot taken at any applied index records the members as of
// that index (At). Each change it applies is installed at once: the
// replica's member list and the peers the transport dials (`install`).
//
// As leader it checks a requested change before proposing it (Request):
// the member must (not) exist, a new member needs a peer address no other
// member uses, a learner is promoted only once it has caught up, and a
// voter is removed only if the voters left hold a live majority. One change
// at a time (§4.1: the core refuses a second until the first is applied);
// the request completes once the change is applied here. A leadership
// transfer (§3.10) completes once the transferee leads; the core abandons
// a transfer after an election timeout, so while the request waits it is
// asked again every election timeout (Tick).
//
// Promises: every request handed to Request is completed exactly once
// through `complete` (refused at once, or OK when its change is applied or
// its transferee leads), unless `pending` says it finished elsewhere (its
// deadline).
//
// Thread: the raft thread only (the owner of the RawNode).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "raft/raw_node.h"
#include "raft/types.h"
#include "server/request_tracker.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

// A membership change or leadership transfer asked of the leader.
struct MembershipRequest {
  enum class Kind { kChange, kTransfer };
  Kind kind = Kind::kChange;
  raft::ConfChange change;                  // kChange; context = serialized v1::Member
  raft::NodeId transferee = raft::kNoNode;  // kTransfer
  uint64_t request_id = 0;                  // tracker id completed with the outcome
};

class Membership {
 public:
  struct Options {
    raft::NodeId self = raft::kNoNode;
    // A learner is promoted only if its log is at most this many entries
    // behind the leader's.
    uint64_t max_learner_lag = 1000;
    // How long the core pursues a transfer before abandoning it.
    int election_ticks = 10;
    // Peers to talk to while no membership is known (a member that joins
    // with an empty log).
    std::map<raft::NodeId, std::string> seed_peers;
  };
  struct Hooks {
    // Whether request `id` still waits.
    std::function<bool(uint64_t id)> pending;
    std::function<void(uint64_t id, const Outcome& outcome)> complete;
    // The change request `id` reached the core's log.
    std::function<void(uint64_t id)> mark_proposed;
    // Whether the link to `peer` is up (a killed peer breaks it at once).
    std::function<bool(raft::NodeId peer)> reachable;
    // The membership in force is now `members`; `peers` (every other member
    // with a peer address, or the seed peers) is whom to dial.
    std::function<void(std::vector<v1::Member> members, std::map<raft::NodeId, std::string> peers)>
        install;
  };
  // Membership as of a log index.
  struct Point {
    raft::LogIndex index = 0;
    raft::ConfState conf_state;
    std::map<raft::NodeId, v1::Member> members;
  };

  Membership(const Options& options, Hooks hooks);

  // Starts the history at `start` (the log snapshot at startup, or one
  // installed from the leader) and installs it.
  void Reset(Point start);
  // The membership in force, and as of `index` (the earliest point known
  // if `index` precedes the history).
  const Point& current() const { return history_.back(); }
  const Point& At(raft::LogIndex index) const;
  bool IsMember(raft::NodeId id) const;
  // The log was compacted up to `index`: keeps the point in force there.
  void Compact(raft::LogIndex index);

  // Applies the committed membership change `entry` to `node`, records and
  // installs the result, and completes the request that proposed it.
  void ApplyEntry(raft::RawNode* node, const raft::Entry& entry);
  // Carries out `request` (see the class comment); `role` is this
  // replica's, as of the last Ready.
  void Request(raft::RawNode* node, raft::Role role, const MembershipRequest& request);
  // A Ready named `leader`: completes a transfer to it.
  void OnLeader(raft::NodeId leader);
  // One tick: asks the core again for a transfer still waited for.
  void Tick(raft::RawNode* node, raft::Role role);

 private:
  // Why `change` is unsafe or invalid now (OK if it may be proposed).
  v1::ErrorCode Check(const raft::RawNode& node, const raft::ConfChange& change,
                      std::string* why) const;
  void Install(const Point& point);
  void Refuse(uint64_t id, v1::ErrorCode code, std::string why);

  const Options options_;
  const Hooks hooks_;
  // Never empty once Reset ran; ascending by index.
  std::vector<Point> history_;
  // The change / transfer this leader proposed and a request waits for.
  std::optional<MembershipRequest> pending_change_;
  std::optional<MembershipRequest> pending_transfer_;
  int transfer_age_ticks_ = 0;
};

}  // namespace synod::server
