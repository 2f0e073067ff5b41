// ZooKeeper's own nodes, as its clients see them on every ZooKeeper 3.8
// server: /zookeeper, /zookeeper/config and /zookeeper/quota. Synod's tree
// does not hold them; the ZooKeeper port answers the Tree calls that name
// them here, so `ls /` in zkCli, Curator's ensemble tracker (a watched
// getData of /zookeeper/config) and getAllChildrenNumber see what they see
// on ZooKeeper.
//
// Promises:
//  - Reads (get, exists, getChildren, getACL) of the three nodes answer as
//    ZooKeeper does with a static configuration: empty data, version 0,
//    /zookeeper with the children config and quota, /zookeeper/config
//    readable by anyone and writable by no one (world:anyone:r), the others
//    world:anyone:cdrwa. Any other path under /zookeeper does not exist.
//  - Writes that name /zookeeper or a path under it change nothing: a create
//    of one of the three nodes is NODE_EXISTS, a delete of /zookeeper
//    NOT_EMPTY, a write of a missing path under it NO_NODE, any other write
//    PERMISSION_DENIED (ZooKeeper lets a client add nodes under /zookeeper
//    and set /zookeeper and /zookeeper/quota; Synod keeps the subtree
//    fixed, a documented difference). A check of one of the three nodes
//    passes when its expected version is absent, -1 or 0.
//  - A multi that names the subtree fails at the first op here that fails,
//    with ROLLED_BACK before it and RUNTIME_INCONSISTENCY after it, without
//    reaching the replica; when every such op is a passing check, the rest
//    runs on the replica and the checks' results are put back in place.
//  - Replies about "/" count /zookeeper among its children (the stat's
//    numChildren, and the listing's last page).
//
// Thread: none of its own; pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "synod/v1/tree.pb.h"

namespace synod::zk {

// "/zookeeper" or a path under it.
bool IsSystemPath(std::string_view path);
// One of the three nodes.
bool IsSystemNode(std::string_view path);

// ZooKeeper's getAllChildrenNumber of a system node (2 for /zookeeper, 0
// for the others), and how many system nodes "/" has below it (3).
int64_t SystemDescendants(std::string_view path);

// True if `call` names a system path and was answered in `reply` (its
// header's revision is `revision`, the replica's applied revision).
bool AnswerSystemCall(const v1::PipelineCall& call, uint64_t revision, v1::PipelineReply* reply);

// A multi whose system ops are all passing checks, split for the replica:
// `forward` is the multi without them, `check_at` their indices.
struct SplitMulti {
  v1::PipelineCall forward;
  std::vector<int> check_at;
};
// Splits `call` when it is a multi with such checks and other ops; false if
// it is not one (AnswerSystemCall answers the rest).
bool SplitSystemChecks(const v1::PipelineCall& call, SplitMulti* split);
// Puts the checks' results back into the replica's reply of split.forward.
void MergeSystemChecks(const SplitMulti& split, v1::PipelineReply* reply);

// A read of "/" (get, exists, getACL, getChildren), whose reply
// ShowSystemNodesUnderRoot adjusts.
bool IsAboutRoot(const v1::PipelineCall& call);
// Adds /zookeeper to a reply about "/" (see the class comment).
void ShowSystemNodesUnderRoot(const v1::PipelineCall& call, v1::PipelineReply* reply);

}  // namespace synod::zk
