// synodctl's cluster commands: status, member list|add|promote|remove,
// leader transfer (snapshot save/status: snapshot.cc).
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {
namespace {

absl::Status PrintMembers(Ctx& ctx, const std::vector<Member>& members) {
  if (ctx.json()) {
    Json j = Json::array();
    for (const Member& m : members) {
      Json member;
      member["id"] = m.id;
      member["peer_addr"] = m.peer_addr;
      member["client_addr"] = m.client_addr;
      member["learner"] = m.learner;
      j.push_back(std::move(member));
    }
    ctx.io().Out(JsonLine(j));
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
    Json list = Json::array();
    for (const Row& r : rows) {
      Json m;
      m["id"] = r.status.ok() ? r.status->id : r.member.id;
      m["client_addr"] = r.member.client_addr;
      m["peer_addr"] = r.member.peer_addr;
      m["reachable"] = r.status.ok();
      if (r.status.ok()) {
        const ReplicaStatus& s = *r.status;
        m["role"] = std::string(RoleName(s.role));
        m["term"] = s.term;
        m["leader_id"] = s.leader_id;
        m["commit_index"] = s.commit_index;
        m["applied_index"] = s.applied_index;
        m["lag"] = max_commit - std::min(max_commit, s.applied_index);
        m["digest"] = absl::StrFormat("%016x", s.digest);
        m["snapshot_index"] = s.snapshot_index;
        m["log_first_index"] = s.log_first_index;
        m["version"] = s.version;
      } else {
        m["error"] = DescribeError(r.status.status());
      }
      list.push_back(std::move(m));
    }
    Json j;
    j["members"] = std::move(list);
    j["leader_id"] = leader;
    // Nothing to compare when no replica answered: no verdict.
    if (reachable > 0) j["digests_agree"] = differ_at == 0;
    ctx.io().Out(JsonLine(j));
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
  const uint64_t id = ctx.args().id;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m =
      (*client)->MemberAdd(id, ctx.args().peer_addr, ctx.args().client_addr, ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdMemberPromote(Ctx& ctx) {
  const uint64_t id = ctx.args().id;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m = (*client)->MemberPromote(id, ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdMemberRemove(Ctx& ctx) {
  const uint64_t id = ctx.args().id;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Member>> m = (*client)->MemberRemove(id, ctx.call());
  if (!m.ok()) return m.status();
  return PrintMembers(ctx, *m);
}

absl::Status CmdLeaderTransfer(Ctx& ctx) {
  const uint64_t id = ctx.args().id;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->TransferLeader(id, ctx.call()); !s.ok()) return s;
  if (ctx.json()) {
    Json j;
    j["leader_id"] = id;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out("OK\n");
  }
  return absl::OkStatus();
}

}  // namespace synod::ctl
