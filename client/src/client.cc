// synod::Client: lifecycle, tree operations, sessions and watches.
#include <memory>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "client/src/client_impl.h"
#include "client/src/convert.h"

namespace synod {

using client::Endpoint;
using client::RetryPolicy;
using client::Route;
using client::RpcSpec;
using client::SessionManager;

namespace {

absl::string_view OpTypeName(Op::Type type) {
  switch (type) {
    case Op::Type::kCreate:
      return "create";
    case Op::Type::kSet:
      return "set";
    case Op::Type::kDelete:
      return "delete";
    case Op::Type::kCheck:
      return "check";
  }
  return "op";
}

}  // namespace

Client::Impl::Impl(Options options, size_t start_endpoint, uint64_t seed,
                   std::shared_ptr<grpc::ChannelCredentials> credentials)
    : core_(std::move(options), start_endpoint, seed, std::move(credentials)),
      sessions_(&core_, &callbacks_),
      watches_(&core_, &callbacks_) {
  core_.RefreshMembers();
}

Client::Impl::~Impl() {
  sessions_.DropListeners();
  const absl::Duration grace = std::min(core_.options().request_timeout, absl::Seconds(2));
  // Best effort: the session's ephemerals go now rather than at expiry.
  sessions_.Close(absl::Now() + grace).IgnoreError();
  watches_.Shutdown();
  sessions_.Shutdown();
  core_.tracker().CloseAndWait();
  gate_.Close();
  callbacks_.Stop();
  core_.loop().Stop();
}

void Client::Impl::WithWriteId(bool needs_session, absl::Time deadline,
                               std::function<void(absl::StatusOr<SessionManager::WriteId>)> k) {
  if (!needs_session && !core_.options().exactly_once_writes) {
    k(sessions_.NextWrite());
    return;
  }
  sessions_.Ensure(deadline, [this, k = std::move(k)](absl::StatusOr<uint64_t> id) {
    if (!id.ok()) {
      k(id.status());
      return;
    }
    k(sessions_.NextWrite());
  });
}

void Client::Impl::CreateImpl(absl::string_view path, absl::string_view data,
                              const CreateOptions& options, absl::Time deadline,
                              Done<CreateResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::CreateRequest req;
  v1::CreateOp* op = req.mutable_op();
  op->set_path(std::string(path));
  op->set_data(std::string(data));
  op->set_mode(client::ToProto(options.mode));
  op->set_ttl_ms(absl::ToInt64Milliseconds(options.ttl));
  client::ToProto(options.acl, op->mutable_acl());
  RunWrite<v1::CreateRequest, v1::CreateResponse, CreateResult>(
      IsEphemeral(options.mode),
      WriteSpec<v1::CreateRequest, v1::CreateResponse>(SYNOD_TREE_METHOD(Create)), std::move(req),
      deadline,
      [](v1::CreateResponse& r) -> absl::StatusOr<CreateResult> {
        return CreateResult{r.path(), client::FromProto(r.stat()), r.header().revision()};
      },
      NamingPath(path, std::move(done)));
}

void Client::Impl::GetImpl(absl::string_view path, const GetOptions& options, absl::Time deadline,
                           Done<GetResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::GetRequest req;
  req.set_path(std::string(path));
  client::ToProto(options.read, core_.last_revision(), req.mutable_read());
  if (options.version.has_value()) req.set_version(*options.version);
  req.set_revision(options.revision);
  Run<v1::GetRequest, v1::GetResponse, GetResult>(
      ReadSpec<v1::GetRequest, v1::GetResponse>(SYNOD_TREE_METHOD(Get)), std::move(req), deadline,
      [](v1::GetResponse& r) -> absl::StatusOr<GetResult> {
        return GetResult{std::move(*r.mutable_data()), client::FromProto(r.stat()),
                         r.header().revision()};
      },
      NamingPath(path, std::move(done)));
}

void Client::Impl::ExistsImpl(absl::string_view path, const ReadOptions& options,
                              absl::Time deadline, Done<ExistsResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::ExistsRequest req;
  req.set_path(std::string(path));
  client::ToProto(options, core_.last_revision(), req.mutable_read());
  Run<v1::ExistsRequest, v1::ExistsResponse, ExistsResult>(
      ReadSpec<v1::ExistsRequest, v1::ExistsResponse>(SYNOD_TREE_METHOD(Exists)), std::move(req),
      deadline,
      [](v1::ExistsResponse& r) -> absl::StatusOr<ExistsResult> {
        return ExistsResult{r.exists(), client::FromProto(r.stat()), r.header().revision()};
      },
      NamingPath(path, std::move(done)));
}

void Client::Impl::SetImpl(absl::string_view path, absl::string_view data, int64_t expected_version,
                           absl::Time deadline, Done<SetResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::SetRequest req;
  v1::SetOp* op = req.mutable_op();
  op->set_path(std::string(path));
  op->set_data(std::string(data));
  if (expected_version != -1) op->set_expected_version(expected_version);
  RunWrite<v1::SetRequest, v1::SetResponse, SetResult>(
      false, WriteSpec<v1::SetRequest, v1::SetResponse>(SYNOD_TREE_METHOD(Set)), std::move(req),
      deadline,
      [](v1::SetResponse& r) -> absl::StatusOr<SetResult> {
        return SetResult{client::FromProto(r.stat()), r.header().revision()};
      },
      NamingPath(path, std::move(done)));
}

void Client::Impl::DeleteImpl(absl::string_view path, int64_t expected_version, absl::Time deadline,
                              Done<DeleteResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::DeleteRequest req;
  v1::DeleteOp* op = req.mutable_op();
  op->set_path(std::string(path));
  if (expected_version != -1) op->set_expected_version(expected_version);
  RunWrite<v1::DeleteRequest, v1::DeleteResponse, DeleteResult>(
      false, WriteSpec<v1::DeleteRequest, v1::DeleteResponse>(SYNOD_TREE_METHOD(Delete)),
      std::move(req), deadline,
      [](v1::DeleteResponse& r) -> absl::StatusOr<DeleteResult> {
        return DeleteResult{r.header().revision()};
      },
      NamingPath(path, std::move(done)));
}

namespace {

// The pages of one GetChildren listing, fetched one after the other.
struct ChildrenListing {
  v1::GetChildrenRequest req;
  uint32_t limit = 0;  // 0 = all
  absl::Time deadline;
  ChildrenResult result;
  Client::Impl::Done<ChildrenResult> done;
};

void FetchPage(Client::Impl* impl, std::shared_ptr<ChildrenListing> listing) {
  v1::GetChildrenRequest req = listing->req;
  if (listing->limit > 0) {
    req.set_limit(listing->limit - static_cast<uint32_t>(listing->result.children.size()));
  }
  impl->Run<v1::GetChildrenRequest, v1::GetChildrenResponse, bool>(
      ReadSpec<v1::GetChildrenRequest, v1::GetChildrenResponse>(SYNOD_TREE_METHOD(GetChildren)),
      std::move(req), listing->deadline,
      [listing](v1::GetChildrenResponse& r) -> absl::StatusOr<bool> {
        ChildrenResult& out = listing->result;
        for (std::string& c : *r.mutable_children()) out.children.push_back(std::move(c));
        for (const v1::Stat& s : r.child_stats()) out.child_stats.push_back(client::FromProto(s));
        out.stat = client::FromProto(r.stat());
        out.revision = r.header().revision();
        out.next_page_token = r.next_page_token();
        listing->req.set_page_token(r.next_page_token());
        const bool full = listing->limit > 0 && out.children.size() >= listing->limit;
        return !r.next_page_token().empty() && !full;
      },
      [impl, listing](absl::StatusOr<bool> more) {
        if (!more.ok()) {
          listing->done(more.status());
        } else if (*more) {
          FetchPage(impl, listing);
        } else {
          listing->done(std::move(listing->result));
        }
      });
}

}  // namespace

void Client::Impl::GetChildrenImpl(absl::string_view path, const ChildrenOptions& options,
                                   absl::Time deadline, Done<ChildrenResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  auto listing = std::make_shared<ChildrenListing>();
  listing->req.set_path(std::string(path));
  client::ToProto(options.read, core_.last_revision(), listing->req.mutable_read());
  listing->req.set_page_token(options.page_token);
  listing->req.set_include_stat(options.include_stat);
  listing->limit = options.limit;
  listing->deadline = deadline;
  listing->done = NamingPath(path, std::move(done));
  FetchPage(this, std::move(listing));
}

void Client::Impl::MultiImpl(const std::vector<Op>& ops, absl::Time deadline,
                             Done<MultiResult> done) {
  v1::MultiRequest req;
  bool needs_session = false;
  for (const Op& op : ops) {
    if (absl::Status s = client::ToProto(op, req.add_ops()); !s.ok()) {
      done(s);
      return;
    }
    needs_session |= op.type == Op::Type::kCreate && IsEphemeral(op.create.mode);
  }
  // Describes the failing op, for the error message.
  auto describe = [ops](const v1::MultiResponse& r) -> absl::Status {
    for (int i = 0; i < r.results_size(); ++i) {
      const ErrorCode code = client::FromProto(r.results(i).code());
      if (code == ErrorCode::kOk || code == ErrorCode::kRolledBack ||
          code == ErrorCode::kRuntimeInconsistency) {
        continue;
      }
      const Op* op = i < static_cast<int>(ops.size()) ? &ops[i] : nullptr;
      return SynodError(
          code, absl::StrCat("op ", i,
                             op ? absl::StrCat(" (", OpTypeName(op->type), " ", op->path, ")") : "",
                             r.header().message().empty() ? "" : ": ", r.header().message()));
    }
    return SynodError(client::FromProto(r.header().code()), r.header().message());
  };
  auto spec = WriteSpec<v1::MultiRequest, v1::MultiResponse>(SYNOD_TREE_METHOD(Multi));
  // A failed multi that came back with its body carries per-op results:
  // hand them to the conversion rather than failing the call.
  spec.accept_error = [](const v1::MultiResponse& r) { return r.results_size() > 0; };
  RunWrite<v1::MultiRequest, v1::MultiResponse, MultiResult>(
      needs_session, std::move(spec), std::move(req), deadline,
      [describe](v1::MultiResponse& r) -> absl::StatusOr<MultiResult> {
        if (r.header().code() != v1::OK) return describe(r);
        MultiResult out;
        for (const v1::OpResult& res : r.results()) {
          if (res.code() != v1::OK) return describe(r);
          out.results.push_back(client::FromProto(res));
        }
        out.revision = r.header().revision();
        return out;
      },
      std::move(done));
}

void Client::Impl::HistoryImpl(absl::string_view path, const HistoryOptions& options,
                               absl::Time deadline, Done<HistoryResult> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::HistoryRequest req;
  req.set_path(std::string(path));
  client::ToProto(options.read, core_.last_revision(), req.mutable_read());
  req.set_limit(options.limit);
  Run<v1::HistoryRequest, v1::HistoryResponse, HistoryResult>(
      ReadSpec<v1::HistoryRequest, v1::HistoryResponse>(SYNOD_TREE_METHOD(History)), std::move(req),
      deadline,
      [](v1::HistoryResponse& r) -> absl::StatusOr<HistoryResult> {
        HistoryResult out;
        for (const v1::NodeVersion& v : r.versions()) out.versions.push_back(client::FromProto(v));
        out.compact_revision = r.compact_revision();
        out.revision = r.header().revision();
        return out;
      },
      NamingPath(path, std::move(done)));
}

void Client::Impl::SyncImpl(absl::string_view path, absl::Time deadline, Done<uint64_t> done) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) {
    done(std::move(s));
    return;
  }
  v1::SyncRequest req;
  req.set_path(std::string(path));
  Run<v1::SyncRequest, v1::SyncResponse, uint64_t>(
      ReadSpec<v1::SyncRequest, v1::SyncResponse>(SYNOD_TREE_METHOD(Sync)), std::move(req),
      deadline,
      [](v1::SyncResponse& r) -> absl::StatusOr<uint64_t> { return r.header().revision(); },
      std::move(done));
}

// --- Client: construction.

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(Options options) {
  if (options.endpoints.empty()) {
    return SynodError(ErrorCode::kInvalidArgument, "no endpoints given");
  }
  for (const std::string& ep : options.endpoints) {
    const size_t colon = ep.rfind(':');
    if (ep.empty() || colon == std::string::npos || colon == 0 || colon + 1 == ep.size()) {
      return SynodError(ErrorCode::kInvalidArgument,
                        absl::StrCat("endpoint \"", ep, "\" is not host:port"));
    }
  }
  if (options.request_timeout <= absl::ZeroDuration() ||
      options.attempt_timeout <= absl::ZeroDuration() ||
      options.session_timeout <= absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return SynodError(ErrorCode::kInvalidArgument, "timeouts and backoffs must be positive");
  }
  if (options.max_writes_in_flight < 1 || options.max_writes_in_flight > 1024) {
    return SynodError(ErrorCode::kInvalidArgument,
                      absl::StrCat("max_writes_in_flight must be 1 to 1024 (the results a session "
                                   "keeps), not ",
                                   options.max_writes_in_flight));
  }
  if (absl::Status s = client::ValidateCredentialOptions(options); !s.ok()) {
    return SynodError(ErrorCode::kInvalidArgument, s.message());
  }
  auto credentials = client::ChannelCredentialsFor(options);
  if (!credentials.ok()) {
    return SynodError(ErrorCode::kInvalidArgument, std::string(credentials.status().message()));
  }
  absl::BitGen gen;
  const size_t start =
      options.randomize_endpoints ? absl::Uniform<size_t>(gen, 0u, options.endpoints.size()) : 0;
  const uint64_t seed = absl::Uniform<uint64_t>(gen);
  return std::unique_ptr<Client>(
      new Client(std::make_unique<Impl>(std::move(options), start, seed, *std::move(credentials))));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() = default;

// --- Tree, blocking.

absl::StatusOr<CreateResult> Client::Create(absl::string_view path, absl::string_view data,
                                            const CreateOptions& options, const CallOptions& call) {
  return Impl::Wait<CreateResult>([&](Impl::Done<CreateResult> done) {
    impl_->CreateImpl(path, data, options, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<GetResult> Client::Get(absl::string_view path, const GetOptions& options,
                                      const CallOptions& call) {
  return Impl::Wait<GetResult>([&](Impl::Done<GetResult> done) {
    impl_->GetImpl(path, options, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<ExistsResult> Client::Exists(absl::string_view path, const ReadOptions& options,
                                            const CallOptions& call) {
  return Impl::Wait<ExistsResult>([&](Impl::Done<ExistsResult> done) {
    impl_->ExistsImpl(path, options, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<SetResult> Client::Set(absl::string_view path, absl::string_view data,
                                      int64_t expected_version, const CallOptions& call) {
  return Impl::Wait<SetResult>([&](Impl::Done<SetResult> done) {
    impl_->SetImpl(path, data, expected_version, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<DeleteResult> Client::Delete(absl::string_view path, int64_t expected_version,
                                            const CallOptions& call) {
  return Impl::Wait<DeleteResult>([&](Impl::Done<DeleteResult> done) {
    impl_->DeleteImpl(path, expected_version, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<ChildrenResult> Client::GetChildren(absl::string_view path,
                                                   const ChildrenOptions& options,
                                                   const CallOptions& call) {
  return Impl::Wait<ChildrenResult>([&](Impl::Done<ChildrenResult> done) {
    impl_->GetChildrenImpl(path, options, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<MultiResult> Client::Multi(const std::vector<Op>& ops, const CallOptions& call) {
  return Impl::Wait<MultiResult>([&](Impl::Done<MultiResult> done) {
    impl_->MultiImpl(ops, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<HistoryResult> Client::History(absl::string_view path, const HistoryOptions& options,
                                              const CallOptions& call) {
  return Impl::Wait<HistoryResult>([&](Impl::Done<HistoryResult> done) {
    impl_->HistoryImpl(path, options, impl_->DeadlineOf(call), std::move(done));
  });
}

absl::StatusOr<uint64_t> Client::Sync(absl::string_view path, const CallOptions& call) {
  return Impl::Wait<uint64_t>([&](Impl::Done<uint64_t> done) {
    impl_->SyncImpl(path, impl_->DeadlineOf(call), std::move(done));
  });
}

// --- Tree, async.

void Client::CreateAsync(absl::string_view path, absl::string_view data,
                         const CreateOptions& options, const CallOptions& call,
                         Callback<CreateResult> done) {
  impl_->CreateImpl(path, data, options, impl_->DeadlineOf(call),
                    impl_->OnCallbackThread<CreateResult>(std::move(done)));
}

void Client::GetAsync(absl::string_view path, const GetOptions& options, const CallOptions& call,
                      Callback<GetResult> done) {
  impl_->GetImpl(path, options, impl_->DeadlineOf(call),
                 impl_->OnCallbackThread<GetResult>(std::move(done)));
}

void Client::ExistsAsync(absl::string_view path, const ReadOptions& options,
                         const CallOptions& call, Callback<ExistsResult> done) {
  impl_->ExistsImpl(path, options, impl_->DeadlineOf(call),
                    impl_->OnCallbackThread<ExistsResult>(std::move(done)));
}

void Client::SetAsync(absl::string_view path, absl::string_view data, int64_t expected_version,
                      const CallOptions& call, Callback<SetResult> done) {
  impl_->SetImpl(path, data, expected_version, impl_->DeadlineOf(call),
                 impl_->OnCallbackThread<SetResult>(std::move(done)));
}

void Client::DeleteAsync(absl::string_view path, int64_t expected_version, const CallOptions& call,
                         Callback<DeleteResult> done) {
  impl_->DeleteImpl(path, expected_version, impl_->DeadlineOf(call),
                    impl_->OnCallbackThread<DeleteResult>(std::move(done)));
}

void Client::GetChildrenAsync(absl::string_view path, const ChildrenOptions& options,
                              const CallOptions& call, Callback<ChildrenResult> done) {
  impl_->GetChildrenImpl(path, options, impl_->DeadlineOf(call),
                         impl_->OnCallbackThread<ChildrenResult>(std::move(done)));
}

void Client::MultiAsync(std::vector<Op> ops, const CallOptions& call, Callback<MultiResult> done) {
  impl_->MultiImpl(ops, impl_->DeadlineOf(call),
                   impl_->OnCallbackThread<MultiResult>(std::move(done)));
}

void Client::HistoryAsync(absl::string_view path, const HistoryOptions& options,
                          const CallOptions& call, Callback<HistoryResult> done) {
  impl_->HistoryImpl(path, options, impl_->DeadlineOf(call),
                     impl_->OnCallbackThread<HistoryResult>(std::move(done)));
}

void Client::SyncAsync(absl::string_view path, const CallOptions& call, Callback<uint64_t> done) {
  impl_->SyncImpl(path, impl_->DeadlineOf(call),
                  impl_->OnCallbackThread<uint64_t>(std::move(done)));
}

// --- Session.

absl::StatusOr<uint64_t> Client::EnsureSession(const CallOptions& call) {
  return Impl::Wait<uint64_t>([&](Impl::Done<uint64_t> done) {
    impl_->sessions().Ensure(impl_->DeadlineOf(call), std::move(done));
  });
}

uint64_t Client::session_id() const { return impl_->sessions().id(); }

std::string Client::session_secret() const { return impl_->sessions().secret(); }

absl::Duration Client::session_timeout() const { return impl_->sessions().timeout(); }

SessionState Client::session_state() const { return impl_->sessions().state(); }

absl::Status Client::CloseSession(const CallOptions& call) {
  return impl_->sessions().Close(impl_->DeadlineOf(call));
}

int Client::AddSessionListener(SessionListener listener) {
  return impl_->sessions().AddListener(std::move(listener));
}

void Client::RemoveSessionListener(int id) { impl_->sessions().RemoveListener(id); }

// --- Watches.

absl::StatusOr<uint64_t> Client::Watch(absl::string_view path, const WatchOptions& options,
                                       WatchEventCallback on_event, WatchDoneCallback on_done,
                                       const CallOptions& call) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) return s;
  const absl::Time deadline = impl_->DeadlineOf(call);
  // The watch stream opens with the token current then: get one first.
  if (absl::StatusOr<client::CallMetadata> md = impl_->AwaitCredentials(deadline); !md.ok()) {
    return md.status();
  }
  uint64_t session_id = 0;
  if (options.bind_to_session) {
    absl::StatusOr<uint64_t> id = EnsureSession(CallOptions{deadline});
    if (!id.ok()) return id.status();
    session_id = *id;
  }
  struct Created {
    absl::Notification done;
    absl::Status status;
  };
  auto created = std::make_shared<Created>();
  const uint64_t id = impl_->watches().Add(std::string(path), options.kind, options.start_revision,
                                           session_id, std::move(on_event), std::move(on_done),
                                           [created](const absl::Status& s) {
                                             created->status = s;
                                             created->done.Notify();
                                           });
  if (!created->done.WaitForNotificationWithDeadline(deadline)) {
    impl_->watches().Cancel(id);
    return SynodError(ErrorCode::kDeadlineExceeded, "watch not acknowledged in time");
  }
  if (!created->status.ok()) return created->status;
  return id;
}

void Client::CancelWatch(uint64_t watch_id) { impl_->watches().Cancel(watch_id); }

uint64_t Client::last_revision() const { return impl_->core().last_revision(); }

std::vector<std::string> Client::endpoints() const { return impl_->core().endpoints().Addresses(); }

}  // namespace synod
