// EndpointSet: the replicas a client can talk to, and which one to use.
//
// Holds one gRPC channel (and stubs) per client address: the seeds given by
// the caller plus the members learned from Cluster.MemberList. "Current" is
// the sticky replica for reads and streams; it moves to the next one when a
// request to it fails at the transport level. The leader (learned from reply
// headers) gets the writes, when its address is known.
//
// Thread-safety: all methods are thread-safe. Endpoints are shared_ptrs and
// stay valid for whoever holds one, even after they leave the set.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/src/pipeline.h"
#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/client.h"
#include "synod/v1/auth.grpc.pb.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::client {

// The credentials for every channel of a client: TLS when options.cacert
// is set (reads the PEM files now), else plaintext. Errors:
// InvalidArgument (cert without key or either without cacert, unreadable
// file).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const Client::Options& options);

struct Endpoint {
  Endpoint(std::string address, const std::shared_ptr<grpc::ChannelCredentials>& credentials);

  const std::string address;
  const std::shared_ptr<grpc::Channel> channel;
  const std::unique_ptr<v1::Tree::Stub> tree;
  const std::unique_ptr<v1::Session::Stub> session;
  const std::unique_ptr<v1::Watch::Stub> watch;
  const std::unique_ptr<v1::Cluster::Stub> cluster;
  const std::unique_ptr<v1::Auth::Stub> auth;
  // The tree calls sent here, on one stream (unless the replica lacks it).
  Pipeline pipeline;
  // The member id this address serves, once a reply or MemberList said so.
  std::atomic<uint64_t> member_id{0};
};

class EndpointSet {
 public:
  // `seeds` must be non-empty. `start` picks the first current endpoint.
  // Every channel uses `credentials`.
  EndpointSet(const std::vector<std::string>& seeds, size_t start,
              std::shared_ptr<grpc::ChannelCredentials> credentials);

  std::shared_ptr<Endpoint> Current() const;
  // The leader's endpoint if the leader and its address are known, else null.
  std::shared_ptr<Endpoint> Leader() const;
  std::shared_ptr<Endpoint> ByMemberId(uint64_t id) const;
  // The endpoint for `address`, created (outside the set) if unknown.
  std::shared_ptr<Endpoint> ForAddress(const std::string& address) const;
  uint64_t leader_id() const;

  // A request to `ep` failed in a way that says the replica is unusable: move
  // current past it and forget it as leader.
  void ReportFailure(const Endpoint& ep);
  // A reply from `ep` said who it is and whom it takes for the leader.
  // Returns true if the leader is known by id but not by address (the caller
  // should refresh the member list).
  bool ReportHeader(Endpoint& ep, uint64_t member_id, uint64_t leader_id);
  // Replaces the discovered members (seeds that are not members stay, behind
  // them, as a fallback). Keeps channels of addresses that remain.
  void SetMembers(const std::vector<Member>& members);

  std::vector<std::string> Addresses() const;

 private:
  std::shared_ptr<Endpoint> FindLocked(const std::string& address) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> seeds_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_ ABSL_GUARDED_BY(mu_);  // never empty
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;                                // < endpoints_.size()
  uint64_t leader_id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace synod::client
