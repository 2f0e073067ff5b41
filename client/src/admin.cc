// synod::Client: cluster administration and snapshots (Cluster service).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "client/src/client_impl.h"
#include "client/src/convert.h"
#include "client/src/reply.h"
#include "grpcpp/client_context.h"

namespace synod {

using client::Endpoint;
using client::RetryPolicy;
using client::Route;
using client::RpcSpec;

namespace {

#define SYNOD_CLUSTER_METHOD(Name, Req, Resp)                                    \
  [](Endpoint& ep, grpc::ClientContext* ctx, const v1::Req* req, v1::Resp* resp, \
     std::function<void(grpc::Status)> done) {                                   \
    ep.cluster->async()->Name(ctx, req, resp, std::move(done));                  \
  }

// Membership changes are not exactly-once (no session): a retry is safe
// only when the replica refused to propose the change.
template <typename Req, typename Resp>
RpcSpec<Req, Resp> ChangeSpec(client::AsyncMethod<Req, Resp> method) {
  RpcSpec<Req, Resp> spec;
  spec.method = method;
  spec.route = Route::kLeader;
  spec.retry = RetryPolicy::kNotProposedOnly;
  spec.write = true;
  return spec;
}

template <typename Resp>
absl::StatusOr<std::vector<Member>> MembersOf(Resp& r) {
  return client::FromProto(r.members());
}

}  // namespace

absl::StatusOr<std::vector<Member>> Client::MemberList(const CallOptions& call) {
  RpcSpec<v1::MemberListRequest, v1::MemberListResponse> spec;
  spec.method = SYNOD_CLUSTER_METHOD(MemberList, MemberListRequest, MemberListResponse);
  v1::MemberListRequest req;
  return Impl::Wait<std::vector<Member>>([&](Impl::Done<std::vector<Member>> done) {
    impl_->Run<v1::MemberListRequest, v1::MemberListResponse, std::vector<Member>>(
        std::move(spec), std::move(req), impl_->DeadlineOf(call), MembersOf<v1::MemberListResponse>,
        std::move(done));
  });
}

absl::StatusOr<ReplicaStatus> Client::GetStatus(absl::string_view client_addr,
                                                const CallOptions& call) {
  RpcSpec<v1::StatusRequest, v1::StatusResponse> spec;
  spec.method = SYNOD_CLUSTER_METHOD(Status, StatusRequest, StatusResponse);
  if (!client_addr.empty()) {
    spec.route = Route::kPinned;
    spec.pinned = impl_->core().endpoints().ForAddress(std::string(client_addr));
  }
  return Impl::Wait<ReplicaStatus>([&](Impl::Done<ReplicaStatus> done) {
    impl_->Run<v1::StatusRequest, v1::StatusResponse, ReplicaStatus>(
        std::move(spec), v1::StatusRequest(), impl_->DeadlineOf(call),
        [](v1::StatusResponse& r) -> absl::StatusOr<ReplicaStatus> { return client::FromProto(r); },
        std::move(done));
  });
}

absl::StatusOr<std::vector<Member>> Client::MemberAdd(uint64_t id, absl::string_view peer_addr,
                                                      absl::string_view client_addr,
                                                      const CallOptions& call) {
  v1::MemberAddRequest req;
  req.set_id(id);
  req.set_peer_addr(std::string(peer_addr));
  req.set_client_addr(std::string(client_addr));
  return Impl::Wait<std::vector<Member>>([&](Impl::Done<std::vector<Member>> done) {
    impl_->Run<v1::MemberAddRequest, v1::MemberAddResponse, std::vector<Member>>(
        ChangeSpec<v1::MemberAddRequest, v1::MemberAddResponse>(
            SYNOD_CLUSTER_METHOD(MemberAdd, MemberAddRequest, MemberAddResponse)),
        std::move(req), impl_->DeadlineOf(call), MembersOf<v1::MemberAddResponse>, std::move(done));
  });
}

absl::StatusOr<std::vector<Member>> Client::MemberPromote(uint64_t id, const CallOptions& call) {
  v1::MemberPromoteRequest req;
  req.set_id(id);
  return Impl::Wait<std::vector<Member>>([&](Impl::Done<std::vector<Member>> done) {
    impl_->Run<v1::MemberPromoteRequest, v1::MemberPromoteResponse, std::vector<Member>>(
        ChangeSpec<v1::MemberPromoteRequest, v1::MemberPromoteResponse>(
            SYNOD_CLUSTER_METHOD(MemberPromote, MemberPromoteRequest, MemberPromoteResponse)),
        std::move(req), impl_->DeadlineOf(call), MembersOf<v1::MemberPromoteResponse>,
        std::move(done));
  });
}

absl::StatusOr<std::vector<Member>> Client::MemberRemove(uint64_t id, const CallOptions& call) {
  v1::MemberRemoveRequest req;
  req.set_id(id);
  return Impl::Wait<std::vector<Member>>([&](Impl::Done<std::vector<Member>> done) {
    impl_->Run<v1::MemberRemoveRequest, v1::MemberRemoveResponse, std::vector<Member>>(
        ChangeSpec<v1::MemberRemoveRequest, v1::MemberRemoveResponse>(
            SYNOD_CLUSTER_METHOD(MemberRemove, MemberRemoveRequest, MemberRemoveResponse)),
        std::move(req), impl_->DeadlineOf(call), MembersOf<v1::MemberRemoveResponse>,
        std::move(done));
  });
}

absl::Status Client::TransferLeader(uint64_t id, const CallOptions& call) {
  v1::TransferLeaderRequest req;
  req.set_id(id);
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::TransferLeaderRequest, v1::TransferLeaderResponse, bool>(
               ChangeSpec<v1::TransferLeaderRequest, v1::TransferLeaderResponse>(
                   SYNOD_CLUSTER_METHOD(TransferLeader, TransferLeaderRequest,
                                        TransferLeaderResponse)),
               std::move(req), impl_->DeadlineOf(call),
               [](v1::TransferLeaderResponse&) -> absl::StatusOr<bool> { return true; },
               std::move(done));
         })
      .status();
}

namespace {

ClusterSettings SettingsOf(const v1::ClusterSettings& p, uint64_t revision) {
  ClusterSettings s;
  s.max_data_bytes = p.max_data_bytes();
  s.max_multi_ops = p.max_multi_ops();
  s.history_per_node = p.history_per_node();
  s.min_session_timeout_ms = p.min_session_timeout_ms();
  s.max_session_timeout_ms = p.max_session_timeout_ms();
  s.max_ephemerals_per_session = p.max_ephemerals_per_session();
  s.revision = revision;
  return s;
}

}  // namespace

absl::StatusOr<ClusterSettings> Client::GetSettings(const CallOptions& call) {
  RpcSpec<v1::SettingsGetRequest, v1::SettingsGetResponse> spec;
  spec.method = SYNOD_CLUSTER_METHOD(SettingsGet, SettingsGetRequest, SettingsGetResponse);
  v1::SettingsGetRequest req;  // a linearizable read
  return Impl::Wait<ClusterSettings>([&](Impl::Done<ClusterSettings> done) {
    impl_->Run<v1::SettingsGetRequest, v1::SettingsGetResponse, ClusterSettings>(
        std::move(spec), std::move(req), impl_->DeadlineOf(call),
        [](v1::SettingsGetResponse& r) -> absl::StatusOr<ClusterSettings> {
          ClusterSettings s = SettingsOf(r.settings(), r.header().revision());
          s.recorded = r.recorded();
          return s;
        },
        std::move(done));
  });
}

absl::StatusOr<ClusterSettings> Client::SetSettings(const ClusterSettings& change,
                                                    const CallOptions& call) {
  v1::SettingsSetRequest req;
  v1::ClusterSettings* p = req.mutable_settings();
  p->set_max_data_bytes(change.max_data_bytes);
  p->set_max_multi_ops(change.max_multi_ops);
  p->set_history_per_node(change.history_per_node);
  p->set_min_session_timeout_ms(change.min_session_timeout_ms);
  p->set_max_session_timeout_ms(change.max_session_timeout_ms);
  p->set_max_ephemerals_per_session(change.max_ephemerals_per_session);
  return Impl::Wait<ClusterSettings>([&](Impl::Done<ClusterSettings> done) {
    impl_->Run<v1::SettingsSetRequest, v1::SettingsSetResponse, ClusterSettings>(
        ChangeSpec<v1::SettingsSetRequest, v1::SettingsSetResponse>(
            SYNOD_CLUSTER_METHOD(SettingsSet, SettingsSetRequest, SettingsSetResponse)),
        std::move(req), impl_->DeadlineOf(call),
        [](v1::SettingsSetResponse& r) -> absl::StatusOr<ClusterSettings> {
          ClusterSettings s = SettingsOf(r.settings(), r.header().revision());
          s.recorded = true;
          return s;
        },
        std::move(done));
  });
}

absl::StatusOr<std::vector<Quota>> Client::GetQuotas(absl::string_view path,
                                                     const CallOptions& call) {
  RpcSpec<v1::QuotaGetRequest, v1::QuotaGetResponse> spec;
  spec.method = SYNOD_CLUSTER_METHOD(QuotaGet, QuotaGetRequest, QuotaGetResponse);
  v1::QuotaGetRequest req;  // a linearizable read
  req.set_path(std::string(path));
  return Impl::Wait<std::vector<Quota>>([&](Impl::Done<std::vector<Quota>> done) {
    impl_->Run<v1::QuotaGetRequest, v1::QuotaGetResponse, std::vector<Quota>>(
        std::move(spec), std::move(req), impl_->DeadlineOf(call),
        [](v1::QuotaGetResponse& r) -> absl::StatusOr<std::vector<Quota>> {
          std::vector<Quota> out;
          for (const v1::Quota& q : r.quotas()) {
            out.push_back(Quota{q.path(), q.max_nodes(), q.max_bytes(), q.used_nodes(),
                                q.used_bytes()});
          }
          return out;
        },
        std::move(done));
  });
}

absl::Status Client::SetQuota(absl::string_view path, int64_t max_nodes, int64_t max_bytes,
                              const CallOptions& call) {
  v1::QuotaSetRequest req;
  req.set_path(std::string(path));
  req.set_max_nodes(max_nodes);
  req.set_max_bytes(max_bytes);
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::QuotaSetRequest, v1::QuotaSetResponse, bool>(
               ChangeSpec<v1::QuotaSetRequest, v1::QuotaSetResponse>(
                   SYNOD_CLUSTER_METHOD(QuotaSet, QuotaSetRequest, QuotaSetResponse)),
               std::move(req), impl_->DeadlineOf(call),
               [](v1::QuotaSetResponse&) -> absl::StatusOr<bool> { return true; },
               std::move(done));
         })
      .status();
}

absl::Status Client::DeleteQuota(absl::string_view path, const CallOptions& call) {
  v1::QuotaDeleteRequest req;
  req.set_path(std::string(path));
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::QuotaDeleteRequest, v1::QuotaDeleteResponse, bool>(
               ChangeSpec<v1::QuotaDeleteRequest, v1::QuotaDeleteResponse>(
                   SYNOD_CLUSTER_METHOD(QuotaDelete, QuotaDeleteRequest, QuotaDeleteResponse)),
               std::move(req), impl_->DeadlineOf(call),
               [](v1::QuotaDeleteResponse&) -> absl::StatusOr<bool> { return true; },
               std::move(done));
         })
      .status();
}

namespace {

// fsync of a file or directory: a saved backup must survive a crash of the
// machine that saved it, and so must its name after the rename.
bool SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Receives one snapshot stream into `path`. The stream is one file of the
// server's snapshot format; the saved file is exactly its bytes.
absl::StatusOr<SnapshotInfo> ReceiveSnapshot(Endpoint& ep, const client::CallMetadata& metadata,
                                             absl::Time deadline, const std::string& path) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  client::AttachMetadata(metadata, &ctx);
  std::unique_ptr<grpc::ClientReader<v1::SnapshotChunk>> reader =
      ep.cluster->Snapshot(&ctx, v1::SnapshotRequest());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return SynodError(ErrorCode::kInternal, absl::StrCat("cannot create ", path));
  SnapshotInfo info;
  base::Crc32cStream crc;
  std::string file_name;
  bool first = true;
  bool done = false;
  v1::SnapshotChunk chunk;
  while (!done && reader->Read(&chunk)) {
    if (first) {
      info.applied_index = chunk.applied_index();
      info.applied_term = chunk.applied_term();
      info.digest = chunk.digest();
      file_name = chunk.file_name();
      first = false;
    }
    if (chunk.file_name() != file_name) {
      ctx.TryCancel();
      reader->Finish().ok();
      return SynodError(ErrorCode::kInternal,
                        absl::StrCat("snapshot has more than one file (", file_name, ", ",
                                     chunk.file_name(), "); this client saves one"));
    }
    if (chunk.offset() != info.bytes) {
      ctx.TryCancel();
      reader->Finish().ok();
      return SynodError(ErrorCode::kDataLoss, absl::StrCat("chunk at offset ", chunk.offset(),
                                                           ", expected ", info.bytes));
    }
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    crc.Update(chunk.data());
    info.bytes += chunk.data().size();
    if (chunk.done()) {
      done = true;
      info.crc32c = chunk.crc32c();
    }
  }
  grpc::Status status = reader->Finish();
  out.close();
  if (status.ok() && out && !SyncPath(path)) {
    return SynodError(ErrorCode::kInternal, absl::StrCat("cannot fsync ", path));
  }
  if (!status.ok()) {
    client::Reply r = client::ClassifyReply(status, v1::ResponseHeader(), ep.address);
    return r.status;
  }
  if (!out) return SynodError(ErrorCode::kInternal, absl::StrCat("cannot write ", path));
  if (!done) return SynodError(ErrorCode::kDataLoss, "snapshot stream ended before its last chunk");
  if (crc.value() != info.crc32c) {
    return SynodError(ErrorCode::kDataLoss, absl::StrCat("snapshot checksum mismatch: stream says ",
                                                         info.crc32c, ", data has ", crc.value()));
  }
  return info;
}

}  // namespace

absl::StatusOr<SnapshotInfo> Client::SaveSnapshot(const std::string& file_path,
                                                  const CallOptions& call) {
  const absl::Time deadline = impl_->DeadlineOf(call);
  const std::string temp = file_path + ".part";
  absl::StatusOr<client::CallMetadata> metadata = impl_->AwaitCredentials(deadline);
  if (!metadata.ok()) return metadata.status();
  // A blocking stream: saving a backup is a blocking operation anyway. Each
  // replica is tried once, starting with the current one.
  absl::Status last = SynodError(ErrorCode::kUnavailable, "no replica reachable");
  const std::vector<std::string> addresses = impl_->core().endpoints().Addresses();
  std::shared_ptr<Endpoint> ep = impl_->core().endpoints().Current();
  for (size_t i = 0; i < addresses.size() && absl::Now() < deadline; ++i) {
    absl::StatusOr<SnapshotInfo> info = ReceiveSnapshot(*ep, *metadata, deadline, temp);
    if (info.ok()) {
      if (std::rename(temp.c_str(), file_path.c_str()) != 0) {
        std::remove(temp.c_str());
        return SynodError(ErrorCode::kInternal, absl::StrCat("cannot rename to ", file_path));
      }
      const size_t slash = file_path.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : file_path.substr(0, slash + 1);
      if (!SyncPath(dir)) {
        return SynodError(ErrorCode::kInternal, absl::StrCat("cannot fsync directory ", dir));
      }
      return info;
    }
    std::remove(temp.c_str());
    last = info.status();
    const ErrorCode code = ErrorCodeOf(last);
    if (code != ErrorCode::kUnavailable && code != ErrorCode::kNotLeader) return last;
    impl_->core().endpoints().ReportFailure(*ep);
    ep = impl_->core().endpoints().Current();
  }
  return last;
}

}  // namespace synod
