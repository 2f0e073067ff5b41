// The Tree service's access checks over a real in-process gRPC server: reads
// checked against the ACL of the state they read (per permission and
// identity, at past versions, of deleted nodes), GetAcl's redaction, the
// caller stamped into every proposed command, bad ACLs refused before the
// log, and UNAUTHENTICATED for bad credentials. The replica behind the
// service is a MemoryTreeStore the test fills and a RequestFlow that reads
// at once and records what would be proposed.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/services/tree_service.h"
#include "storage/acl.h"
#include "storage/memory_tree_store.h"

namespace synod::server {
namespace {

using Stream = grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>;

const std::string kBob = storage::DigestId("bob", "secret");

// Reads run at once; writes are recorded and answered OK (their effect is
// apply's, tested in storage/).
class RecordingFlow final : public RequestFlow {
 public:
  explicit RecordingFlow(ReplicaState* state)
      : RequestFlow(state, nullptr, nullptr, nullptr, absl::Seconds(30)) {}

  void Write(absl::Time, v1::Command command, RequestTracker::Callback done) override {
    v1::CommandResult result;
    for (int i = 0; i < command.txn().ops_size(); ++i) result.add_results()->set_code(v1::OK);
    {
      absl::MutexLock lock(&mu_);
      proposed_.push_back(std::move(command));
    }
    Outcome outcome;
    outcome.result = &result;
    done(outcome);
  }

  void Read(absl::Time, const v1::ReadOptions&, std::function<void()> read,
            RequestTracker::Callback) override {
    read();
  }

  std::vector<v1::Command> proposed() {
    absl::MutexLock lock(&mu_);
    return proposed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::Command> proposed_ ABSL_GUARDED_BY(mu_);
};

// The caller a test names in the "test-caller" metadata: "scheme:id" (may
// repeat), "super" for the superuser, "bad" for credentials that fail;
// anonymous without it.
absl::StatusOr<v1::Caller> TestCallers(const grpc::ServerContextBase& context) {
  v1::Caller caller;
  auto [begin, end] = context.client_metadata().equal_range("test-caller");
  for (auto it = begin; it != end; ++it) {
    const std::string value(it->second.data(), it->second.size());
    if (value == "bad") return absl::UnauthenticatedError("bad test credentials");
    if (value == "super") {
      caller.set_superuser(true);
      continue;
    }
    const size_t colon = value.find(':');
    v1::Identity* id = caller.add_ids();
    id->set_scheme(value.substr(0, colon));
    id->set_id(value.substr(colon + 1));
  }
  return caller;
}

storage::Acl AclOf(std::vector<std::string> texts) {
  storage::Acl acl;
  for (const std::string& text : texts) {
    absl::StatusOr<v1::Acl> entry = storage::ParseAclEntry(text);
    EXPECT_TRUE(entry.ok()) << entry.status();
    if (entry.ok()) acl.push_back(storage::FromProto(*entry));
  }
  return acl;
}

storage::Node MakeNode(int64_t version, storage::Acl acl, std::string data, uint64_t seq) {
  storage::Node node;
  node.stat.version = version;
  node.stat.data_length = static_cast<int64_t>(data.size());
  node.history_seq = seq;
  node.acl = std::move(acl);
  node.data = std::move(data);
  return node;
}

storage::HistoryEntry Version(uint64_t revision, int64_t version, storage::Acl acl,
                              std::string data, bool deleted = false) {
  storage::HistoryEntry entry;
  entry.revision = revision;
  entry.deleted = deleted;
  entry.stat.version = version;
  entry.acl = std::move(acl);
  entry.data = std::move(data);
  return entry;
}

class TreeAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // /open: no ACL. /secret: alice reads and administers, bob (digest)
    // reads, carol only writes; its version 0 (revision 5) was world
    // readable. /gone: alice's, deleted at revision 4.
    const storage::Acl secret =
        AclOf({"user:alice:ra", "digest:" + kBob + ":r", "user:carol:w"});
    storage::WriteSet ws;
    ws.applied_index = 10;
    ws.nodes["/open"] = MakeNode(0, {}, "o", 1);
    ws.history[{"/open", 1}] = Version(2, 0, {}, "o");
    ws.nodes["/secret"] = MakeNode(1, secret, "s1", 2);
    ws.history[{"/secret", 1}] = Version(5, 0, AclOf({"world:anyone:r"}), "public then");
    ws.history[{"/secret", 2}] = Version(6, 1, secret, "s1");
    ws.nodes["/secret/child"] = MakeNode(0, {}, "c", 1);
    ws.history[{"/secret/child", 1}] = Version(7, 0, {}, "c");
    ws.history[{"/gone", 1}] = Version(3, 0, AclOf({"user:alice:r"}), "g");
    ws.history[{"/gone", 2}] = Version(4, 0, AclOf({"user:alice:r"}), "", /*deleted=*/true);
    ASSERT_TRUE(store_.Commit(ws).ok());

    service_ = std::make_unique<TreeService>(&flow_, &store_, TreeService::Limits(), nullptr,
                                             TestCallers);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Tree::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                  grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  // A client context for a call as `callers` (see TestCallers).
  static std::unique_ptr<grpc::ClientContext> As(std::vector<std::string> callers) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    for (const std::string& c : callers) context->AddMetadata("test-caller", c);
    return context;
  }

  // Get as `callers`; the Synod code (from the header, also on failure).
  v1::ErrorCode Get(std::vector<std::string> callers, v1::GetRequest req, v1::GetResponse* resp) {
    resp->Clear();
    grpc::Status s = stub_->Get(As(std::move(callers)).get(), req, resp);
    return Code(s, resp->header());
  }
  v1::ErrorCode Get(std::vector<std::string> callers, const std::string& path,
                    v1::GetResponse* resp) {
    v1::GetRequest req;
    req.set_path(path);
    return Get(std::move(callers), req, resp);
  }

  static v1::ErrorCode Code(const grpc::Status& s, const v1::ResponseHeader& ok_header) {
    if (s.ok()) return ok_header.code();
    v1::ResponseHeader header;
    EXPECT_TRUE(header.ParseFromString(s.error_details())) << s.error_message();
    EXPECT_EQ(s.error_code(), GrpcCodeFor(header.code()));
    return header.code();
  }

  storage::MemoryTreeStore store_;
  ReplicaState state_{7, 1};
  RecordingFlow flow_{&state_};
  std::unique_ptr<TreeService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Tree::Stub> stub_;
};

TEST_F(TreeAclTest, GetNeedsReadOnTheNode) {
  v1::GetResponse resp;
  EXPECT_EQ(Get({}, "/secret", &resp), v1::PERMISSION_DENIED);
  EXPECT_TRUE(resp.data().empty());
  EXPECT_FALSE(resp.has_stat());
  EXPECT_EQ(Get({"user:carol"}, "/secret", &resp), v1::PERMISSION_DENIED);  // write only
  EXPECT_EQ(Get({"digest:" + storage::DigestId("bob", "wrong")}, "/secret", &resp),
            v1::PERMISSION_DENIED);
  for (const std::vector<std::string>& who : std::vector<std::vector<std::string>>{
           {"user:alice"}, {"digest:" + kBob}, {"super"}, {"user:carol", "user:alice"}}) {
    resp.Clear();
    EXPECT_EQ(Get(who, "/secret", &resp), v1::OK) << who[0];
    EXPECT_EQ(resp.data(), "s1");
    EXPECT_EQ(resp.stat().version(), 1);
  }
  EXPECT_EQ(Get({}, "/open", &resp), v1::OK);
  // A missing node is NO_NODE whoever asks, even under a node they may not
  // read (ZooKeeper checks existence first).
  EXPECT_EQ(Get({}, "/secret/missing", &resp), v1::NO_NODE);
}

TEST_F(TreeAclTest, ReadsAtAPastVersionAreCheckedWithThatVersionsAcl) {
  v1::GetRequest req;
  req.set_path("/secret");
  req.set_version(0);
  v1::GetResponse resp;
  EXPECT_EQ(Get({}, req, &resp), v1::OK);
  EXPECT_EQ(resp.data(), "public then");
  req.set_version(1);
  EXPECT_EQ(Get({}, req, &resp), v1::PERMISSION_DENIED);
  EXPECT_TRUE(resp.data().empty());
  EXPECT_EQ(Get({"user:alice"}, req, &resp), v1::OK);
  // A version that does not exist would tell the current version.
  req.set_version(9);
  EXPECT_EQ(Get({}, req, &resp), v1::PERMISSION_DENIED);
  EXPECT_EQ(Get({"user:alice"}, req, &resp), v1::INVALID_ARGUMENT);

  req.clear_version();
  req.set_revision(5);
  EXPECT_EQ(Get({}, req, &resp), v1::OK);
  EXPECT_EQ(resp.data(), "public then");
  req.set_revision(8);
  EXPECT_EQ(Get({}, req, &resp), v1::PERMISSION_DENIED);
  EXPECT_EQ(Get({"digest:" + kBob}, req, &resp), v1::OK);
  EXPECT_EQ(resp.data(), "s1");
  // /gone as it was before its delete is alice's.
  req.set_path("/gone");
  req.set_revision(3);
  EXPECT_EQ(Get({}, req, &resp), v1::PERMISSION_DENIED);
  EXPECT_EQ(Get({"user:alice"}, req, &resp), v1::OK);
  EXPECT_EQ(resp.data(), "g");
}

TEST_F(TreeAclTest, GetChildrenNeedsReadOnTheParent) {
  v1::GetChildrenRequest req;
  req.set_path("/secret");
  v1::GetChildrenResponse resp;
  grpc::Status s = stub_->GetChildren(As({}).get(), req, &resp);
  EXPECT_EQ(Code(s, resp.header()), v1::PERMISSION_DENIED);
  EXPECT_EQ(resp.children_size(), 0);
  resp.Clear();
  s = stub_->GetChildren(As({"user:alice"}).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.children_size(), 1);
  EXPECT_EQ(resp.children(0), "child");
  // The root is open: its listing shows /secret to anyone.
  req.set_path("/");
  resp.Clear();
  ASSERT_TRUE(stub_->GetChildren(As({}).get(), req, &resp).ok());
  EXPECT_EQ(resp.children_size(), 2);
  req.set_path("/missing");
  s = stub_->GetChildren(As({}).get(), req, &resp);
  EXPECT_EQ(Code(s, resp.header()), v1::NO_NODE);
}

TEST_F(TreeAclTest, HistoryNeedsReadOnTheNodeOrOnItsLastVersionOnceDeleted) {
  v1::HistoryRequest req;
  req.set_path("/secret");
  v1::HistoryResponse resp;
  grpc::Status s = stub_->History(As({}).get(), req, &resp);
  EXPECT_EQ(Code(s, resp.header()), v1::PERMISSION_DENIED);
  EXPECT_EQ(resp.versions_size(), 0);
  resp.Clear();
  ASSERT_TRUE(stub_->History(As({"user:alice"}).get(), req, &resp).ok());
  EXPECT_EQ(resp.versions_size(), 2);
  req.set_path("/gone");
  resp.Clear();
  s = stub_->History(As({"digest:" + kBob}).get(), req, &resp);
  EXPECT_EQ(Code(s, resp.header()), v1::PERMISSION_DENIED);
  EXPECT_EQ(resp.versions_size(), 0);
  resp.Clear();
  ASSERT_TRUE(stub_->History(As({"user:alice"}).get(), req, &resp).ok());
  EXPECT_EQ(resp.versions_size(), 2);
}

TEST_F(TreeAclTest, ExistsAndSyncNeedNoPermission) {
  v1::ExistsRequest req;
  req.set_path("/secret");
  v1::ExistsResponse resp;
  ASSERT_TRUE(stub_->Exists(As({}).get(), req, &resp).ok());
  EXPECT_TRUE(resp.exists());
  EXPECT_EQ(resp.stat().version(), 1);
  v1::SyncResponse synced;
  EXPECT_TRUE(stub_->Sync(As({}).get(), v1::SyncRequest(), &synced).ok());
}

TEST_F(TreeAclTest, GetAclNeedsReadOrAdminAndHidesHashesFromReaders) {
  auto get_acl = [&](std::vector<std::string> who, const std::string& path,
                     v1::GetAclResponse* resp) {
    v1::GetAclRequest req;
    req.set_path(path);
    resp->Clear();
    return Code(stub_->GetAcl(As(std::move(who)).get(), req, resp), resp->header());
  };
  v1::GetAclResponse resp;
  EXPECT_EQ(get_acl({}, "/secret", &resp), v1::PERMISSION_DENIED);
  EXPECT_EQ(resp.acl_size(), 0);
  EXPECT_FALSE(resp.has_stat());
  EXPECT_EQ(get_acl({"user:carol"}, "/secret", &resp), v1::PERMISSION_DENIED);
  // bob reads: the digest's hash is hidden.
  ASSERT_EQ(get_acl({"digest:" + kBob}, "/secret", &resp), v1::OK);
  ASSERT_EQ(resp.acl_size(), 3);
  EXPECT_EQ(storage::FormatAcl(resp.acl(1)), "digest:bob:x:r");
  EXPECT_EQ(resp.stat().version(), 1);
  // alice administers: she sees it all.
  ASSERT_EQ(get_acl({"user:alice"}, "/secret", &resp), v1::OK);
  ASSERT_EQ(resp.acl_size(), 3);
  EXPECT_EQ(storage::FormatAcl(resp.acl(1)), "digest:" + kBob + ":r");
  ASSERT_EQ(get_acl({"super"}, "/secret", &resp), v1::OK);
  EXPECT_EQ(storage::FormatAcl(resp.acl(1)), "digest:" + kBob + ":r");
  ASSERT_EQ(get_acl({}, "/open", &resp), v1::OK);
  ASSERT_EQ(resp.acl_size(), 1);
  EXPECT_EQ(storage::FormatAcl(resp.acl(0)), "world:anyone:cdrwa");
  EXPECT_EQ(get_acl({}, "/missing", &resp), v1::NO_NODE);
}

TEST_F(TreeAclTest, EveryWriteProposesItsCaller) {
  const std::vector<std::string> alice = {"user:alice", "ip:127.0.0.1"};
  {
    v1::CreateRequest req;
    req.mutable_op()->set_path("/a");
    *req.mutable_op()->add_acl() = *storage::ParseAclEntry("auth::cdrwa");
    v1::CreateResponse resp;
    ASSERT_TRUE(stub_->Create(As(alice).get(), req, &resp).ok());
  }
  {
    v1::SetRequest req;
    req.mutable_op()->set_path("/a");
    v1::SetResponse resp;
    ASSERT_TRUE(stub_->Set(As(alice).get(), req, &resp).ok());
  }
  {
    v1::DeleteRequest req;
    req.mutable_op()->set_path("/a");
    v1::DeleteResponse resp;
    ASSERT_TRUE(stub_->Delete(As(alice).get(), req, &resp).ok());
  }
  {
    v1::SetAclRequest req;
    req.mutable_op()->set_path("/open");
    req.mutable_op()->set_expected_aversion(0);
    *req.mutable_op()->add_acl() = *storage::ParseAclEntry("world:anyone:r");
    v1::SetAclResponse resp;
    ASSERT_TRUE(stub_->SetAcl(As(alice).get(), req, &resp).ok());
  }
  {
    v1::MultiRequest req;
    req.add_ops()->mutable_check()->set_path("/open");
    v1::MultiResponse resp;
    ASSERT_TRUE(stub_->Multi(As(alice).get(), req, &resp).ok());
  }
  const std::vector<v1::Command> proposed = flow_.proposed();
  ASSERT_EQ(proposed.size(), 5u);
  for (const v1::Command& c : proposed) {
    ASSERT_EQ(c.caller().ids_size(), 2) << c.ShortDebugString();
    EXPECT_EQ(c.caller().ids(0).scheme(), "user");
    EXPECT_EQ(c.caller().ids(0).id(), "alice");
    EXPECT_EQ(c.caller().ids(1).scheme(), "ip");
    EXPECT_FALSE(c.caller().superuser());
  }
  EXPECT_TRUE(proposed[3].txn().ops(0).has_set_acl());
}

TEST_F(TreeAclTest, BadAclsAreRefusedBeforeTheLog) {
  auto set_acl = [&](std::vector<std::string> who, v1::SetAclOp op) {
    v1::SetAclRequest req;
    *req.mutable_op() = std::move(op);
    v1::SetAclResponse resp;
    return Code(stub_->SetAcl(As(std::move(who)).get(), req, &resp), resp.header());
  };
  v1::SetAclOp op;
  op.set_path("/open");
  *op.add_acl() = *storage::ParseAclEntry("world:someone:r");
  EXPECT_EQ(set_acl({"user:alice"}, op), v1::INVALID_ACL);
  op.clear_acl();
  *op.add_acl() = *storage::ParseAclEntry("auth::r");
  EXPECT_EQ(set_acl({}, op), v1::INVALID_ACL);  // no identity to put in its place
  EXPECT_EQ(set_acl({"ip:127.0.0.1"}, op), v1::INVALID_ACL);
  op.set_expected_aversion(-2);
  EXPECT_EQ(set_acl({"user:alice"}, op), v1::INVALID_ARGUMENT);
  op.clear_expected_aversion();
  op.set_path("no/slash");
  EXPECT_EQ(set_acl({"user:alice"}, op), v1::INVALID_PATH);

  v1::CreateRequest create;
  create.mutable_op()->set_path("/b");
  *create.mutable_op()->add_acl() = *storage::ParseAclEntry("digest:bob:r");  // no hash
  v1::CreateResponse created;
  grpc::Status s = stub_->Create(As({"user:alice"}).get(), create, &created);
  EXPECT_EQ(Code(s, created.header()), v1::INVALID_ACL);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::MultiRequest multi;
  multi.add_ops()->mutable_check()->set_path("/open");
  *multi.add_ops()->mutable_create() = create.op();
  v1::MultiResponse resp;
  ASSERT_TRUE(stub_->Multi(As({"user:alice"}).get(), multi, &resp).ok());
  EXPECT_EQ(resp.header().code(), v1::INVALID_ACL);
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(1).code(), v1::INVALID_ACL);

  EXPECT_TRUE(flow_.proposed().empty());
}

TEST_F(TreeAclTest, BadCredentialsFailTheCallAndProposeNothing) {
  v1::GetResponse got;
  grpc::Status s = stub_->Get(As({"user:alice", "bad"}).get(), [] {
    v1::GetRequest req;
    req.set_path("/open");
    return req;
  }(), &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(s.error_details()));
  EXPECT_EQ(header.code(), v1::UNAUTHENTICATED);
  EXPECT_TRUE(got.data().empty());
  v1::CreateRequest create;
  create.mutable_op()->set_path("/c");
  v1::CreateResponse created;
  EXPECT_EQ(stub_->Create(As({"bad"}).get(), create, &created).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(flow_.proposed().empty());
}

TEST_F(TreeAclTest, APipelineStreamHasOneCallerForAllItsCalls) {
  auto context = As({"digest:" + kBob});
  std::unique_ptr<Stream> stream = stub_->Pipeline(context.get());
  v1::PipelineRequest req;
  v1::PipelineCall* get = req.add_calls();
  get->set_id(1);
  get->mutable_get()->set_path("/secret");
  v1::PipelineCall* acl = req.add_calls();
  acl->set_id(2);
  acl->mutable_get_acl()->set_path("/secret");
  v1::PipelineCall* history = req.add_calls();
  history->set_id(3);
  history->mutable_history()->set_path("/gone");
  v1::PipelineCall* create = req.add_calls();
  create->set_id(4);
  create->mutable_create()->mutable_op()->set_path("/p");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->WritesDone());
  std::map<uint64_t, v1::PipelineReply> replies;
  v1::PipelineResponse resp;
  while (replies.size() < 4 && stream->Read(&resp)) {
    for (const v1::PipelineReply& r : resp.replies()) replies[r.id()] = r;
  }
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[1].status_code(), grpc::StatusCode::OK);
  EXPECT_EQ(replies[1].get().data(), "s1");
  EXPECT_EQ(replies[2].status_code(), grpc::StatusCode::OK);
  EXPECT_EQ(storage::FormatAcl(replies[2].get_acl().acl(1)), "digest:bob:x:r");
  EXPECT_EQ(replies[3].status_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(replies[3].history().versions_size(), 0);
  EXPECT_EQ(replies[4].status_code(), grpc::StatusCode::OK);
  const std::vector<v1::Command> proposed = flow_.proposed();
  ASSERT_EQ(proposed.size(), 1u);
  ASSERT_EQ(proposed[0].caller().ids_size(), 1);
  EXPECT_EQ(proposed[0].caller().ids(0).id(), kBob);
}

TEST_F(TreeAclTest, APipelineStreamWithBadCredentialsIsRefused) {
  auto context = As({"bad"});
  std::unique_ptr<Stream> stream = stub_->Pipeline(context.get());
  v1::PipelineRequest req;
  req.add_calls()->mutable_create()->mutable_op()->set_path("/p");
  stream->Write(req);  // may fail: the stream is already finished
  stream->WritesDone();
  v1::PipelineResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(flow_.proposed().empty());
}

}  // namespace
}  // namespace synod::server
