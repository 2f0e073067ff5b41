// synodctl's cluster commands: status, member list|add|promote|remove,
// leader transfer (snapshot save/status: snapshot.cc).
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/synodctl/commands.h"
#include "client/synodctl/json.h"

namespace synod::ctl {
namespace {

absl::StatusOr<uint64_t> IdArg(const Ctx& ctx, size_t i) {
  absl::StatusOr<uint64_t> id = ParseUintFlag("ID", ctx.Arg(i));
  if (!id.ok() || *id == 0)
    return UsageError(absl::StrCat("ID ", ctx.Arg(i), ": expected 1, 2, ..."));
  return *id;
}

absl::Status PrintMembers(Ctx& ctx, const std::vector<Member>& members) {
  if (ctx.json()) {
    JsonWriter j;
    j.BeginArray();
    for (const Member& m : members) {
      j.BeginObject()
          .Field("id", m.id)
          .Field("peer_addr", m.peer_addr)
          .Field("client_addr", m.client_addr)
          .Field("learner", m.learner)
          .EndObject();
    }
    j.EndArray();
    ctx.io().Out(j.str() + "\n");
    return absl::OkStatus();
  }
  std::string out =
      absl::StrFormat("%-6s %-22s %-22s %s\n", "ID", "PEER_ADDR", "CLIENT_ADDR", "LEARNER");
  for (const Member& m : members) {
    absl::StrAppendFormat(&out, "%-6d %-22s %-22s %s\n", m.id, m.peer_addr, m.client_addr,
                          m.learner ? "yes" : "no");
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

}  // namespace

absl::Status CmdStatus(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  // Whom to ask: the members, or (if the list is not available) the
  // endpoints the client knows.
  std::vector<Member> members;
  absl::StatusOr<std::vector<Member>> listed = (*client)->MemberList(ctx.call());
  if (listed.ok() && !listed->empty()) {
    members = *listed;
  } else {
    for (const std::string& ep : (*client)->endpoints())
      members.push_back(Member{0, "", ep, false});
  }
  struct Row {
    Member member;
    absl::StatusOr<ReplicaStatus> status;
  };
  std::vector<Row> rows;
  // One replica that does not answer must not hold the table up for long.
  const absl::Duration each = std::min(ctx.timeout(), absl::Seconds(2));
  for (const Member& m : members) {
    rows.push_back(Row{m, (*client)->GetStatus(m.client_addr, CallOptions::Timeout(each))});
  }
  uint64_t max_commit = 0, leader = 0;
  int reachable = 0;
  std::map<uint64_t, std::set<uint64_t>> digests;  // applied index -> digests
  for (const Row& r : rows) {
    if (!r.status.ok()) continue;
    ++reachable;
    max_commit = std::max(max_commit, r.status->commit_index);
    if (r.status->leader_id != 0) leader = r.status->leader_id;
    digests[r.status->applied_index].insert(r.status->digest);
  }
  uint64_t differ_at = 0;
  for (const auto& [index, set] : digests) {
    if (set.size() > 1) differ_at = index;
  }
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Key("members").BeginArray();
    for (const Row& r : rows) {
      j.BeginObject()
          .Field("id", r.status.ok() ? r.status->id : r.member.id)
          .Field("client_addr", r.member.client_addr)
          .Field("peer_addr", r.member.peer_addr)
          .Field("reachable", r.status.ok());
      if (r.status.ok()) {
        const ReplicaStatus& s = *r.status;
        j.Field("role", std::string(RoleName(s.role)))
            .Field("term", s.term)
            .Field("leader_id", s.leader_id)
            .Field("commit_index", s.commit_index)
            .Field("applied_index", s.applied_index)
            .Field("lag", max_commit - std::min(max_commit, s.applied_index))
            .Field("digest", absl::StrFormat("%016x", s.digest))
            .Field("snapshot_index", s.snapshot_index)
            .Field("log_first_index", s.log_first_index)
            .Field("version", s.version);
      } else {
        j.Field("error", DescribeError(r.status.status()));
      }
      j.EndObject();
    }
    j.EndArray().Field("leader_id", leader);
    // Nothing to compare when no replica answered: no verdict.
    if (reachable > 0) j.Field("digests_agree", differ_at == 0);
    j.EndObject();
    ctx.io().Out(j.str() + "\n");
  } else {
    std::string out =
        absl::StrFormat("%-4s %-22s %-22s %-13s %-6s %-10s %-10s %-6s %s\n", "ID", "CLIENT_ADDR",
                        "PEER_ADDR", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "DIGEST");
    for (const Row& r : rows) {
      if (!r.status.ok()) {
        absl::StrAppendFormat(&out, "%-4d %-22s %-22s %-13s %s\n", r.member.id,
                              r.member.client_addr, r.member.peer_addr, "unreachable",
                              DescribeError(r.status.status()));
        continue;
      }
      const ReplicaStatus& s = *r.status;
      absl::StrAppendFormat(&out, "%-4d %-22s %-22s %-13s %-6d %-10d %-10d %-6d %016x\n", s.id,
                            r.member.client_addr, r.member.peer_addr, RoleName(s.role), s.term,
                            s.commit_index, s.applied_index,
                            max_commit - std::min(max_commit, s.applied_index), s.digest);
    }
    absl::StrAppend(&out, "leader: ", leader == 0 ? std::string("none") : absl::StrCat(leader),
                    "; digests: ",
                    reachable == 0        ? std::string("unknown (no replica answered)")
                    : reachable == 1      ? std::string("one replica answered, none to compare")
                    : differ_at != 0      ? absl::StrCat("DIFFER at applied index ", differ_at)
                    : digests.size() <= 1 ? std::string("agree")
                                          : std::string("agree where applied indexes match"),
                    "\n");
    ctx.io().Out(out);
  }
  if (reachable == 0) return SynodError(ErrorCode::kUnavailable, "no replica answered");
  if (differ_at != 0) {
    return SynodError(ErrorCode::kDataLoss,
                      absl::StrCat("replicas' digests differ at applied index ", differ_at));
  }
  return absl::OkStatus();
}

absl::Status CmdMemberList(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m = (*client)->MemberList(ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdMemberAdd(Ctx& ctx) {
  absl::StatusOr<uint64_t> id = IdArg(ctx, 0);
  if (!id.ok()) return id.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m =
      (*client)->MemberAdd(*id, ctx.Arg(1), ctx.Arg(2), ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdMemberPromote(Ctx& ctx) {
  absl::StatusOr<uint64_t> id = IdArg(ctx, 0);
  if (!id.ok()) return id.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m = (*client)->MemberPromote(*id, ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdMemberRemove(Ctx& ctx) {
  absl::StatusOr<uint64_t> id = IdArg(ctx, 0);
  if (!id.ok()) return id.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m = (*client)->MemberRemove(*id, ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdLeaderTransfer(Ctx& ctx) {
  absl::StatusOr<uint64_t> id = IdArg(ctx, 0);
  if (!id.ok()) return id.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->TransferLeader(*id, ctx.call()); !s.ok()) return s;
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Field("leader_id", *id).EndObject();
    ctx.io().Out(j.str() + "\n");
  } else {
    ctx.io().Out("OK\n");
  }
  return absl::OkStatus();
}

}  // namespace synod::ctl
