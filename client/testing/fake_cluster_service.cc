// FakeReplica's Cluster service: status, membership and leadership are test
// controls (FakeControl), not replicated state; snapshots stream a text dump
// of the tree ("path=data" lines) in the chunk shape of the real service.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "client/testing/fake_replica.h"

namespace synod::client::testing {
namespace {

// The live tree as "path=data" lines, in path order; the applied index and
// digest of the state dumped.
struct Dump {
  std::string text;
  uint64_t applied_index = 0;
  uint64_t digest = 0;
};

absl::StatusOr<Dump> DumpTree(storage::TreeStore* store) {
  absl::StatusOr<std::unique_ptr<storage::StateView>> view = store->NewView();
  if (!view.ok()) return view.status();
  std::map<std::string, std::string> nodes;
  absl::Status s = (*view)->ForEachNode([&](std::string_view path, const storage::Node& node) {
    nodes.emplace(std::string(path), node.data);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Dump d;
  for (const auto& [path, data] : nodes) absl::StrAppend(&d.text, path, "=", data, "\n");
  d.applied_index = (*view)->meta().applied_index;
  d.digest = (*view)->meta().digest;
  return d;
}

}  // namespace

grpc::Status FakeReplica::Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                                 v1::StatusResponse* resp) {
  return Serve(ctx, "Status", *req, resp->mutable_header(), [&] {
    const storage::StoreMeta meta = state_->store()->meta();
    absl::MutexLock lock(&control_->mu);
    resp->set_id(member_);
    resp->set_role(control_->leader == member_ ? v1::ROLE_LEADER : v1::ROLE_FOLLOWER);
    resp->set_term(1);
    resp->set_leader_id(control_->leader);
    resp->set_commit_index(meta.applied_index);
    resp->set_applied_index(meta.applied_index);
    resp->set_digest(meta.digest);
    for (const v1::Member& m : control_->members) {
      v1::MemberStatus* ms = resp->add_members();
      *ms->mutable_member() = m;
      ms->set_match_index(meta.applied_index);
      ms->set_reachable(!control_->stopped.contains(m.id()));
    }
    resp->set_log_first_index(1);
    resp->set_version("fake");
    return Outcome{};
  });
}

grpc::Status FakeReplica::MemberList(grpc::ServerContext* ctx, const v1::MemberListRequest* req,
                                     v1::MemberListResponse* resp) {
  return Serve(ctx, "MemberList", *req, resp->mutable_header(), [&] {
    absl::MutexLock lock(&control_->mu);
    for (const v1::Member& m : control_->members) *resp->add_members() = m;
    return Outcome{};
  });
}

grpc::Status FakeReplica::MemberAdd(grpc::ServerContext* ctx, const v1::MemberAddRequest* req,
                                    v1::MemberAddResponse* resp) {
  return Serve(ctx, "MemberAdd", *req, resp->mutable_header(), [&] {
    absl::MutexLock lock(&control_->mu);
    for (const v1::Member& m : control_->members) {
      if (m.id() == req->id() || m.peer_addr() == req->peer_addr()) {
        return Outcome{v1::MEMBER_EXISTS, absl::StrCat("member ", m.id()), std::nullopt};
      }
    }
    v1::Member m;
    m.set_id(req->id());
    m.set_peer_addr(req->peer_addr());
    m.set_client_addr(req->client_addr());
    m.set_learner(true);
    control_->members.push_back(m);
    for (const v1::Member& x : control_->members) *resp->add_members() = x;
    return Outcome{};
  });
}

grpc::Status FakeReplica::MemberPromote(grpc::ServerContext* ctx,
                                        const v1::MemberPromoteRequest* req,
                                        v1::MemberPromoteResponse* resp) {
  return Serve(ctx, "MemberPromote", *req, resp->mutable_header(), [&] {
    absl::MutexLock lock(&control_->mu);
    for (v1::Member& m : control_->members) {
      if (m.id() != req->id()) continue;
      m.set_learner(false);
      for (const v1::Member& x : control_->members) *resp->add_members() = x;
      return Outcome{};
    }
    return Outcome{v1::MEMBER_NOT_FOUND, absl::StrCat("member ", req->id()), std::nullopt};
  });
}

grpc::Status FakeReplica::MemberRemove(grpc::ServerContext* ctx,
                                       const v1::MemberRemoveRequest* req,
                                       v1::MemberRemoveResponse* resp) {
  return Serve(ctx, "MemberRemove", *req, resp->mutable_header(), [&] {
    absl::MutexLock lock(&control_->mu);
    auto& ms = control_->members;
    auto it = std::find_if(ms.begin(), ms.end(),
                           [&](const v1::Member& m) { return m.id() == req->id(); });
    if (it == ms.end()) {
      return Outcome{v1::MEMBER_NOT_FOUND, absl::StrCat("member ", req->id()), std::nullopt};
    }
    ms.erase(it);
    for (const v1::Member& x : ms) *resp->add_members() = x;
    return Outcome{};
  });
}

grpc::Status FakeReplica::TransferLeader(grpc::ServerContext* ctx,
                                         const v1::TransferLeaderRequest* req,
                                         v1::TransferLeaderResponse* resp) {
  return Serve(ctx, "TransferLeader", *req, resp->mutable_header(), [&] {
    absl::MutexLock lock(&control_->mu);
    for (const v1::Member& m : control_->members) {
      if (m.id() != req->id()) continue;
      control_->leader = m.id();
      return Outcome{};
    }
    return Outcome{v1::MEMBER_NOT_FOUND, absl::StrCat("member ", req->id()), std::nullopt};
  });
}

grpc::Status FakeReplica::Snapshot(grpc::ServerContext* /*ctx*/, const v1::SnapshotRequest* req,
                                   grpc::ServerWriter<v1::SnapshotChunk>* writer) {
  if (std::optional<grpc::Status> failed = AdmitStream("Snapshot", *req)) return *failed;
  absl::StatusOr<Dump> dump = DumpTree(state_->store());
  if (!dump.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(dump.status().message()));
  }
  bool corrupt;
  std::vector<v1::Member> members;
  {
    absl::MutexLock lock(&control_->mu);
    corrupt = control_->corrupt_next_snapshot;
    control_->corrupt_next_snapshot = false;
    members = control_->members;
  }
  const std::string& text = dump->text;
  base::Crc32cStream crc;
  const size_t piece = text.size() / 3 + 1;
  for (size_t off = 0, i = 0; off < text.size() || i == 0; off += piece, ++i) {
    v1::SnapshotChunk c;
    if (i == 0) {
      c.set_applied_index(dump->applied_index);
      c.set_applied_term(1);
      c.set_digest(dump->digest);
      for (const v1::Member& m : members) *c.add_members() = m;
      c.set_format_version(1);
    }
    c.set_file_name("state.snap");
    c.set_offset(off);
    c.set_data(text.substr(off, piece));
    crc.Update(c.data());
    if (off + piece >= text.size()) {
      c.set_last_in_file(true);
      c.set_done(true);
      c.set_crc32c(crc.value() + (corrupt ? 1 : 0));
    }
    if (!writer->Write(c)) break;
    if (c.done()) break;
  }
  return grpc::Status::OK;
}

}  // namespace synod::client::testing
