// Synod error codes as ZooKeeper's KeeperException codes, in one place.
//
// Some Synod outcomes have no ZooKeeper code because ZooKeeper answers them
// by dropping the connection (the client then reconnects to another server
// and retries as its own rules say): no leader, this replica too far behind
// the client. ZkDropsConnection says which.
#pragma once

#include <cstdint>

#include "synod/v1/common.pb.h"

namespace synod::zk {

int32_t ToZkError(v1::ErrorCode code);

// True for the codes ZooKeeper answers by closing the connection.
bool ZkDropsConnection(v1::ErrorCode code);

}  // namespace synod::zk
