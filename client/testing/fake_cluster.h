// FakeCluster: an in-process stand-in for a Synod cluster, for testing the
// client, the recipes and synodctl without a real server.
//
// N fake replicas (member ids 1..N), each a gRPC server on 127.0.0.1 with a
// port picked by the kernel, serve the Tree, Session, Watch and Cluster
// services of proto/synod/v1 over one shared state run by the server's own
// code (FakeState): every write becomes the Command the server would
// propose, applied in log order by storage::Applier to a MemoryTreeStore;
// reads use the TreeStore read API; watches are a server::WatchHub fed from
// each applied entry. So versions, sequential / ephemeral / container / TTL
// nodes, multi, history, compaction, sessions, exactly-once writes and watch
// delivery are exactly the server's. It is not a Raft cluster: every replica
// sees the same state at once, and "leader" is only what headers report
// (and, with forward_writes off, which replica accepts writes).
//
// Faults are injected per replica: stop/restart it, fail the next calls of a
// method with a Synod code, hang a method until released, break its streams,
// overflow its watches, expire a session (as the leader does, through the
// log).
//
// Thread-safety: all methods are thread-safe. gRPC handlers run on the
// servers' threads; the state serializes the log under its own mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "synod/client.h"
#include "synod/v1/common.pb.h"

namespace synod::client::testing {

class FakeState;
class FakeReplica;
struct FakeControl;

class FakeCluster {
 public:
  // (key, value) metadata pairs of one call.
  using Metadata = std::vector<std::pair<std::string, std::string>>;

  // How a replica reports an error on the wire.
  enum class ErrorStyle {
    kDetails,      // gRPC status mapped from the code + ResponseHeader as details
    kHeader,       // gRPC OK, the code in the reply header
    kMessageOnly,  // gRPC status mapped from the code, "CODE: message" only
    // As kDetails, but with no detail text ("CODE" alone), as the real
    // server sends most tree errors.
    kCodeOnly,
  };
  struct Options {
    int replicas = 3;
    ErrorStyle errors = ErrorStyle::kDetails;
    // Off: replicas other than the leader answer writes with NOT_LEADER.
    bool forward_writes = true;
    uint64_t leader = 1;       // member id the headers name as leader (0: none)
    uint32_t max_page = 1000;  // GetChildren page size cap
  };

  FakeCluster();
  explicit FakeCluster(Options options);
  ~FakeCluster();
  FakeCluster(const FakeCluster&) = delete;
  FakeCluster& operator=(const FakeCluster&) = delete;

  // "127.0.0.1:port" of every replica, member 1 first.
  std::vector<std::string> endpoints() const;
  std::string endpoint(uint64_t member) const;

  // --- Faults.
  // Shuts the replica's server down (connections refused) / starts it again
  // on the same port.
  void Stop(uint64_t member);
  void Restart(uint64_t member);
  // The next `count` calls of `method` (the RPC name: "Get", "KeepAlive"...)
  // on `member` fail with `code`, before touching any state. Streams fail
  // when opened.
  void FailNext(uint64_t member, const std::string& method, int count, ErrorCode code);
  // The next `count` calls of `method` on `member` are applied, but answered
  // with `code` (a reply lost after commit, as when the leader dies).
  void FailAfterApply(uint64_t member, const std::string& method, int count, ErrorCode code);
  // Calls of `method` on `member` wait (without answering) until
  // ReleaseHangs; a hung KeepAlive stream reads heartbeats but answers none.
  void Hang(uint64_t member, const std::string& method);
  void ReleaseHangs();
  // Every replica answers `method` only after `delay` (one delay for all
  // delayed methods).
  void Delay(const std::string& method, absl::Duration delay);
  void SetLeader(uint64_t member);
  // Cancels the Watch and KeepAlive streams currently open on `member`.
  void BreakStreams(uint64_t member);
  // Cancels every watch on `member`'s streams with WATCH_OVERFLOW.
  void OverflowWatches(uint64_t member);
  // Expires a session as the leader does, with an ExpireSessionsCommand
  // (one revision): ephemerals deleted, its watches canceled, KeepAlive
  // answered SESSION_EXPIRED.
  void ExpireSession(uint64_t session_id);
  // Proposes a CompactHistoryCommand (one revision): reads and watches
  // below `revision` fail with COMPACTED.
  void Compact(uint64_t revision);
  // The next snapshot stream carries a wrong checksum.
  void CorruptNextSnapshot();

  // --- Authentication (test state, not replicated; see fake_auth_service.cc).
  void AddUser(const std::string& name, const std::string& password, bool superuser);
  // Authenticate reports tokens issued from now on to expire after `ttl`
  // (expires_at_ms); they stay valid until ExpireTokens all the same.
  void SetTokenTtl(absl::Duration ttl);
  // Every token issued so far is expired: calls carrying one fail
  // UNAUTHENTICATED ("token expired").
  void ExpireTokens();
  // Every token, issued before or after, is refused as expired.
  void RejectAllTokens();
  // Authenticate calls that issued a token.
  int tokens_issued() const;
  bool auth_enabled() const;

  // --- Observations.
  int calls(uint64_t member, const std::string& method) const;
  // Requests received by `method`, serialized, in arrival order (all members).
  std::vector<std::string> requests(const std::string& method) const;
  // Writes that changed the tree (a multi counts once); duplicates answered
  // from the session table change nothing and are not counted.
  int applied_writes() const;
  uint64_t revision() const;
  std::optional<std::string> data(const std::string& path) const;
  std::vector<uint64_t> sessions() const;
  // The member that served the last KeepAlive of a session (0 if none).
  uint64_t keepalive_member(uint64_t session_id) const;
  int live_watch_streams() const;
  // The credential metadata ("authorization", "synod-digest") each call of
  // `method` carried, in arrival order (all members).
  std::vector<Metadata> credentials(const std::string& method) const;

 private:
  friend class FakeReplica;

  const Options options_;
  std::unique_ptr<FakeState> state_;
  std::unique_ptr<FakeControl> control_;
  std::vector<std::unique_ptr<FakeReplica>> replicas_;  // [member - 1]
};

}  // namespace synod::client::testing
