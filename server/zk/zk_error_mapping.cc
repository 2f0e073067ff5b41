#include "server/zk/zk_error_mapping.h"

#include "server/zk/records.h"

namespace synod::zk {

int32_t ToZkError(v1::ErrorCode code) {
  switch (code) {
    case v1::OK:
    case v1::ROLLED_BACK:  // a multi op before the failing one: ZooKeeper's result 0
      return kZOk;
    case v1::NO_NODE:
      return kZNoNode;
    case v1::NODE_EXISTS:
      return kZNodeExists;
    case v1::BAD_VERSION:
      return kZBadVersion;
    case v1::NOT_EMPTY:
      return kZNotEmpty;
    case v1::NO_CHILDREN_FOR_EPHEMERALS:
      return kZNoChildrenForEphemerals;
    case v1::INVALID_PATH:
    case v1::INVALID_ARGUMENT:
    case v1::TOO_LARGE:
    case v1::TOO_MANY_OPS:
      return kZBadArguments;
    case v1::SESSION_EXPIRED:
    case v1::EPHEMERAL_NEEDS_SESSION:
      return kZSessionExpired;
    case v1::RUNTIME_INCONSISTENCY:
      return kZRuntimeInconsistency;
    case v1::AUTH_FAILED:
    case v1::UNAUTHENTICATED:
      return kZAuthFailed;
    case v1::PERMISSION_DENIED:
      return kZNoAuth;
    case v1::INVALID_ACL:
      return kZInvalidAcl;
    case v1::DEADLINE_EXCEEDED:
      return kZOperationTimeout;
    case v1::RESOURCE_EXHAUSTED:
    case v1::TOO_MANY_WATCHES:
      return kZThrottledOp;
    case v1::QUOTA_EXCEEDED:
      return -125;  // ZooKeeper 3.8's QUOTAEXCEEDED
    default:
      return kZSystemError;
  }
}

bool ZkDropsConnection(v1::ErrorCode code) {
  return code == v1::NOT_LEADER || code == v1::UNAVAILABLE || code == v1::REVISION_AHEAD;
}

}  // namespace synod::zk
