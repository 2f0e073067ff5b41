#include "client/testing/fake_cluster.h"

#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "client/testing/fake_state.h"
#include "grpc/grpc.h"
#include "grpcpp/grpcpp.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::client::testing {

// Fault switches and observations, shared by the replicas.
struct FakeControl {
  absl::Mutex mu;
  uint64_t leader ABSL_GUARDED_BY(mu) = 0;
  std::map<std::pair<uint64_t, std::string>, std::pair<int, ErrorCode>> fail_next
      ABSL_GUARDED_BY(mu);
  std::map<std::pair<uint64_t, std::string>, std::pair<int, ErrorCode>> fail_after
      ABSL_GUARDED_BY(mu);
  std::set<std::pair<uint64_t, std::string>> hung ABSL_GUARDED_BY(mu);
  absl::Duration delay ABSL_GUARDED_BY(mu);  // before every answer of a delayed method
  std::set<std::string> delayed ABSL_GUARDED_BY(mu);
  std::map<std::pair<uint64_t, std::string>, int> calls ABSL_GUARDED_BY(mu);
  std::map<std::string, std::vector<std::string>> requests ABSL_GUARDED_BY(mu);
  std::vector<v1::Member> members ABSL_GUARDED_BY(mu);
  std::set<uint64_t> stopped ABSL_GUARDED_BY(mu);
  bool corrupt_next_snapshot ABSL_GUARDED_BY(mu) = false;
  absl::CondVar released;  // signalled when hangs are released
};

namespace {

bool IsWrite(const std::string& method) {
  return method == "Create" || method == "Set" || method == "Delete" || method == "Multi" ||
         method == "MemberAdd" || method == "MemberPromote" || method == "MemberRemove" ||
         method == "TransferLeader";
}

}  // namespace

// One fake replica: a gRPC server with the four client services.
class FakeReplica final : public v1::Tree::Service,
                          public v1::Session::Service,
                          public v1::Watch::Service,
                          public v1::Cluster::Service {
 public:
  FakeReplica(const FakeCluster::Options& options, FakeState* state, FakeControl* control,
              uint64_t member)
      : options_(options), state_(state), control_(control), member_(member) {}

  ~FakeReplica() override { Stop(); }

  void Start() {
    grpc::ServerBuilder builder;
    int selected = 0;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials(),
                             &selected);
    builder.RegisterService(static_cast<v1::Tree::Service*>(this));
    builder.RegisterService(static_cast<v1::Session::Service*>(this));
    builder.RegisterService(static_cast<v1::Watch::Service*>(this));
    builder.RegisterService(static_cast<v1::Cluster::Service*>(this));
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || selected == 0) {
      std::fprintf(stderr, "FakeReplica: cannot listen on 127.0.0.1:%d\n", port_);
      std::abort();
    }
    port_ = selected;
  }

  void Stop() {
    if (server_ == nullptr) return;
    BreakStreams();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
    server_.reset();
  }

  int port() const { return port_; }

  void BreakStreams() {
    absl::MutexLock lock(&streams_mu_);
    for (grpc::ServerContext* ctx : streams_) ctx->TryCancel();
  }

  // --- Tree.
  grpc::Status Create(grpc::ServerContext* ctx, const v1::CreateRequest* req,
                      v1::CreateResponse* resp) override {
    return Serve(ctx, "Create", *req, resp, [&] { return state_->Create(*req, resp); });
  }
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                   v1::GetResponse* resp) override {
    return Serve(ctx, "Get", *req, resp, [&] { return state_->Get(*req, resp); });
  }
  grpc::Status Exists(grpc::ServerContext* ctx, const v1::ExistsRequest* req,
                      v1::ExistsResponse* resp) override {
    return Serve(ctx, "Exists", *req, resp, [&] { return state_->Exists(*req, resp); });
  }
  grpc::Status Set(grpc::ServerContext* ctx, const v1::SetRequest* req,
                   v1::SetResponse* resp) override {
    return Serve(ctx, "Set", *req, resp, [&] { return state_->Set(*req, resp); });
  }
  grpc::Status Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                      v1::DeleteResponse* resp) override {
    return Serve(ctx, "Delete", *req, resp, [&] { return state_->Delete(*req, resp); });
  }
  grpc::Status GetChildren(grpc::ServerContext* ctx, const v1::GetChildrenRequest* req,
                           v1::GetChildrenResponse* resp) override {
    return Serve(ctx, "GetChildren", *req, resp,
                 [&] { return state_->GetChildren(*req, options_.max_page, resp); });
  }
  grpc::Status Multi(grpc::ServerContext* ctx, const v1::MultiRequest* req,
                     v1::MultiResponse* resp) override {
    return Serve(ctx, "Multi", *req, resp, [&] { return state_->Multi(*req, resp); });
  }
  grpc::Status History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                       v1::HistoryResponse* resp) override {
    return Serve(ctx, "History", *req, resp, [&] { return state_->History(*req, resp); });
  }
  grpc::Status Sync(grpc::ServerContext* ctx, const v1::SyncRequest* req,
                    v1::SyncResponse* resp) override {
    return Serve(ctx, "Sync", *req, resp, [] { return FakeState::Outcome{}; });
  }

  // --- Session.
  grpc::Status Open(grpc::ServerContext* ctx, const v1::OpenSessionRequest* req,
                    v1::OpenSessionResponse* resp) override {
    return Serve(ctx, "Open", *req, resp,
                 [&] { return state_->OpenSession(req->timeout_ms(), resp); });
  }
  grpc::Status Close(grpc::ServerContext* ctx, const v1::CloseSessionRequest* req,
                     v1::CloseSessionResponse* resp) override {
    return Serve(ctx, "Close", *req, resp, [&] { return state_->CloseSession(*req); });
  }
  grpc::Status KeepAlive(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::KeepAliveResponse, v1::KeepAliveRequest>* stream) override {
    if (std::optional<grpc::Status> failed = AdmitStream("KeepAlive", v1::KeepAliveRequest())) {
      return *failed;
    }
    StreamGuard guard(this, ctx);
    v1::KeepAliveRequest req;
    while (stream->Read(&req)) {
      {
        absl::MutexLock lock(&control_->mu);
        if (control_->hung.contains({member_, "KeepAlive"})) continue;
      }
      v1::KeepAliveResponse resp;
      FakeState::Outcome out = state_->KeepAlive(req, member_, &resp);
      FillHeader(out, resp.mutable_header());
      if (!stream->Write(resp)) break;
    }
    return grpc::Status::OK;
  }

  // --- Watch.
  grpc::Status Watch(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::WatchResponse, v1::WatchRequest>* stream) override {
    if (std::optional<grpc::Status> failed = AdmitStream("Watch", v1::WatchRequest())) {
      return *failed;
    }
    StreamGuard guard(this, ctx);
    auto conn = std::make_shared<WatchConn>(member_);
    state_->AddConn(conn);
    std::thread writer([&] {
      while (std::optional<v1::WatchResponse> r = conn->Pop()) {
        if (!stream->Write(*r)) break;
      }
    });
    v1::WatchRequest req;
    while (stream->Read(&req)) {
      Record("WatchRequest", req);
      v1::ResponseHeader header;
      FillHeader(FakeState::Outcome{}, &header);
      state_->WatchRequest(conn, req, header);
    }
    state_->RemoveConn(conn.get());
    conn->Close();
    writer.join();
    return grpc::Status::OK;
  }

  // --- Cluster.
  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override {
    return Serve(ctx, "Status", *req, resp, [&] {
      absl::MutexLock lock(&control_->mu);
      resp->set_id(member_);
      resp->set_role(control_->leader == member_ ? v1::ROLE_LEADER : v1::ROLE_FOLLOWER);
      resp->set_term(1);
      resp->set_leader_id(control_->leader);
      resp->set_commit_index(state_->revision());
      resp->set_applied_index(state_->revision());
      resp->set_digest(state_->Digest());
      for (const v1::Member& m : control_->members) {
        v1::MemberStatus* ms = resp->add_members();
        *ms->mutable_member() = m;
        ms->set_match_index(state_->revision());
        ms->set_reachable(!control_->stopped.contains(m.id()));
      }
      resp->set_log_first_index(1);
      resp->set_version("fake");
      return FakeState::Outcome{};
    });
  }
  grpc::Status MemberList(grpc::ServerContext* ctx, const v1::MemberListRequest* req,
                          v1::MemberListResponse* resp) override {
    return Serve(ctx, "MemberList", *req, resp, [&] {
      absl::MutexLock lock(&control_->mu);
      for (const v1::Member& m : control_->members) *resp->add_members() = m;
      return FakeState::Outcome{};
    });
  }
  grpc::Status MemberAdd(grpc::ServerContext* ctx, const v1::MemberAddRequest* req,
                         v1::MemberAddResponse* resp) override {
    return Serve(ctx, "MemberAdd", *req, resp, [&] {
      absl::MutexLock lock(&control_->mu);
      for (const v1::Member& m : control_->members) {
        if (m.id() == req->id() || m.peer_addr() == req->peer_addr()) {
          return FakeState::Outcome{v1::MEMBER_EXISTS, absl::StrCat("member ", m.id())};
        }
      }
      v1::Member m;
      m.set_id(req->id());
      m.set_peer_addr(req->peer_addr());
      m.set_client_addr(req->client_addr());
      m.set_learner(true);
      control_->members.push_back(m);
      for (const v1::Member& x : control_->members) *resp->add_members() = x;
      return FakeState::Outcome{};
    });
  }
  grpc::Status MemberPromote(grpc::ServerContext* ctx, const v1::MemberPromoteRequest* req,
                             v1::MemberPromoteResponse* resp) override {
    return Serve(ctx, "MemberPromote", *req, resp, [&] {
      absl::MutexLock lock(&control_->mu);
      for (v1::Member& m : control_->members) {
        if (m.id() != req->id()) continue;
        m.set_learner(false);
        for (const v1::Member& x : control_->members) *resp->add_members() = x;
        return FakeState::Outcome{};
      }
      return FakeState::Outcome{v1::MEMBER_NOT_FOUND, absl::StrCat("member ", req->id())};
    });
  }
  grpc::Status MemberRemove(grpc::ServerContext* ctx, const v1::MemberRemoveRequest* req,
                            v1::MemberRemoveResponse* resp) override {
    return Serve(ctx, "MemberRemove", *req, resp, [&] {
      absl::MutexLock lock(&control_->mu);
      auto& ms = control_->members;
      auto it = std::find_if(ms.begin(), ms.end(),
                             [&](const v1::Member& m) { return m.id() == req->id(); });
      if (it == ms.end()) {
        return FakeState::Outcome{v1::MEMBER_NOT_FOUND, absl::StrCat("member ", req->id())};
      }
      ms.erase(it);
      for (const v1::Member& x : ms) *resp->add_members() = x;
      return FakeState::Outcome{};
    });
  }
  grpc::Status TransferLeader(grpc::ServerContext* ctx, const v1::TransferLeaderRequest* req,
                              v1::TransferLeaderResponse* resp) override {
    return Serve(ctx, "TransferLeader", *req, resp, [&] {
      absl::MutexLock lock(&control_->mu);
      for (const v1::Member& m : control_->members) {
        if (m.id() != req->id()) continue;
        control_->leader = m.id();
        return FakeState::Outcome{};
      }
      return FakeState::Outcome{v1::MEMBER_NOT_FOUND, absl::StrCat("member ", req->id())};
    });
  }
  grpc::Status Snapshot(grpc::ServerContext* /*ctx*/, const v1::SnapshotRequest* req,
                        grpc::ServerWriter<v1::SnapshotChunk>* writer) override {
    if (std::optional<grpc::Status> failed = AdmitStream("Snapshot", *req)) return *failed;
    const std::string dump = state_->Dump();
    bool corrupt;
    std::vector<v1::Member> members;
    {
      absl::MutexLock lock(&control_->mu);
      corrupt = control_->corrupt_next_snapshot;
      control_->corrupt_next_snapshot = false;
      members = control_->members;
    }
    base::Crc32cStream crc;
    const size_t piece = dump.size() / 3 + 1;
    for (size_t off = 0, i = 0; off < dump.size() || i == 0; off += piece, ++i) {
      v1::SnapshotChunk c;
      if (i == 0) {
        c.set_applied_index(state_->revision());
        c.set_applied_term(1);
        c.set_digest(state_->Digest());
        for (const v1::Member& m : members) *c.add_members() = m;
        c.set_format_version(1);
      }
      c.set_file_name("state.snap");
      c.set_offset(off);
      c.set_data(dump.substr(off, piece));
      crc.Update(c.data());
      if (off + piece >= dump.size()) {
        c.set_last_in_file(true);
        c.set_done(true);
        c.set_crc32c(crc.value() + (corrupt ? 1 : 0));
      }
      if (!writer->Write(c)) break;
      if (c.done()) break;
    }
    return grpc::Status::OK;
  }

 private:
  class StreamGuard {
   public:
    StreamGuard(FakeReplica* r, grpc::ServerContext* ctx) : r_(r), ctx_(ctx) {
      absl::MutexLock lock(&r_->streams_mu_);
      r_->streams_.insert(ctx_);
    }
    ~StreamGuard() {
      absl::MutexLock lock(&r_->streams_mu_);
      r_->streams_.erase(ctx_);
    }

   private:
    FakeReplica* r_;
    grpc::ServerContext* ctx_;
  };

  void Record(const std::string& method, const google::protobuf::Message& req) {
    absl::MutexLock lock(&control_->mu);
    ++control_->calls[{member_, method}];
    control_->requests[method].push_back(req.SerializeAsString());
  }

  // Counts the call; returns the injected failure, if any.
  std::optional<ErrorCode> Admit(const std::string& method, const google::protobuf::Message& req) {
    Record(method, req);
    absl::MutexLock lock(&control_->mu);
    auto it = control_->fail_next.find({member_, method});
    if (it == control_->fail_next.end()) return std::nullopt;
    const ErrorCode code = it->second.second;
    if (--it->second.first == 0) control_->fail_next.erase(it);
    return code;
  }

  // A stream that fails before its first message cannot carry a header:
  // always a non-OK status.
  std::optional<grpc::Status> AdmitStream(const std::string& method,
                                          const google::protobuf::Message& req) {
    std::optional<ErrorCode> code = Admit(method, req);
    if (!code.has_value()) return std::nullopt;
    v1::ResponseHeader h;
    FillHeader(FakeState::Outcome{static_cast<v1::ErrorCode>(*code), "injected failure"}, &h);
    const auto grpc_code = static_cast<grpc::StatusCode>(StatusCodeFor(*code));
    const std::string text = h.message().empty()
                                 ? v1::ErrorCode_Name(h.code())
                                 : absl::StrCat(v1::ErrorCode_Name(h.code()), ": ", h.message());
    if (options_.errors == FakeCluster::ErrorStyle::kDetails ||
        options_.errors == FakeCluster::ErrorStyle::kCodeOnly) {
      return grpc::Status(grpc_code, text, h.SerializeAsString());
    }
    return grpc::Status(grpc_code, text);
  }

  void WaitWhileHung(grpc::ServerContext* ctx, const std::string& method) {
    absl::MutexLock lock(&control_->mu);
    if (control_->delayed.contains(method)) {
      const absl::Time until = absl::Now() + control_->delay;
      while (absl::Now() < until && !ctx->IsCancelled()) {
        control_->released.WaitWithDeadline(&control_->mu, until);
      }
    }
    while (control_->hung.contains({member_, method}) && !ctx->IsCancelled()) {
      // Cancellation is not signalled to the CondVar: look again now and then.
      control_->released.WaitWithTimeout(&control_->mu, absl::Milliseconds(20));
    }
  }

  void FillHeader(const FakeState::Outcome& out, v1::ResponseHeader* h) {
    absl::MutexLock lock(&control_->mu);
    h->set_cluster_id(1);
    h->set_member_id(member_);
    h->set_leader_id(control_->leader);
    h->set_revision(state_->revision());
    h->set_raft_term(1);
    h->set_code(out.code);
    if (options_.errors != FakeCluster::ErrorStyle::kCodeOnly) h->set_message(out.message);
  }

  grpc::Status ToStatus(const v1::ResponseHeader& h) {
    if (h.code() == v1::OK || options_.errors == FakeCluster::ErrorStyle::kHeader) {
      return grpc::Status::OK;
    }
    const auto code =
        static_cast<grpc::StatusCode>(StatusCodeFor(static_cast<ErrorCode>(h.code())));
    const std::string text = h.message().empty()
                                 ? v1::ErrorCode_Name(h.code())
                                 : absl::StrCat(v1::ErrorCode_Name(h.code()), ": ", h.message());
    if (options_.errors == FakeCluster::ErrorStyle::kDetails ||
        options_.errors == FakeCluster::ErrorStyle::kCodeOnly) {
      return grpc::Status(code, text, h.SerializeAsString());
    }
    return grpc::Status(code, text);
  }

  template <typename Req, typename Resp, typename Body>
  grpc::Status Serve(grpc::ServerContext* ctx, const std::string& method, const Req& req,
                     Resp* resp, Body body) {
    if (std::optional<ErrorCode> code = Admit(method, req)) {
      FillHeader(FakeState::Outcome{static_cast<v1::ErrorCode>(*code), "injected failure"},
                 resp->mutable_header());
      return ToStatus(resp->header());
    }
    WaitWhileHung(ctx, method);
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    if (IsWrite(method) && !options_.forward_writes) {
      uint64_t leader;
      {
        absl::MutexLock lock(&control_->mu);
        leader = control_->leader;
      }
      if (leader != member_) {
        FillHeader(FakeState::Outcome{v1::NOT_LEADER, "not the leader"}, resp->mutable_header());
        return ToStatus(resp->header());
      }
    }
    FakeState::Outcome out = body();
    {
      absl::MutexLock lock(&control_->mu);
      auto it = control_->fail_after.find({member_, method});
      if (it != control_->fail_after.end()) {
        out = FakeState::Outcome{static_cast<v1::ErrorCode>(it->second.second),
                                 "injected failure after apply"};
        if (--it->second.first == 0) control_->fail_after.erase(it);
      }
    }
    FillHeader(out, resp->mutable_header());
    return ToStatus(resp->header());
  }

  const FakeCluster::Options options_;
  FakeState* const state_;
  FakeControl* const control_;
  const uint64_t member_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex streams_mu_;
  std::set<grpc::ServerContext*> streams_ ABSL_GUARDED_BY(streams_mu_);
};

namespace {

// Tests create and destroy many servers and channels; if gRPC shuts down
// each time the last of them goes, a sync-server thread still finishing can
// race with the next grpc_init. Keep the library up for the whole process.
void KeepGrpcInitialized() {
  static const bool initialized = [] {
    grpc_init();
    return true;
  }();
  (void)initialized;
}

}  // namespace

FakeCluster::FakeCluster() : FakeCluster(Options()) {}

FakeCluster::FakeCluster(Options options)
    : options_((KeepGrpcInitialized(), options)),
      state_(std::make_unique<FakeState>()),
      control_(std::make_unique<FakeControl>()) {
  {
    absl::MutexLock lock(&control_->mu);
    control_->leader = options_.leader;
  }
  for (int i = 0; i < options_.replicas; ++i) {
    auto r = std::make_unique<FakeReplica>(options_, state_.get(), control_.get(), i + 1);
    r->Start();
    replicas_.push_back(std::move(r));
  }
  absl::MutexLock lock(&control_->mu);
  for (int i = 0; i < options_.replicas; ++i) {
    v1::Member m;
    m.set_id(i + 1);
    m.set_peer_addr(absl::StrCat("127.0.0.1:", 17100 + i));
    m.set_client_addr(absl::StrCat("127.0.0.1:", replicas_[i]->port()));
    control_->members.push_back(m);
  }
}

FakeCluster::~FakeCluster() {
  ReleaseHangs();
  for (auto& r : replicas_) r->Stop();
}

std::vector<std::string> FakeCluster::endpoints() const {
  std::vector<std::string> out;
  for (const auto& r : replicas_) out.push_back(absl::StrCat("127.0.0.1:", r->port()));
  return out;
}

std::string FakeCluster::endpoint(uint64_t member) const {
  return absl::StrCat("127.0.0.1:", replicas_.at(member - 1)->port());
}

void FakeCluster::Stop(uint64_t member) {
  {
    absl::MutexLock lock(&control_->mu);
    control_->stopped.insert(member);
  }
  replicas_.at(member - 1)->Stop();
}

void FakeCluster::Restart(uint64_t member) {
  replicas_.at(member - 1)->Start();
  absl::MutexLock lock(&control_->mu);
  control_->stopped.erase(member);
}

void FakeCluster::FailNext(uint64_t member, const std::string& method, int count, ErrorCode code) {
  absl::MutexLock lock(&control_->mu);
  control_->fail_next[{member, method}] = {count, code};
}

void FakeCluster::FailAfterApply(uint64_t member, const std::string& method, int count,
                                 ErrorCode code) {
  absl::MutexLock lock(&control_->mu);
  control_->fail_after[{member, method}] = {count, code};
}

void FakeCluster::Hang(uint64_t member, const std::string& method) {
  absl::MutexLock lock(&control_->mu);
  control_->hung.insert({member, method});
}

void FakeCluster::Delay(const std::string& method, absl::Duration delay) {
  absl::MutexLock lock(&control_->mu);
  control_->delayed.insert(method);
  control_->delay = delay;
}

void FakeCluster::ReleaseHangs() {
  absl::MutexLock lock(&control_->mu);
  control_->hung.clear();
  control_->released.SignalAll();
}

void FakeCluster::SetLeader(uint64_t member) {
  absl::MutexLock lock(&control_->mu);
  control_->leader = member;
}

void FakeCluster::BreakStreams(uint64_t member) { replicas_.at(member - 1)->BreakStreams(); }

void FakeCluster::OverflowWatches(uint64_t member) { state_->OverflowWatches(member); }

void FakeCluster::ExpireSession(uint64_t session_id) { state_->ExpireSession(session_id); }

void FakeCluster::Compact(uint64_t revision) { state_->Compact(revision); }

void FakeCluster::CorruptNextSnapshot() {
  absl::MutexLock lock(&control_->mu);
  control_->corrupt_next_snapshot = true;
}

int FakeCluster::calls(uint64_t member, const std::string& method) const {
  absl::MutexLock lock(&control_->mu);
  auto it = control_->calls.find({member, method});
  return it == control_->calls.end() ? 0 : it->second;
}

std::vector<std::string> FakeCluster::requests(const std::string& method) const {
  absl::MutexLock lock(&control_->mu);
  auto it = control_->requests.find(method);
  return it == control_->requests.end() ? std::vector<std::string>() : it->second;
}

int FakeCluster::applied_writes() const { return state_->applied_writes(); }

uint64_t FakeCluster::revision() const { return state_->revision(); }

std::optional<std::string> FakeCluster::data(const std::string& path) const {
  return state_->Data(path);
}

std::vector<uint64_t> FakeCluster::sessions() const { return state_->Sessions(); }

uint64_t FakeCluster::keepalive_member(uint64_t session_id) const {
  return state_->KeepAliveMember(session_id);
}

int FakeCluster::live_watch_streams() const { return state_->live_conns(); }

}  // namespace synod::client::testing
