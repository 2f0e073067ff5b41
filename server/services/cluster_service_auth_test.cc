// The Cluster service's admin and authenticated gates (auth.proto), with
// auth enabled in a hand-made AuthState: every refused call is answered
// before it reaches the Raft driver, the store or the snapshot files (none
// exist here), so a missing gate shows as a crash or a wrong answer.
#include <memory>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/auth/authenticator.h"
#include "server/services/cluster_service.h"
#include "storage/acl.h"

namespace synod::server {
namespace {

class ClusterServiceAuthTest : public testing::Test {
 protected:
  void SetUp() override {
    auto state = std::make_shared<v1::AuthState>();
    state->set_enabled(true);
    state->set_token_key(std::string(32, 'k'));
    AuthOptions options;
    options.superuser_digest = storage::DigestId("super", "secret");
    auth_ = std::make_unique<Authenticator>(
        [state]() -> std::shared_ptr<const v1::AuthState> { return state; }, options);
    flow_ = std::make_unique<RequestFlow>(&replica_, nullptr, nullptr, nullptr, absl::Seconds(5));
    service_ = std::make_unique<ClusterService>(flow_.get(), nullptr, nullptr, nullptr, "test",
                                                auth_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Cluster::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                     grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  // Every gated call, made with `credential` (synod-digest; empty: none).
  std::vector<std::pair<std::string, grpc::StatusCode>> CallAll(const std::string& credential) {
    std::vector<std::pair<std::string, grpc::StatusCode>> out;
    auto ctx = [&] {
      auto c = std::make_unique<grpc::ClientContext>();
      if (!credential.empty()) c->AddMetadata("synod-digest", credential);
      return c;
    };
    v1::MemberAddRequest add;
    add.set_id(4);
    add.set_peer_addr("127.0.0.1:1");
    v1::MemberAddResponse add_r;
    out.emplace_back("MemberAdd", stub_->MemberAdd(ctx().get(), add, &add_r).error_code());
    v1::MemberAddResponse bad_add_r;
    out.emplace_back("MemberAdd(invalid)",
                     stub_->MemberAdd(ctx().get(), v1::MemberAddRequest(), &bad_add_r).error_code());
    v1::MemberPromoteRequest promote;
    promote.set_id(4);
    v1::MemberPromoteResponse promote_r;
    out.emplace_back("MemberPromote",
                     stub_->MemberPromote(ctx().get(), promote, &promote_r).error_code());
    v1::MemberRemoveRequest remove;
    remove.set_id(2);
    v1::MemberRemoveResponse remove_r;
    out.emplace_back("MemberRemove",
                     stub_->MemberRemove(ctx().get(), remove, &remove_r).error_code());
    v1::TransferLeaderRequest transfer;
    transfer.set_id(2);
    v1::TransferLeaderResponse transfer_r;
    out.emplace_back("TransferLeader",
                     stub_->TransferLeader(ctx().get(), transfer, &transfer_r).error_code());
    v1::SettingsSetResponse set_r;
    out.emplace_back("SettingsSet",
                     stub_->SettingsSet(ctx().get(), v1::SettingsSetRequest(), &set_r).error_code());
    {
      auto c = ctx();
      auto reader = stub_->Snapshot(c.get(), v1::SnapshotRequest());
      v1::SnapshotChunk chunk;
      EXPECT_FALSE(reader->Read(&chunk));
      out.emplace_back("Snapshot", reader->Finish().error_code());
    }
    return out;
  }

  ReplicaState replica_{7, 1};
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<RequestFlow> flow_;
  std::unique_ptr<ClusterService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Cluster::Stub> stub_;
};

TEST_F(ClusterServiceAuthTest, ClusterOperationsNeedCredentials) {
  for (const auto& [call, code] : CallAll("")) {
    EXPECT_EQ(code, grpc::StatusCode::UNAUTHENTICATED) << call;
  }
}

TEST_F(ClusterServiceAuthTest, ClusterOperationsNeedTheAdminRight) {
  for (const auto& [call, code] : CallAll("someone:pw")) {
    EXPECT_EQ(code, grpc::StatusCode::PERMISSION_DENIED) << call;
  }
}

TEST_F(ClusterServiceAuthTest, RefusalCarriesTheSynodCode) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("synod-digest", "someone:pw");
  v1::TransferLeaderRequest req;
  req.set_id(2);
  v1::TransferLeaderResponse resp;
  grpc::Status s = stub_->TransferLeader(&ctx, req, &resp);
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(s.error_details()));
  EXPECT_EQ(header.code(), v1::PERMISSION_DENIED);
}

TEST_F(ClusterServiceAuthTest, StatusAndListsNeedAnIdentity) {
  {
    grpc::ClientContext ctx;
    v1::StatusResponse r;
    EXPECT_EQ(stub_->Status(&ctx, v1::StatusRequest(), &r).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    v1::MemberListResponse r;
    EXPECT_EQ(stub_->MemberList(&ctx, v1::MemberListRequest(), &r).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    v1::SettingsGetResponse r;
    EXPECT_EQ(stub_->SettingsGet(&ctx, v1::SettingsGetRequest(), &r).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer forged.token");
    v1::StatusResponse r;
    EXPECT_EQ(stub_->Status(&ctx, v1::StatusRequest(), &r).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
}

}  // namespace
}  // namespace synod::server
