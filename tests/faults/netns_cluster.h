// NetnsCluster: real `synod` replicas, each in a network namespace of its
// own, joined by a bridge on the host, plus the faults the nemesis needs:
// kill -9 and restart, SIGSTOP/SIGCONT, dropped packets between replicas
// (blackhole routes inside a replica's namespace: one direction each) and a
// degraded link (tc netem where the kernel has it, else a tbf rate limit).
//
// Names: run id R (6 hex digits), namespaces synf-R-<i>, bridge synfRb,
// host-side veths synfRh<i> (the replica side synfRr<i> lives in its
// namespace), subnet 10.213.N.0/24 (bridge .1, replica i at .10+i). The
// bridge's alias records the owning process ("synod-faults owner=PID"), so
// CleanupLeftovers can tell a live run from leftovers. Every route and
// qdisc the nemesis adds lives inside a namespace and dies with it.
//
// Clients reach replicas from the host through the bridge address, so a
// client keeps talking to a replica that is cut off from its peers (the
// stale-read trap) unless the nemesis blocks the host too.
//
// Thread: one owner thread (the harness's main thread: the replicas get
// PR_SET_PDEATHSIG from the thread that starts them). channel() may be used
// from any thread.
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
#include "synod/v1/cluster.grpc.pb.h"
#include "tests/testing/subprocess.h"

namespace synod::faults {

class NetnsCluster {
 public:
  struct Options {
    int size = 3;
    std::string synod_binary;
    std::string run_dir;  // data dirs and replica logs go here
    int heartbeat_ms = 50;
    int election_ms = 500;
    std::vector<std::string> extra_flags;
  };

  // Builds the network (nothing is started). On error, removes what it made.
  static absl::StatusOr<std::unique_ptr<NetnsCluster>> Create(const Options& options);
  // Teardown().
  ~NetnsCluster();
  NetnsCluster(const NetnsCluster&) = delete;
  NetnsCluster& operator=(const NetnsCluster&) = delete;

  // Stops every replica (SIGCONT, SIGTERM, SIGKILL after a grace period) and
  // deletes the namespaces, the veths and the bridge. Idempotent.
  absl::Status Teardown();

  const std::string& run_id() const { return run_id_; }
  int size() const { return options_.size; }
  std::string client_addr(int id) const;
  std::string peer_ip(int id) const;
  std::string namespace_name(int id) const;
  std::string log_path(int id) const;
  std::shared_ptr<grpc::Channel> channel(int id) const { return channels_.at(id); }

  // Starts replica `id` (1-based) if it is not running, and waits until its
  // client port answers.
  absl::Status Start(int id);
  absl::Status StartAll();
  void Kill(int id);     // kill -9 (a paused replica too)
  void Pause(int id);    // SIGSTOP
  void Resume(int id);   // SIGCONT
  bool Running(int id);
  bool Paused(int id) const { return paused_.count(id) > 0; }

  // Drops packets that `from` sends to `to` (on its own network namespace).
  absl::Status Block(int from, int to);
  // Both directions between every member of `a` and every member of `b`.
  absl::Status Partition(const std::set<int>& a, const std::set<int>& b);
  // Delay/loss (netem) or a rate limit (tbf) on everything replica `id` sends.
  absl::Status Degrade(int id);
  // Removes every blocked route and every degraded link.
  absl::Status HealNetwork();
  // What Degrade applies: "netem ..." or "tbf ...".
  const std::vector<std::string>& degrade_qdisc() const { return degrade_qdisc_; }

  absl::StatusOr<v1::StatusResponse> Status(int id, absl::Duration timeout);
  // The leader that a majority of the members currently answering agree on,
  // or 0.
  int Leader(absl::Duration timeout);

 private:
  explicit NetnsCluster(const Options& options);
  absl::Status Build();
  std::string ip(int id) const;

  const Options options_;
  std::string ip_binary_;
  std::string tc_binary_;
  std::string run_id_;
  int subnet_ = 0;
  bool built_ = false;
  std::vector<std::string> degrade_qdisc_;
  std::string initial_cluster_;
  std::map<int, std::optional<testing::Subprocess>> processes_;
  std::map<int, std::shared_ptr<grpc::Channel>> channels_;
  std::map<int, std::unique_ptr<v1::Cluster::Stub>> cluster_stubs_;
  std::set<int> paused_;
  std::set<std::pair<int, int>> blocked_;
  std::set<int> degraded_;
};

// Removes namespaces (and the processes in them), veths and bridges named
// synf*: those of `run_id` if given, else of every run whose owner process
// is gone (all runs if `force`). Returns what it removed, one line each.
absl::StatusOr<std::vector<std::string>> CleanupLeftovers(const std::string& run_id, bool force);

}  // namespace synod::faults
