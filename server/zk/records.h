// The records of ZooKeeper's client protocol that Synod serves, with their
// jute encoding (field order as zookeeper.jute defines them), the opcodes
// and the error codes.
//
// Decode* read one record from a JuteReader and fail with its typed error
// (jute.h) on malformed input; they never check the frame's end, since a
// frame may carry more than one record (multi): the caller does.
//
// Thread: none of its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/zk/jute.h"

namespace synod::zk {

// Request types (RequestHeader.type).
enum OpCode : int32_t {
  kOpNotification = 0,
  kOpCreate = 1,
  kOpDelete = 2,
  kOpExists = 3,
  kOpGetData = 4,
  kOpSetData = 5,
  kOpGetAcl = 6,
  kOpSetAcl = 7,
  kOpGetChildren = 8,
  kOpSync = 9,
  kOpPing = 11,
  kOpGetChildren2 = 12,
  kOpCheck = 13,
  kOpMulti = 14,
  kOpCreate2 = 15,
  kOpReconfig = 16,
  kOpCheckWatches = 17,
  kOpRemoveWatches = 18,
  kOpCreateContainer = 19,
  kOpDeleteContainer = 20,
  kOpCreateTtl = 21,
  kOpMultiRead = 22,
  kOpAuth = 100,
  kOpSetWatches = 101,
  kOpSasl = 102,
  kOpGetEphemerals = 103,
  kOpGetAllChildrenNumber = 104,
  kOpSetWatches2 = 105,
  kOpAddWatch = 106,
  kOpWhoAmI = 107,
  kOpCloseSession = -11,
  kOpError = -1,  // a multi result that failed
};

// Special xids.
inline constexpr int32_t kXidNotification = -1;
inline constexpr int32_t kXidPing = -2;
inline constexpr int32_t kXidAuth = -4;
inline constexpr int32_t kXidSetWatches = -8;

// KeeperException.Code values.
enum ZkError : int32_t {
  kZOk = 0,
  kZSystemError = -1,
  kZRuntimeInconsistency = -2,
  kZDataInconsistency = -3,
  kZConnectionLoss = -4,
  kZMarshallingError = -5,
  kZUnimplemented = -6,
  kZOperationTimeout = -7,
  kZBadArguments = -8,
  kZNewConfigNoQuorum = -13,
  kZReconfigInProgress = -14,
  kZApiError = -100,
  kZNoNode = -101,
  kZNoAuth = -102,
  kZBadVersion = -103,
  kZNoChildrenForEphemerals = -108,
  kZNodeExists = -110,
  kZNotEmpty = -111,
  kZSessionExpired = -112,
  kZInvalidCallback = -113,
  kZInvalidAcl = -114,
  kZAuthFailed = -115,
  kZClosing = -116,
  kZNothing = -117,
  kZSessionMoved = -118,
  kZNotReadOnly = -119,
  kZNoWatcher = -121,
  kZReconfigDisabled = -123,
  kZThrottledOp = -127,
};

// WatcherEvent.type and .state.
enum ZkEventType : int32_t {
  kEventNone = -1,
  kEventNodeCreated = 1,
  kEventNodeDeleted = 2,
  kEventNodeDataChanged = 3,
  kEventNodeChildrenChanged = 4,
};
inline constexpr int32_t kStateSyncConnected = 3;

// CreateRequest.flags (CreateMode): the same numbering as v1::CreateMode.
inline constexpr int32_t kMaxCreateFlags = 6;

struct ConnectRequest {
  int32_t protocol_version = 0;
  int64_t last_zxid_seen = 0;
  int32_t timeout_ms = 0;
  int64_t session_id = 0;
  std::string password;
  // Clients since 3.3 append it; older ones end the record before it.
  bool has_read_only = false;
  bool read_only = false;
};

struct ConnectResponse {
  int32_t protocol_version = 0;
  int32_t timeout_ms = 0;  // <= 0: the session is expired or unknown
  int64_t session_id = 0;
  std::string password;
  bool read_only = false;
};

struct RequestHeader {
  int32_t xid = 0;
  int32_t type = 0;
};

struct ReplyHeader {
  int32_t xid = 0;
  int64_t zxid = 0;
  int32_t err = 0;
};

// Field for field Synod's v1::Stat, in jute order.
struct Stat {
  int64_t czxid = 0;
  int64_t mzxid = 0;
  int64_t ctime = 0;
  int64_t mtime = 0;
  int32_t version = 0;
  int32_t cversion = 0;
  int32_t aversion = 0;
  int64_t ephemeral_owner = 0;
  int32_t data_length = 0;
  int32_t num_children = 0;
  int64_t pzxid = 0;
};

struct Acl {
  int32_t perms = 0;
  std::string scheme;
  std::string id;
};

// create (1), create2 (15), createContainer (19); createTTL (21) adds `ttl`.
struct CreateRequest {
  std::string path;
  std::string data;
  std::vector<Acl> acl;
  int32_t flags = 0;
  int64_t ttl = 0;
  bool null_data = false;  // data was sent as null (length -1)
};

// exists, getData, getChildren, getChildren2.
struct PathWatchRequest {
  std::string path;
  bool watch = false;
};

// delete, check.
struct PathVersionRequest {
  std::string path;
  int32_t version = -1;
};

struct SetDataRequest {
  std::string path;
  std::string data;
  int32_t version = -1;
  bool null_data = false;  // data was sent as null (length -1)
};

// sync, getEphemerals (a prefix path), getAllChildrenNumber.
struct PathRequest {
  std::string path;
};

struct MultiHeader {
  int32_t type = 0;
  bool done = false;
  int32_t err = 0;
};

// setWatches (101); setWatches2 (105) adds the persistent watches.
struct SetWatchesRequest {
  int64_t relative_zxid = 0;
  std::vector<std::string> data_watches;
  std::vector<std::string> exist_watches;
  std::vector<std::string> child_watches;
  std::vector<std::string> persistent_watches;
  std::vector<std::string> persistent_recursive_watches;
};

// addWatch (106): `mode` is ZooDefs.AddWatchModes.
inline constexpr int32_t kAddWatchPersistent = 0;
inline constexpr int32_t kAddWatchPersistentRecursive = 1;
struct AddWatchRequest {
  std::string path;
  int32_t mode = 0;
};

// checkWatches (17) and removeWatches (18): `type` is Watcher.WatcherType.
inline constexpr int32_t kWatcherChildren = 1;
inline constexpr int32_t kWatcherData = 2;
inline constexpr int32_t kWatcherAny = 3;
struct WatchesRequest {
  std::string path;
  int32_t type = 0;
};

struct WatcherEvent {
  int32_t type = 0;
  int32_t state = kStateSyncConnected;
  std::string path;
};

// auth (100, xid kXidAuth): addauth scheme credential.
struct AuthPacket {
  int32_t type = 0;  // unused by servers
  std::string scheme;
  std::string auth;
};

// getACL (6) takes a PathRequest; its reply.
struct GetAclResponse {
  std::vector<Acl> acl;
  Stat stat;
};

// setACL (7); its reply is a Stat. `version` is the expected aversion.
struct SetAclRequest {
  std::string path;
  std::vector<Acl> acl;
  int32_t version = -1;
};

// One identity of a connection, as whoAmI (107) shows it.
struct ClientInfo {
  std::string auth_scheme;
  std::string user;
};

struct WhoAmIResponse {
  std::vector<ClientInfo> client_info;
};

// sasl (102) request and reply (GetSASLRequest, SetSASLResponse): one
// token, which a server may send as null.
struct SaslToken {
  std::string token;
  bool is_null = false;
};

// multiRead (22): a MultiOperationRecord (each op a MultiHeader, then its
// GetDataRequest or GetChildrenRequest; a header with done=true ends it).
// ZooKeeper reads the ops' watch flags and drops them: a multiRead sets no
// watch.
struct ReadOp {
  int32_t type = kOpGetData;  // kOpGetData or kOpGetChildren
  std::string path;
};
struct MultiReadRequest {
  std::vector<ReadOp> ops;
};

// One result of a multiRead: `type` kOpGetData (data, stat), kOpGetChildren
// (children), or kOpError (err: that op's own error; the others still ran).
struct ReadOpResult {
  int32_t type = kOpError;
  int32_t err = kZOk;
  std::string data;
  Stat stat;
  std::vector<std::string> children;
  bool null_data = false;  // getData of a node whose data is null
};
// Its reply (MultiResponse): per result a MultiHeader{type, false, err}
// then a GetDataResponse, GetChildrenResponse or ErrorResult, and a final
// MultiHeader{-1, true, -1}.
struct MultiReadResponse {
  std::vector<ReadOpResult> results;
};

absl::Status Decode(JuteReader& r, ConnectRequest* out);
absl::Status Decode(JuteReader& r, ConnectResponse* out);
absl::Status Decode(JuteReader& r, RequestHeader* out);
absl::Status Decode(JuteReader& r, ReplyHeader* out);
absl::Status Decode(JuteReader& r, Stat* out);
absl::Status Decode(JuteReader& r, Acl* out);
// Reads `ttl` only when `with_ttl` (createTTL).
absl::Status Decode(JuteReader& r, CreateRequest* out, bool with_ttl);
absl::Status Decode(JuteReader& r, PathWatchRequest* out);
absl::Status Decode(JuteReader& r, PathVersionRequest* out);
absl::Status Decode(JuteReader& r, SetDataRequest* out);
absl::Status Decode(JuteReader& r, PathRequest* out);
absl::Status Decode(JuteReader& r, MultiHeader* out);
// Reads the persistent watches only when `v2` (setWatches2).
absl::Status Decode(JuteReader& r, SetWatchesRequest* out, bool v2 = false);
absl::Status Decode(JuteReader& r, AddWatchRequest* out);
absl::Status Decode(JuteReader& r, WatchesRequest* out);
absl::Status Decode(JuteReader& r, WatcherEvent* out);
absl::Status Decode(JuteReader& r, std::vector<Acl>* out);
absl::Status Decode(JuteReader& r, AuthPacket* out);
absl::Status Decode(JuteReader& r, GetAclResponse* out);
absl::Status Decode(JuteReader& r, SetAclRequest* out);
absl::Status Decode(JuteReader& r, ClientInfo* out);
absl::Status Decode(JuteReader& r, WhoAmIResponse* out);
absl::Status Decode(JuteReader& r, SaslToken* out);
// An op other than getData or getChildren is InvalidArgument (kBadLength),
// as ZooKeeper refuses it (MARSHALLINGERROR).
absl::Status Decode(JuteReader& r, MultiReadRequest* out);
absl::Status Decode(JuteReader& r, MultiReadResponse* out);

void Encode(JuteWriter& w, const ConnectRequest& v);
void Encode(JuteWriter& w, const ConnectResponse& v);
void Encode(JuteWriter& w, const RequestHeader& v);
void Encode(JuteWriter& w, const ReplyHeader& v);
void Encode(JuteWriter& w, const Stat& v);
void Encode(JuteWriter& w, const Acl& v);
void Encode(JuteWriter& w, const CreateRequest& v, bool with_ttl);
void Encode(JuteWriter& w, const PathWatchRequest& v);
void Encode(JuteWriter& w, const PathVersionRequest& v);
void Encode(JuteWriter& w, const SetDataRequest& v);
void Encode(JuteWriter& w, const PathRequest& v);
void Encode(JuteWriter& w, const MultiHeader& v);
void Encode(JuteWriter& w, const SetWatchesRequest& v, bool v2 = false);
void Encode(JuteWriter& w, const AddWatchRequest& v);
void Encode(JuteWriter& w, const WatchesRequest& v);
void Encode(JuteWriter& w, const WatcherEvent& v);
void Encode(JuteWriter& w, const std::vector<Acl>& v);
void Encode(JuteWriter& w, const AuthPacket& v);
void Encode(JuteWriter& w, const GetAclResponse& v);
void Encode(JuteWriter& w, const SetAclRequest& v);
void Encode(JuteWriter& w, const ClientInfo& v);
void Encode(JuteWriter& w, const WhoAmIResponse& v);
void Encode(JuteWriter& w, const SaslToken& v);
void Encode(JuteWriter& w, const MultiReadRequest& v);
void Encode(JuteWriter& w, const MultiReadResponse& v);
void Encode(JuteWriter& w, const ReadOpResult& v);

}  // namespace synod::zk
