#include "client/testing/fake_replica.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/testing/fake_watch_stream.h"
#include "storage/node.h"
#include "storage/page_token.h"
#include "storage/path.h"

namespace synod::client::testing {
namespace {

bool IsWrite(const std::string& method) {
  return method == "Create" || method == "Set" || method == "Delete" || method == "Multi" ||
         method == "MemberAdd" || method == "MemberPromote" || method == "MemberRemove" ||
         method == "TransferLeader";
}

// The path an op names; null for an empty op (apply refuses it).
const std::string* OpPath(const v1::Op& op) {
  switch (op.op_case()) {
    case v1::Op::kCreate:
      return &op.create().path();
    case v1::Op::kSet:
      return &op.set().path();
    case v1::Op::kDelete:
      return &op.delete_().path();
    case v1::Op::kCheck:
      return &op.check().path();
    case v1::Op::kSetAcl:
      return &op.set_acl().path();
    case v1::Op::OP_NOT_SET:
      break;
  }
  return nullptr;
}

// As the server's Tree service: a page token is the last name, in hex.
FakeReplica::Outcome StorageFailure(const absl::Status& s) {
  return {s.code() == absl::StatusCode::kDataLoss ? v1::DATA_LOSS : v1::INTERNAL,
          std::string(s.message()), std::nullopt};
}

std::string RandomSecret() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64 rng(std::random_device{}());
  absl::MutexLock lock(&mu);
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

}  // namespace

class FakeReplica::StreamGuard {
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

FakeReplica::FakeReplica(const FakeCluster::Options& options, FakeState* state,
                         FakeControl* control, uint64_t member)
    : options_(options), state_(state), control_(control), member_(member) {}

FakeReplica::~FakeReplica() { Stop(); }

void FakeReplica::Start() {
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials(),
                           &selected);
  builder.RegisterService(static_cast<v1::Tree::Service*>(this));
  builder.RegisterService(static_cast<v1::Session::Service*>(this));
  builder.RegisterService(static_cast<v1::Watch::Service*>(this));
  builder.RegisterService(static_cast<v1::Cluster::Service*>(this));
  builder.RegisterService(static_cast<v1::Auth::Service*>(this));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected == 0) {
    std::fprintf(stderr, "FakeReplica: cannot listen on 127.0.0.1:%d\n", port_);
    std::abort();
  }
  port_ = selected;
}

void FakeReplica::Stop() {
  if (server_ == nullptr) return;
  BreakStreams();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

void FakeReplica::BreakStreams() {
  absl::MutexLock lock(&streams_mu_);
  for (grpc::ServerContext* ctx : streams_) ctx->TryCancel();
}

void FakeReplica::OverflowWatches() {
  absl::MutexLock lock(&streams_mu_);
  for (FakeWatchStream* s : watch_streams_) s->Overflow();
}

int FakeReplica::live_watch_streams() const {
  absl::MutexLock lock(&streams_mu_);
  return static_cast<int>(watch_streams_.size());
}

// ---- Tree writes --------------------------------------------------------------

FakeReplica::Outcome FakeReplica::ProposeTxn(v1::Command command, v1::CommandResult* result) {
  const v1::TxnCommand& txn = command.txn();
  for (int i = 0; i < txn.ops_size(); ++i) {
    const std::string* path = OpPath(txn.ops(i));
    if (path == nullptr) continue;
    absl::Status valid = storage::ValidatePath(*path);
    if (valid.ok()) continue;
    if (txn.is_multi()) {
      for (int j = 0; j < txn.ops_size(); ++j) {
        result->add_results()->set_code(j < i    ? v1::ROLLED_BACK
                                        : j == i ? v1::INVALID_PATH
                                                 : v1::RUNTIME_INCONSISTENCY);
      }
    }
    result->set_code(v1::INVALID_PATH);
    return {v1::INVALID_PATH,
            txn.is_multi() ? absl::StrCat("op ", i, ": ", valid.message())
                           : std::string(valid.message()),
            std::nullopt};
  }
  *result = state_->Propose(std::move(command));
  return {result->code(), "", std::nullopt};
}

grpc::Status FakeReplica::Create(grpc::ServerContext* ctx, const v1::CreateRequest* req,
                                 v1::CreateResponse* resp) {
  return Serve(ctx, "Create", *req, resp->mutable_header(), [&] {
    v1::Command command;
    *command.mutable_txn()->add_ops()->mutable_create() = req->op();
    *command.mutable_write() = req->write();
    *command.mutable_caller() = CallerOf(ctx);
    v1::CommandResult result;
    Outcome out = ProposeTxn(std::move(command), &result);
    if (out.code == v1::OK) {
      resp->set_path(result.results(0).path());
      *resp->mutable_stat() = result.results(0).stat();
    }
    return out;
  });
}

grpc::Status FakeReplica::Set(grpc::ServerContext* ctx, const v1::SetRequest* req,
                              v1::SetResponse* resp) {
  return Serve(ctx, "Set", *req, resp->mutable_header(), [&] {
    v1::Command command;
    *command.mutable_txn()->add_ops()->mutable_set() = req->op();
    *command.mutable_write() = req->write();
    *command.mutable_caller() = CallerOf(ctx);
    v1::CommandResult result;
    Outcome out = ProposeTxn(std::move(command), &result);
    if (out.code == v1::OK) *resp->mutable_stat() = result.results(0).stat();
    return out;
  });
}

grpc::Status FakeReplica::Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                                 v1::DeleteResponse* resp) {
  return Serve(ctx, "Delete", *req, resp->mutable_header(), [&] {
    v1::Command command;
    *command.mutable_txn()->add_ops()->mutable_delete_() = req->op();
    *command.mutable_write() = req->write();
    *command.mutable_caller() = CallerOf(ctx);
    v1::CommandResult result;
    return ProposeTxn(std::move(command), &result);
  });
}

grpc::Status FakeReplica::Multi(grpc::ServerContext* ctx, const v1::MultiRequest* req,
                                v1::MultiResponse* resp) {
  v1::ErrorCode result_code = v1::OK;
  grpc::Status status = Serve(ctx, "Multi", *req, resp->mutable_header(), [&] {
    v1::Command command;
    v1::TxnCommand* txn = command.mutable_txn();
    *txn->mutable_ops() = req->ops();
    txn->set_is_multi(true);
    *command.mutable_write() = req->write();
    *command.mutable_caller() = CallerOf(ctx);
    v1::CommandResult result;
    Outcome out = ProposeTxn(std::move(command), &result);
    *resp->mutable_results() = result.results();
    result_code = out.code;
    return out;
  });
  // As the server: per-op results reach the client only with gRPC OK. An
  // injected failure replaces them.
  if (resp->results_size() > 0 && resp->header().code() == result_code) return grpc::Status::OK;
  resp->clear_results();
  return status;
}

// ---- Tree reads ---------------------------------------------------------------

FakeReplica::Outcome FakeReplica::AwaitRead(grpc::ServerContext* ctx,
                                            const v1::ReadOptions& read) {
  // The one state is every replica's: a revision not applied yet comes
  // with a later write, or never (as the server, REVISION_AHEAD past a
  // bound, else wait until the call's deadline).
  const uint64_t wanted = read.min_revision();
  if (wanted <= state_->revision()) return {};
  constexpr uint64_t kMaxRevisionAhead = 100000;
  if (wanted > state_->revision() + kMaxRevisionAhead) {
    return {v1::REVISION_AHEAD, absl::StrCat("min_revision ", wanted, " is not issued yet"),
            std::nullopt};
  }
  const absl::Time deadline = absl::FromChrono(ctx->deadline());
  if (state_->AwaitRevision(wanted, deadline)) return {};
  return {v1::DEADLINE_EXCEEDED, absl::StrCat("revision ", wanted, " not applied"), std::nullopt};
}

grpc::Status FakeReplica::Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                              v1::GetResponse* resp) {
  return Serve(ctx, "Get", *req, resp->mutable_header(), [&]() -> Outcome {
    if (req->has_version() && req->revision() != 0) {
      return {v1::INVALID_ARGUMENT, "give at most one of version and revision", std::nullopt};
    }
    if (Outcome wait = AwaitRead(ctx, req->read()); wait.code != v1::OK) return wait;
    storage::TreeStore* store = state_->store();
    absl::StatusOr<storage::NodeResult> r =
        req->has_version()    ? store->GetAtVersion(req->path(), req->version())
        : req->revision() > 0 ? store->GetAtRevision(req->path(), req->revision())
                              : store->Get(req->path());
    if (!r.ok()) return StorageFailure(r.status());
    if (r->code == v1::OK) {
      resp->set_data(std::move(r->data));
      storage::ToProto(r->stat, resp->mutable_stat());
    }
    return {r->code, r->message, r->revision};
  });
}

grpc::Status FakeReplica::Exists(grpc::ServerContext* ctx, const v1::ExistsRequest* req,
                                 v1::ExistsResponse* resp) {
  return Serve(ctx, "Exists", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome wait = AwaitRead(ctx, req->read()); wait.code != v1::OK) return wait;
    absl::StatusOr<storage::ExistsResult> r = state_->store()->Exists(req->path());
    if (!r.ok()) return StorageFailure(r.status());
    resp->set_exists(r->exists);
    if (r->exists) storage::ToProto(r->stat, resp->mutable_stat());
    return {r->code, "", r->revision};
  });
}

grpc::Status FakeReplica::GetChildren(grpc::ServerContext* ctx, const v1::GetChildrenRequest* req,
                                      v1::GetChildrenResponse* resp) {
  return Serve(ctx, "GetChildren", *req, resp->mutable_header(), [&]() -> Outcome {
    std::string start_after;
    if (!storage::ParseChildPageToken(req->page_token(), &start_after)) {
      return {v1::INVALID_ARGUMENT, "malformed page token", std::nullopt};
    }
    if (Outcome wait = AwaitRead(ctx, req->read()); wait.code != v1::OK) return wait;
    const uint32_t limit = req->limit() == 0 || req->limit() > options_.max_page
                               ? options_.max_page
                               : req->limit();
    absl::StatusOr<storage::ChildrenResult> r =
        state_->store()->GetChildren(req->path(), start_after, limit, req->include_stat());
    if (!r.ok()) return StorageFailure(r.status());
    if (r->code == v1::OK) {
      storage::ToProto(r->parent_stat, resp->mutable_stat());
      for (std::string& name : r->names) resp->add_children(std::move(name));
      for (const storage::NodeStat& s : r->stats) storage::ToProto(s, resp->add_child_stats());
      if (r->has_more && resp->children_size() > 0) {
        resp->set_next_page_token(
            storage::ChildPageToken(resp->children(resp->children_size() - 1)));
      }
    }
    return {r->code, "", r->revision};
  });
}

grpc::Status FakeReplica::History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                                  v1::HistoryResponse* resp) {
  return Serve(ctx, "History", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome wait = AwaitRead(ctx, req->read()); wait.code != v1::OK) return wait;
    absl::StatusOr<storage::HistoryResult> r = state_->store()->History(req->path(), req->limit());
    if (!r.ok()) return StorageFailure(r.status());
    resp->set_compact_revision(r->compact_revision);
    if (r->code == v1::OK) {
      for (storage::HistoryEntry& h : r->versions) {
        v1::NodeVersion* v = resp->add_versions();
        v->set_data(std::move(h.data));
        storage::ToProto(h.stat, v->mutable_stat());
        v->set_deleted(h.deleted);
        if (h.deleted) v->set_deleted_revision(h.revision);
      }
    }
    return {r->code, "", r->revision};
  });
}

grpc::Status FakeReplica::Sync(grpc::ServerContext* ctx, const v1::SyncRequest* req,
                               v1::SyncResponse* resp) {
  return Serve(ctx, "Sync", *req, resp->mutable_header(), [] { return Outcome{}; });
}

// ---- Session ------------------------------------------------------------------

grpc::Status FakeReplica::Open(grpc::ServerContext* ctx, const v1::OpenSessionRequest* req,
                               v1::OpenSessionResponse* resp) {
  return Serve(ctx, "Open", *req, resp->mutable_header(), [&]() -> Outcome {
    v1::Command command;
    // A session belongs to the identities that opened it (apply checks it).
    *command.mutable_caller() = CallerOf(ctx);
    v1::OpenSessionCommand* open = command.mutable_open_session();
    open->set_timeout_ms(req->timeout_ms());
    open->set_secret(RandomSecret());
    const std::string secret = open->secret();
    const v1::CommandResult r = state_->Propose(std::move(command));
    if (r.code() != v1::OK) return {r.code(), "", std::nullopt};
    resp->set_session_id(r.session_id());
    resp->set_secret(secret);
    resp->set_timeout_ms(r.session_timeout_ms());
    return {};
  });
}

grpc::Status FakeReplica::Close(grpc::ServerContext* ctx, const v1::CloseSessionRequest* req,
                                v1::CloseSessionResponse* resp) {
  return Serve(ctx, "Close", *req, resp->mutable_header(), [&]() -> Outcome {
    absl::StatusOr<storage::SessionResult> s = state_->store()->GetSession(req->session_id());
    if (!s.ok()) return StorageFailure(s.status());
    if (!s->session.has_value()) return {v1::SESSION_EXPIRED, "no such session", std::nullopt};
    if (s->session->secret != req->secret()) {
      return {v1::AUTH_FAILED, absl::StrCat("wrong secret for session ", req->session_id()),
              std::nullopt};
    }
    v1::Command command;
    command.mutable_close_session()->set_session_id(req->session_id());
    *command.mutable_caller() = CallerOf(ctx);
    return {state_->Propose(std::move(command)).code(), "", std::nullopt};
  });
}

grpc::Status FakeReplica::KeepAlive(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::KeepAliveResponse, v1::KeepAliveRequest>* stream) {
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
    resp.set_session_id(req.session_id());
    Outcome out;
    absl::StatusOr<storage::SessionResult> s = state_->store()->GetSession(req.session_id());
    if (!s.ok()) {
      out = StorageFailure(s.status());
    } else if (!s->session.has_value()) {
      out = {v1::SESSION_EXPIRED, "no such session", std::nullopt};
    } else if (s->session->secret != req.secret()) {
      out = {v1::AUTH_FAILED, absl::StrCat("wrong secret for session ", req.session_id()),
             std::nullopt};
    } else {
      resp.set_timeout_ms(s->session->timeout_ms);
      absl::MutexLock lock(&control_->mu);
      control_->keepalive_member[req.session_id()] = member_;
    }
    FillHeader(out, resp.mutable_header());
    if (!stream->Write(resp)) break;
  }
  return grpc::Status::OK;
}

// ---- Watch --------------------------------------------------------------------

grpc::Status FakeReplica::Watch(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::WatchResponse, v1::WatchRequest>* stream) {
  if (std::optional<grpc::Status> failed = AdmitStream("Watch", v1::WatchRequest())) {
    return *failed;
  }
  StreamGuard guard(this, ctx);
  FakeWatchStream watches(state_->hub());
  {
    absl::MutexLock lock(&streams_mu_);
    watch_streams_.insert(&watches);
  }
  std::thread writer([&] {
    while (watches.WaitReady()) {
      v1::WatchResponse r;
      while (watches.Poll(&r)) {
        FillHeader(Outcome{}, r.mutable_header());
        if (!stream->Write(r)) {
          ctx->TryCancel();
          return;
        }
        r.Clear();
      }
    }
  });
  v1::WatchRequest req;
  while (stream->Read(&req)) {
    Record("WatchRequest", req);
    watches.Request(req);
  }
  {
    absl::MutexLock lock(&streams_mu_);
    watch_streams_.erase(&watches);
  }
  watches.Close();
  writer.join();
  return grpc::Status::OK;
}

// ---- Controls and replies -----------------------------------------------------

void FakeReplica::Record(const std::string& method, const google::protobuf::Message& req) {
  absl::MutexLock lock(&control_->mu);
  ++control_->calls[{member_, method}];
  control_->requests[method].push_back(req.SerializeAsString());
}

std::optional<ErrorCode> FakeReplica::Admit(const std::string& method,
                                            const google::protobuf::Message& req) {
  Record(method, req);
  absl::MutexLock lock(&control_->mu);
  auto it = control_->fail_next.find({member_, method});
  if (it == control_->fail_next.end()) return std::nullopt;
  const ErrorCode code = it->second.second;
  if (--it->second.first == 0) control_->fail_next.erase(it);
  return code;
}

std::optional<grpc::Status> FakeReplica::AdmitStream(const std::string& method,
                                                     const google::protobuf::Message& req) {
  std::optional<ErrorCode> code = Admit(method, req);
  if (!code.has_value()) return std::nullopt;
  v1::ResponseHeader h;
  FillHeader(Outcome{static_cast<v1::ErrorCode>(*code), "injected failure", std::nullopt}, &h);
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

void FakeReplica::WaitWhileHung(grpc::ServerContext* ctx, const std::string& method) {
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

void FakeReplica::FillHeader(const Outcome& out, v1::ResponseHeader* h) {
  const uint64_t applied = state_->revision();
  absl::MutexLock lock(&control_->mu);
  h->set_cluster_id(1);
  h->set_member_id(member_);
  h->set_leader_id(control_->leader);
  h->set_revision(out.revision.value_or(applied));
  h->set_raft_term(1);
  h->set_code(out.code);
  if (options_.errors != FakeCluster::ErrorStyle::kCodeOnly) h->set_message(out.message);
}

grpc::Status FakeReplica::ToStatus(const v1::ResponseHeader& h) {
  if (h.code() == v1::OK || options_.errors == FakeCluster::ErrorStyle::kHeader) {
    return grpc::Status::OK;
  }
  const auto code = static_cast<grpc::StatusCode>(StatusCodeFor(static_cast<ErrorCode>(h.code())));
  const std::string text = h.message().empty()
                               ? v1::ErrorCode_Name(h.code())
                               : absl::StrCat(v1::ErrorCode_Name(h.code()), ": ", h.message());
  if (options_.errors == FakeCluster::ErrorStyle::kDetails ||
      options_.errors == FakeCluster::ErrorStyle::kCodeOnly) {
    return grpc::Status(code, text, h.SerializeAsString());
  }
  return grpc::Status(code, text);
}

grpc::Status FakeReplica::Serve(grpc::ServerContext* ctx, const std::string& method,
                                const google::protobuf::Message& req, v1::ResponseHeader* header,
                                absl::FunctionRef<Outcome()> body) {
  if (std::optional<ErrorCode> code = Admit(method, req)) {
    FillHeader(Outcome{static_cast<v1::ErrorCode>(*code), "injected failure", std::nullopt},
               header);
    return ToStatus(*header);
  }
  WaitWhileHung(ctx, method);
  if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
  v1::Caller caller;
  if (Outcome auth = ResolveCaller(ctx, method, &caller); auth.code != v1::OK) {
    FillHeader(auth, header);
    return ToStatus(*header);
  }
  if (IsWrite(method) && !options_.forward_writes) {
    uint64_t leader;
    {
      absl::MutexLock lock(&control_->mu);
      leader = control_->leader;
    }
    if (leader != member_) {
      FillHeader(Outcome{v1::NOT_LEADER, "not the leader", std::nullopt}, header);
      return ToStatus(*header);
    }
  }
  Outcome out = body();
  {
    absl::MutexLock lock(&control_->mu);
    auto it = control_->fail_after.find({member_, method});
    if (it != control_->fail_after.end()) {
      out = Outcome{static_cast<v1::ErrorCode>(it->second.second), "injected failure after apply",
                    std::nullopt};
      if (--it->second.first == 0) control_->fail_after.erase(it);
    }
  }
  FillHeader(out, header);
  return ToStatus(*header);
}

}  // namespace synod::client::testing
