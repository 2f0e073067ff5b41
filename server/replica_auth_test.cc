// A whole single-replica synod and its Auth wiring: the service is served,
// --superuser_digest reaches the Authenticator, a malformed one stops
// start-up, and with auth disabled (the default) the gated cluster calls
// stay open.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/replica.h"
#include "server/replica_testing.h"
#include "storage/acl.h"
#include "synod/v1/auth.grpc.pb.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::WaitUntil;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  return ctx;
}

TEST(ReplicaAuthTest, MalformedSuperuserDigestStopsStartUp) {
  TempDir dir;
  ReplicaOptions options = SingleReplicaOptions(dir);
  options.superuser_digest = "super:secret";  // a password, not its digest
  absl::StatusOr<std::unique_ptr<Replica>> replica = Replica::Start(options);
  ASSERT_FALSE(replica.ok());
  EXPECT_EQ(replica.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(replica.status().message().find("superuser_digest"), std::string::npos);
}

TEST(ReplicaAuthTest, ServesAuthAndKnowsItsSuperuser) {
  TempDir dir;
  ReplicaOptions options = SingleReplicaOptions(dir);
  options.superuser_digest = storage::DigestId("super", "secret");
  absl::StatusOr<std::unique_ptr<Replica>> replica = Replica::Start(options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto channel = grpc::CreateChannel(options.client_addr, grpc::InsecureChannelCredentials());
  auto auth = v1::Auth::NewStub(channel);
  auto cluster = v1::Cluster::NewStub(channel);
  // Auth is off by default: the gated calls answer anyone.
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::StatusResponse st;
        return cluster->Status(Ctx().get(), v1::StatusRequest(), &st).ok() &&
               st.role() == v1::ROLE_LEADER;
      },
      absl::Seconds(10)));
  v1::AuthStatusResponse status;
  ASSERT_TRUE(auth->AuthStatus(Ctx().get(), v1::AuthStatusRequest(), &status).ok());
  EXPECT_FALSE(status.enabled());

  auto super = Ctx();
  super->AddMetadata("synod-digest", "super:secret");
  v1::WhoAmIResponse who;
  ASSERT_TRUE(auth->WhoAmI(super.get(), v1::WhoAmIRequest(), &who).ok());
  EXPECT_TRUE(who.superuser());
  auto other = Ctx();
  other->AddMetadata("synod-digest", "super:wrong");
  ASSERT_TRUE(auth->WhoAmI(other.get(), v1::WhoAmIRequest(), &who).ok());
  EXPECT_FALSE(who.superuser());
  (*replica)->Shutdown();
}

}  // namespace
}  // namespace synod::server
