// TestCluster: real `synod` processes on 127.0.0.1 for end-to-end tests.
//
// Each member gets free client and peer ports (kept across restarts: the
// founding membership names them), a data dir and a log file under one
// TempDir, and a fault-injection file the test can write to cut it off from
// peers. Every process is a testing::Subprocess: stopped by PID (SIGTERM,
// then SIGKILL) when the cluster is destroyed, even if the test fails.
//
// Thread: one test thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace synod::e2e {

class TestCluster {
 public:
  struct Options {
    int size = 3;
    uint64_t snapshot_threshold = 100000;
    int heartbeat_ms = 50;
    int election_ms = 500;
    std::vector<std::string> extra_flags;
    // Flags for one member only (by id), after extra_flags.
    std::map<int, std::vector<std::string>> member_flags;
    // Give each member --metrics_addr on a free port (see metrics_addr()).
    bool metrics = false;
    // Of the channels to the members' client ports; null: plaintext.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
  };

  explicit TestCluster(const Options& options);
  ~TestCluster();

  // Starts every founding member that is not running.
  absl::Status StartAll();
  // Reserves ports and a data dir for a new member (not a founding one);
  // returns its id. Start(id) then runs it with --join (add it first).
  int AddMemberSlot();
  // Starts member `id` (1-based), which must not be running, and waits until
  // it accepts client connections.
  absl::Status Start(int id);
  // kill -9.
  void Kill(int id);
  // Sends `sig` to member `id` if it runs (e.g. SIGSTOP / SIGCONT to freeze
  // a replica without closing its sockets).
  void Signal(int id, int sig);
  // SIGTERM; returns the exit status description ("exit 0" on a clean stop).
  std::string Stop(int id);
  bool Running(int id);
  int size() const { return options_.size; }
  std::vector<int> RunningIds();

  const std::string& client_addr(int id) const { return members_.at(id).client_addr; }
  const std::string& peer_addr(int id) const { return members_.at(id).peer_addr; }
  // host:port of /metrics, /health, /ready; empty unless Options.metrics.
  const std::string& metrics_addr(int id) const { return members_.at(id).metrics_addr; }
  // Client addresses of the founding members, comma-separated.
  std::string FoundingClientAddrs() const;
  std::string data_dir(int id) const;
  std::string log_path(int id) const;
  std::string LogTail(int id, size_t bytes = 4000) const;

  v1::Tree::Stub* tree(int id);
  // The channel to member `id`'s client address; it lives as long as the
  // cluster (so other stubs can share it).
  std::shared_ptr<grpc::Channel> channel(int id) const { return members_.at(id).channel; }
  v1::Cluster::Stub* cluster(int id);

  absl::StatusOr<v1::StatusResponse> Status(int id, absl::Duration timeout = absl::Seconds(2));
  // Waits until every member in `among` (default: all running) reports the
  // same leader, which is itself in `among` and has applied recorded
  // cluster settings. Returns its id, or 0.
  int WaitForLeader(absl::Duration timeout, std::set<int> among = {});
  // Waits until every running member has applied at least `index`.
  bool WaitForApplied(uint64_t index, absl::Duration timeout, std::set<int> among = {});

  // Cuts member `id` off from `peers` (both directions, via its fault file
  // and theirs). An empty list heals it.
  void Isolate(int id, const std::set<int>& peers);

 private:
  struct Member {
    std::string client_addr;
    std::string peer_addr;
    std::string metrics_addr;
    std::optional<testing::Subprocess> process;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Tree::Stub> tree;
    std::unique_ptr<v1::Cluster::Stub> cluster;
  };
  std::string FaultFile(int id) const;
  Member& NewMember(int id);
  void WriteFaults(int id, const std::set<int>& peers);

  const Options options_;
  testing::TempDir dir_;
  std::string initial_cluster_;
  std::map<int, Member> members_;
  std::map<int, std::set<int>> isolated_;
};

// A client context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(5));

// The Synod code of a reply: the header's on gRPC OK, else the header in
// the error details, else INTERNAL/UNAVAILABLE/DEADLINE_EXCEEDED by gRPC code.
[[nodiscard]] v1::ErrorCode CodeOf(const grpc::Status& status, const v1::ResponseHeader& header);
// The header of a reply (from the error details when the call failed).
v1::ResponseHeader HeaderOf(const grpc::Status& status, const v1::ResponseHeader& header);

// Simple calls. Each returns the Synod code (OK on success).
[[nodiscard]] v1::ErrorCode CreateNode(v1::Tree::Stub* tree, const std::string& path, const std::string& data,
                         absl::Duration timeout = absl::Seconds(5), uint64_t* revision = nullptr);
[[nodiscard]] v1::ErrorCode SetNode(v1::Tree::Stub* tree, const std::string& path, const std::string& data,
                      absl::Duration timeout = absl::Seconds(5), uint64_t* revision = nullptr);
[[nodiscard]] v1::ErrorCode GetNode(v1::Tree::Stub* tree, const std::string& path, std::string* data,
                      v1::Consistency consistency = v1::LINEARIZABLE,
                      absl::Duration timeout = absl::Seconds(5), uint64_t* revision = nullptr);

}  // namespace synod::e2e
