// The Peer gRPC service does not trust a caller's word: another cluster, a
// sender that is no member id or the replica itself, a batch whose messages
// name another sender, and session heartbeats from a non-member are refused
// and counted, and nothing of them reaches the raft thread.
#include "server/peer_service.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace synod::server {
namespace {

class RecordingMailbox : public RaftMailbox {
 public:
  void DeliverMessages(std::vector<raft::Message> messages) override {
    absl::MutexLock lock(&mu_);
    for (auto& m : messages) received_.push_back(std::move(m));
  }
  void ReportUnreachable(raft::NodeId) override {}
  void ReportSnapshot(raft::NodeId, bool) override {}
  size_t received() {
    absl::MutexLock lock(&mu_);
    return received_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<raft::Message> received_;
};

// The service of member 2 in cluster 42, whose members are 1, 2 and 3.
class PeerServiceTest : public ::testing::Test {
 protected:
  PeerServiceTest()
      : faults_(""),
        snapshots_(tmp_.Sub("snapshots")),
        inbox_(&snapshots_),
        service_(42, 2, &mailbox_, &inbox_, &faults_) {
    service_.set_keep_alive_handler(
        [this](const v1::KeepAliveBatchRequest&, v1::KeepAliveBatchResponse*) { ++keep_alives_; });
    service_.set_is_member([](raft::NodeId id) { return id >= 1 && id <= 3; });
    service_.set_on_refused([this] { ++refused_; });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    stub_ = v1::Peer::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~PeerServiceTest() override { server_->Shutdown(); }

  grpc::Status KeepAlive(uint64_t cluster_id, raft::NodeId from) {
    v1::KeepAliveBatchRequest request;
    request.set_cluster_id(cluster_id);
    request.set_from(from);
    request.add_session_ids(77);
    v1::KeepAliveBatchResponse response;
    grpc::ClientContext context;
    return stub_->KeepAliveBatch(&context, request, &response);
  }

  ::synod::testing::TempDir tmp_;
  RecordingMailbox mailbox_;
  FaultInjection faults_;
  storage::SnapshotFiles snapshots_;
  storage::SnapshotInbox inbox_;
  PeerService service_;
  std::atomic<int> keep_alives_{0};
  std::atomic<int> refused_{0};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Peer::Stub> stub_;
};

TEST_F(PeerServiceTest, SessionHeartbeatsOnlyFromMembersOfThisCluster) {
  EXPECT_EQ(KeepAlive(43, 1).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(KeepAlive(42, 2).error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // itself
  EXPECT_EQ(KeepAlive(42, 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(KeepAlive(42, 9).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(keep_alives_.load(), 0);
  EXPECT_EQ(refused_.load(), 4);
  EXPECT_TRUE(KeepAlive(42, 3).ok());
  EXPECT_EQ(keep_alives_.load(), 1);
  EXPECT_EQ(refused_.load(), 4);
}

TEST_F(PeerServiceTest, ASnapshotThatSaysItComesFromThisReplicaIsRefused) {
  for (raft::NodeId from : {raft::NodeId{2}, raft::kNoNode}) {
    grpc::ClientContext context;
    v1::PeerAck ack;
    auto writer = stub_->InstallSnapshot(&context, &ack);
    v1::InstallSnapshotChunk chunk;
    chunk.set_cluster_id(42);
    raft::Message* m = chunk.mutable_message();
    m->set_type(raft::MessageType::MSG_SNAP);
    m->set_from(from);
    m->set_to(2);
    m->set_term(1);
    m->mutable_snapshot()->mutable_metadata()->set_index(5);
    chunk.mutable_chunk()->set_done(true);
    writer->Write(chunk);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(mailbox_.received(), 0u);
  EXPECT_EQ(refused_.load(), 2);
}

}  // namespace
}  // namespace synod::server
