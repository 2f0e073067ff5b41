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
        service_(42, 2, &mailbox_, &snapshots_, &faults_) {
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

  // Streams `batches` on one Raft call; returns how it ended.
  grpc::Status RaftStream(const std::vector<v1::RaftBatch>& batches) {
    grpc::ClientContext context;
    v1::PeerAck ack;
    auto writer = stub_->Raft(&context, &ack);
    for (const v1::RaftBatch& b : batches) {
      if (!writer->Write(b)) break;  // the server ended the call
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static v1::RaftBatch Batch(raft::NodeId from) {
    v1::RaftBatch batch;
    batch.set_cluster_id(42);
    batch.set_from(from);
    raft::Message* m = batch.add_messages();
    m->set_type(raft::MessageType::MSG_HEARTBEAT);
    m->set_from(from);
    m->set_to(2);
    m->set_term(1);
    return batch;
  }

  ::synod::testing::TempDir tmp_;
  RecordingMailbox mailbox_;
  FaultInjection faults_;
  SnapshotFiles snapshots_;
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

TEST_F(PeerServiceTest, RaftBatchesMustComeFromTheirSender) {
  EXPECT_TRUE(RaftStream({Batch(1), Batch(1)}).ok());
  EXPECT_EQ(mailbox_.received(), 2u);
  // Member 1 speaking for member 3.
  v1::RaftBatch forged = Batch(1);
  forged.mutable_messages(0)->set_from(3);
  EXPECT_EQ(RaftStream({forged}).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A message for another member.
  v1::RaftBatch misaddressed = Batch(1);
  misaddressed.mutable_messages(0)->set_to(3);
  EXPECT_EQ(RaftStream({misaddressed}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A batch that says it comes from this replica.
  EXPECT_EQ(RaftStream({Batch(2)}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::RaftBatch other_cluster = Batch(1);
  other_cluster.set_cluster_id(43);
  EXPECT_EQ(RaftStream({other_cluster}).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(mailbox_.received(), 2u);
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
