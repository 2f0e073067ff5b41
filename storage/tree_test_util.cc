#include "storage/tree_test_util.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/acl.h"
#include "storage/path.h"
#include "storage/snapshot.h"

namespace synod::storage::testing {

EntryOutcome Driver::Apply(const v1::Command& command) { return ApplyBatch({command}).at(0); }

std::vector<EntryOutcome> Driver::ApplyBatch(const std::vector<v1::Command>& commands) {
  std::vector<ApplyEntry> entries;
  for (const v1::Command& c : commands) entries.push_back(ApplyEntry{next_index_++, &c});
  absl::StatusOr<std::vector<EntryOutcome>> out = applier_->ApplyBatch(entries);
  if (!out.ok()) {
    ADD_FAILURE() << out.status();
    return std::vector<EntryOutcome>(commands.size());
  }
  return std::move(*out);
}

void SetSession(v1::Command* command, uint64_t session, const std::string& secret) {
  command->mutable_write()->set_session_id(session);
  if (session != 0) command->mutable_write()->set_session_secret(secret);
}

v1::Command CreateCmd(const std::string& path, const std::string& data, v1::CreateMode mode,
                      int64_t ttl_ms, uint64_t session, int64_t time_ms) {
  v1::Command c;
  c.set_leader_time_ms(time_ms);
  SetSession(&c, session);
  v1::CreateOp* op = c.mutable_txn()->add_ops()->mutable_create();
  op->set_path(path);
  op->set_data(data);
  op->set_mode(mode);
  op->set_ttl_ms(ttl_ms);
  return c;
}

v1::Command SetCmd(const std::string& path, const std::string& data, int64_t version,
                   int64_t time_ms) {
  v1::Command c;
  c.set_leader_time_ms(time_ms);
  *c.mutable_txn()->add_ops() = SetOp(path, data, version);
  return c;
}

v1::Command DeleteCmd(const std::string& path, int64_t version) {
  v1::Command c;
  c.set_leader_time_ms(1000);
  *c.mutable_txn()->add_ops() = DeleteOp(path, version);
  return c;
}

v1::Command MultiCmd(const std::vector<v1::Op>& ops, uint64_t session) {
  v1::Command c;
  c.set_leader_time_ms(1000);
  SetSession(&c, session);
  c.mutable_txn()->set_is_multi(true);
  for (const v1::Op& op : ops) *c.mutable_txn()->add_ops() = op;
  return c;
}

v1::Command OpenSessionCmd(int64_t timeout_ms, const std::string& secret) {
  v1::Command c;
  c.mutable_open_session()->set_timeout_ms(timeout_ms);
  c.mutable_open_session()->set_secret(secret);
  return c;
}

v1::Command CloseSessionCmd(uint64_t session) {
  v1::Command c;
  c.mutable_close_session()->set_session_id(session);
  return c;
}

v1::Command ExpireSessionsCmd(const std::vector<uint64_t>& sessions) {
  v1::Command c;
  for (uint64_t id : sessions) c.mutable_expire_sessions()->add_session_ids(id);
  return c;
}

v1::Command DeleteExpiredCmd(const std::vector<std::string>& paths, int64_t time_ms) {
  v1::Command c;
  c.set_leader_time_ms(time_ms);
  for (const std::string& p : paths) c.mutable_delete_expired()->add_paths(p);
  return c;
}

v1::Command CompactCmd(uint64_t revision) {
  v1::Command c;
  c.mutable_compact_history()->set_revision(revision);
  return c;
}

v1::Command SettingsCmd(const v1::ClusterSettings& settings, bool bootstrap) {
  v1::Command c;
  *c.mutable_set_settings()->mutable_settings() = settings;
  c.mutable_set_settings()->set_bootstrap(bootstrap);
  return c;
}

v1::Command DigestCheckCmd(uint64_t revision, uint64_t digest) {
  v1::Command c;
  c.mutable_digest_check()->set_revision(revision);
  c.mutable_digest_check()->set_digest(digest);
  return c;
}

v1::Op CreateOp(const std::string& path, const std::string& data, v1::CreateMode mode) {
  v1::Op op;
  op.mutable_create()->set_path(path);
  op.mutable_create()->set_data(data);
  op.mutable_create()->set_mode(mode);
  return op;
}

v1::Op SetOp(const std::string& path, const std::string& data, int64_t version) {
  v1::Op op;
  op.mutable_set()->set_path(path);
  op.mutable_set()->set_data(data);
  if (version != -1) op.mutable_set()->set_expected_version(version);
  return op;
}

v1::Op DeleteOp(const std::string& path, int64_t version) {
  v1::Op op;
  op.mutable_delete_()->set_path(path);
  if (version != -1) op.mutable_delete_()->set_expected_version(version);
  return op;
}

v1::Op CheckOp(const std::string& path, int64_t version) {
  v1::Op op;
  op.mutable_check()->set_path(path);
  if (version != -1) op.mutable_check()->set_expected_version(version);
  return op;
}

v1::Command WithSession(v1::Command command, uint64_t session, uint64_t sequence) {
  SetSession(&command, session);
  command.mutable_write()->set_sequence(sequence);
  return command;
}

namespace {

std::string StatText(const NodeStat& s) {
  return absl::StrCat("czxid=", s.czxid, " mzxid=", s.mzxid, " pzxid=", s.pzxid, " ctime=", s.ctime,
                      " mtime=", s.mtime, " version=", s.version, " cversion=", s.cversion,
                      " aversion=", s.aversion, " owner=", s.ephemeral_owner,
                      " len=", s.data_length, " children=", s.num_children);
}

std::string AclText(const Acl& acl) {
  return absl::StrCat("[",
                      absl::StrJoin(acl, ",",
                                    [](std::string* out, const AclEntry& e) {
                                      absl::StrAppend(out, e.scheme, ":", e.id, ":",
                                                      FormatPerms(e.perms));
                                    }),
                      "]");
}

Acl AclFromProto(const google::protobuf::RepeatedPtrField<v1::Acl>& acl) {
  Acl out;
  for (const v1::Acl& e : acl) out.push_back(FromProto(e));
  return out;
}

}  // namespace

std::string Dump(TreeStore* store) {
  auto view_or = store->NewView();
  if (!view_or.ok()) return absl::StrCat("BROKEN view: ", view_or.status().ToString());
  StateView* view = view_or->get();
  std::string out;
  const StoreMeta& meta = view->meta();
  absl::StrAppend(&out, "meta applied=", meta.applied_index, " digest=", meta.digest,
                  " compact=", meta.compact_revision, " settings=",
                  meta.settings.has_value() ? SettingsToString(*meta.settings) : "none",
                  " auth=", meta.auth != nullptr ? meta.auth->ShortDebugString() : "none",
                  " quotas=", meta.quotas != nullptr ? meta.quotas->ShortDebugString() : "none",
                  "\n");
  std::map<std::string, Node> nodes;
  absl::Status s = view->ForEachNode([&](std::string_view path, const Node& node) {
    nodes.emplace(std::string(path), node);
    return absl::OkStatus();
  });
  if (!s.ok()) absl::StrAppend(&out, "BROKEN nodes: ", s.ToString(), "\n");
  std::map<std::string, std::vector<std::string>> expected_children;
  std::set<std::pair<uint64_t, std::string>> expected_ephemerals;
  std::vector<std::string> expected_expiry;
  for (const auto& [path, node] : nodes) {
    absl::StrAppend(&out, "node ", path, " kind=", static_cast<int>(node.kind),
                    " ttl=", node.ttl_ms, " hseq=", node.history_seq, " ", StatText(node.stat),
                    " acl=", AclText(node.acl), node.data_null ? " data=null" : " data=",
                    absl::CEscape(node.data), "\n");
    if (path != "/") {
      expected_children[std::string(ParentPath(path))].push_back(std::string(BaseName(path)));
    }
    if (node.kind == NodeKind::kEphemeral) {
      expected_ephemerals.insert({node.stat.ephemeral_owner, path});
    }
    if (node.kind == NodeKind::kTtl || node.kind == NodeKind::kContainer) {
      expected_expiry.push_back(path);
    }
  }
  for (const auto& [path, node] : nodes) {
    std::vector<ChildEntry> children;
    s = view->ListChildren(path, "", 0, &children);
    if (!s.ok()) absl::StrAppend(&out, "BROKEN children: ", s.ToString(), "\n");
    std::vector<std::string> names;
    for (const ChildEntry& c : children) names.push_back(c.name);
    auto& expected = expected_children[path];
    std::sort(expected.begin(), expected.end());
    if (names != expected) absl::StrAppend(&out, "BROKEN children of ", path, "\n");
    if (static_cast<int64_t>(names.size()) != node.stat.num_children) {
      absl::StrAppend(&out, "BROKEN num_children of ", path, "\n");
    }
  }
  std::map<std::pair<std::string, uint64_t>, HistoryEntry> history;
  s = view->ForEachHistory([&](std::string_view path, uint64_t seq, const HistoryEntry& e) {
    history.emplace(std::make_pair(std::string(path), seq), e);
    return absl::OkStatus();
  });
  if (!s.ok()) absl::StrAppend(&out, "BROKEN history: ", s.ToString(), "\n");
  for (const auto& [key, e] : history) {
    absl::StrAppend(&out, "hist ", key.first, " #", key.second, " rev=", e.revision,
                    e.deleted ? " deleted " : " ", StatText(e.stat), " acl=", AclText(e.acl),
                    " data=", absl::CEscape(e.data), "\n");
  }
  std::vector<Session> sessions;
  s = view->ListSessions(&sessions);
  if (!s.ok()) absl::StrAppend(&out, "BROKEN sessions: ", s.ToString(), "\n");
  std::set<std::pair<uint64_t, std::string>> ephemerals;
  for (const Session& session : sessions) {
    absl::StrAppend(&out, "session ", session.id, " timeout=", session.timeout_ms,
                    " secret=", absl::CEscape(session.secret), " owner=[",
                    absl::StrJoin(session.owner, ",",
                                  [](std::string* out, const SessionOwnerId& o) {
                                    absl::StrAppend(out, o.scheme, ":", o.id);
                                  }),
                    "] ephemerals=", session.ephemerals, " acked_below=", session.acked_below,
                    " results=[",
                    absl::StrJoin(session.results, ",",
                                  [](std::string* out, const WriteResult& r) {
                                    absl::StrAppend(out, r.sequence, ":", absl::CEscape(r.result));
                                  }),
                    "]\n");
    std::vector<std::string> paths;
    s = view->ListEphemerals(session.id, &paths);
    if (!s.ok()) absl::StrAppend(&out, "BROKEN ephemerals: ", s.ToString(), "\n");
    for (const std::string& p : paths) ephemerals.insert({session.id, p});
    if (paths.size() != session.ephemerals) {
      absl::StrAppend(&out, "BROKEN ephemeral count of session ", session.id, "\n");
    }
  }
  if (ephemerals != expected_ephemerals) absl::StrAppend(&out, "BROKEN ephemeral index\n");
  if (meta.quotas != nullptr) {
    for (const v1::Quota& q : meta.quotas->quotas()) {
      int64_t used_nodes = 0;
      int64_t used_bytes = 0;
      const std::string under = q.path() == "/" ? "/" : q.path() + "/";
      for (const auto& [path, node] : nodes) {
        if (path != q.path() && !std::string_view(path).starts_with(under)) continue;
        used_nodes += 1;
        used_bytes += static_cast<int64_t>(node.data.size());
      }
      if (used_nodes != q.used_nodes() || used_bytes != q.used_bytes()) {
        absl::StrAppend(&out, "BROKEN quota usage of ", q.path(), "\n");
      }
    }
  }
  std::vector<std::string> expiry;
  s = view->ListExpiryCandidates(&expiry);
  if (!s.ok()) absl::StrAppend(&out, "BROKEN expiry: ", s.ToString(), "\n");
  if (expiry != expected_expiry) absl::StrAppend(&out, "BROKEN expiry index\n");
  std::vector<Grave> graves;
  s = view->ListGraves(UINT64_MAX, 0, &graves);
  if (!s.ok()) absl::StrAppend(&out, "BROKEN graves: ", s.ToString(), "\n");
  for (const Grave& g : graves) {
    absl::StrAppend(&out, "grave ", g.revision, " ", g.path, " #", g.seq, "\n");
  }
  std::vector<v1::WatchEvent> events;
  s = view->ListEvents(0, 0, &events);
  if (!s.ok()) absl::StrAppend(&out, "BROKEN events: ", s.ToString(), "\n");
  for (const v1::WatchEvent& e : events) {
    absl::StrAppend(&out, "event ", e.revision(), " ", v1::EventType_Name(e.type()), " ", e.path(),
                    " ", e.stat().ShortDebugString(), " acl=", AclText(AclFromProto(e.acl())),
                    "\n");
  }
  return out;
}

void ExpectStateSurvivesReopenAndSnapshot(StoreHolder* holder,
                                          const synod::testing::TempDir& dir) {
  const StoreMeta meta = holder->store()->meta();
  const std::string dump = Dump(holder->store());
  holder->Reopen();
  EXPECT_EQ(holder->store()->meta(), meta);
  EXPECT_EQ(Dump(holder->store()), dump);

  auto written = holder->store()->WriteSnapshot(dir.Sub("snap"));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->meta, meta);
  auto header = ReadSnapshotHeader(dir.Sub("snap"));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->meta, meta);
  MemoryHolder memory;
  RocksHolder rocks;
  for (StoreHolder* to : std::vector<StoreHolder*>{&memory, &rocks}) {
    auto restored = to->store()->RestoreSnapshot(dir.Sub("snap"));
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(to->store()->meta(), meta);
    EXPECT_EQ(Dump(to->store()), dump);
    to->Reopen();
    EXPECT_EQ(to->store()->meta(), meta);
    EXPECT_EQ(Dump(to->store()), dump);
  }
}

uint64_t RecomputeDigest(TreeStore* store) {
  auto view = store->NewView();
  if (!view.ok()) return 0;
  uint64_t digest = 0;
  (*view)
      ->ForEachNode([&](std::string_view path, const Node& node) {
        digest += NodeDigestTerm(path, node);
        return absl::OkStatus();
      })
      .IgnoreError();  // a failure shows up as a wrong digest
  return digest;
}

}  // namespace synod::storage::testing

namespace synod::storage::testing {

std::string CommandGenerator::RandomPath() {
  static const char* kNames[] = {"a", "b", "c", "a-", "a0"};
  std::string path;
  int depth = 1 + static_cast<int>(Uniform(3));
  for (int i = 0; i < depth; ++i) absl::StrAppend(&path, "/", kNames[Uniform(5)]);
  if (Chance(2)) path += "/";  // invalid
  return path;
}

std::string CommandGenerator::RandomData() {
  if (Chance(3)) return std::string(70, 'L');  // over the test limit
  return std::string(Uniform(6), static_cast<char>('p' + Uniform(4)));
}

std::string CommandGenerator::RandomSecret(uint64_t session) {
  // Sessions open with their index as secret (below); now and then a
  // wrong one, which must change nothing.
  return Chance(10) ? "wrong" : std::to_string(session);
}

uint64_t CommandGenerator::RandomSession(TreeStore* store) {
  // Mostly a live session; sometimes none, a closed one, or one never opened.
  if (Chance(85)) {
    auto live = store->ListSessions();
    if (live.ok() && !live->empty()) return (*live)[Uniform(live->size())].id;
  }
  if (sessions_.empty() || Chance(30)) return Chance(50) ? 0 : 777777;
  return sessions_[Uniform(sessions_.size())];
}

v1::Caller CommandGenerator::RandomCaller() {
  v1::Caller caller;
  const uint64_t who = Uniform(100);
  if (who < 40) return caller;  // anonymous
  if (who < 50) {
    caller.set_superuser(true);
    return caller;
  }
  v1::Identity* id = caller.add_ids();
  id->set_scheme("user");
  id->set_id(who < 75 ? "alice" : "bob");
  if (Chance(30)) {
    id = caller.add_ids();
    id->set_scheme("ip");
    id->set_id(Chance(50) ? "10.0.0.1" : "10.0.0.2");
  }
  return caller;
}

void CommandGenerator::RandomAcl(google::protobuf::RepeatedPtrField<v1::Acl>* out) {
  if (Chance(50)) return;  // open
  static const char* kSchemes[][2] = {
      {"user", "alice"}, {"user", "bob"}, {"world", "anyone"}, {"ip", "10.0.0.0/31"}, {"auth", ""}};
  const int n = 1 + static_cast<int>(Uniform(2));
  for (int i = 0; i < n; ++i) {
    v1::Acl* a = out->Add();
    const auto& scheme = kSchemes[Uniform(5)];
    a->set_scheme(scheme[0]);
    a->set_id(scheme[1]);
    a->set_perms(static_cast<uint32_t>(Chance(5) ? 0 : 1 + Uniform(31)));  // 0: INVALID_ACL
  }
}

v1::Op CommandGenerator::RandomOp(TreeStore* store) {
  (void)store;
  int64_t version = Chance(60) ? -1 : static_cast<int64_t>(Uniform(3));
  if (Chance(8)) {
    v1::Op op;
    op.mutable_set_acl()->set_path(RandomPath());
    RandomAcl(op.mutable_set_acl()->mutable_acl());
    op.mutable_set_acl()->set_expected_aversion(version);
    return op;
  }
  switch (Uniform(10)) {
    case 0:
    case 1:
    case 2:
    case 3: {
      static const v1::CreateMode kModes[] = {v1::PERSISTENT,
                                              v1::PERSISTENT,
                                              v1::EPHEMERAL,
                                              v1::PERSISTENT_SEQUENTIAL,
                                              v1::EPHEMERAL_SEQUENTIAL,
                                              v1::CONTAINER,
                                              v1::CONTAINER,
                                              v1::PERSISTENT_WITH_TTL,
                                              v1::PERSISTENT_SEQUENTIAL_WITH_TTL};
      v1::CreateMode mode = kModes[Uniform(9)];
      v1::Op op = CreateOp(RandomPath(), RandomData(), mode);
      bool ttl_mode = mode == v1::PERSISTENT_WITH_TTL || mode == v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
      if (ttl_mode != Chance(3)) op.mutable_create()->set_ttl_ms(1 + Uniform(300));
      RandomAcl(op.mutable_create()->mutable_acl());
      return op;
    }
    case 4:
    case 5:
    case 6:
      return SetOp(RandomPath(), RandomData(), version);
    case 7:
    case 8:
      return DeleteOp(RandomPath(), version);
    default:
      return CheckOp(RandomPath(), version);
  }
}

v1::Command CommandGenerator::Next(uint64_t next_index, TreeStore* store) {
  time_ms_ += static_cast<int64_t>(Uniform(50));
  last_index_ = next_index;
  v1::Command c;
  uint64_t kind = Uniform(100);
  if (kind < 55) {
    c.mutable_txn()->set_is_multi(false);
    *c.mutable_txn()->add_ops() = RandomOp(store);
  } else if (kind < 70) {
    c.mutable_txn()->set_is_multi(true);
    int n = static_cast<int>(Uniform(Chance(5) ? 12 : 5));
    for (int i = 0; i < n; ++i) *c.mutable_txn()->add_ops() = RandomOp(store);
  } else if (kind < 76) {
    c.mutable_open_session()->set_timeout_ms(Chance(5) ? 0 : 5000);
    c.mutable_open_session()->set_secret(std::to_string(next_index));
    sessions_.push_back(next_index);
  } else if (kind < 80) {
    c.mutable_close_session()->set_session_id(RandomSession(store));
  } else if (kind < 83) {
    c.mutable_expire_sessions()->add_session_ids(RandomSession(store));
    c.mutable_expire_sessions()->add_session_ids(RandomSession(store));
  } else if (kind < 90) {
    auto expired = store->FindExpired(time_ms_, 3);
    if (expired.ok()) {
      for (const std::string& p : *expired) c.mutable_delete_expired()->add_paths(p);
    }
    c.mutable_delete_expired()->add_paths(RandomPath());
  } else if (kind < 93) {
    uint64_t applied = store->meta().applied_index;
    c.mutable_compact_history()->set_revision(applied > 20 ? applied - Uniform(20) : 0);
  } else if (kind < 94) {
    c.mutable_digest_check()->set_revision(store->meta().applied_index);
    c.mutable_digest_check()->set_digest(store->meta().digest);
  } else if (kind < 96) {
    static const char* kUsers[] = {"alice", "bob", "root", "bad name"};
    const std::string name = kUsers[Uniform(4)];
    const uint64_t what = Uniform(9);
    if (what < 3) {
      v1::UserPutCommand* put = c.mutable_user_put();
      put->mutable_user()->set_name(name);
      put->mutable_user()->set_salt("s");
      put->mutable_user()->set_hash(std::to_string(Uniform(3)));
      put->mutable_user()->set_iterations(1);
      put->mutable_user()->set_superuser(name == "root" || Chance(20));
      put->set_create(what < 2);
      put->set_token_key("k" + std::to_string(next_index));
    } else if (what < 4) {
      c.mutable_user_delete()->set_name(name);
    } else if (what < 6) {
      c.mutable_auth_set()->set_enabled(Chance(60));
      c.mutable_auth_set()->set_token_key("t" + std::to_string(next_index));
    } else if (what < 8) {
      // Limits that random writes run into now and then, without
      // stopping the tree from growing (quotas on "/" are rare).
      v1::QuotaSetCommand* set = c.mutable_quota_set();
      set->set_path(Chance(5) ? "/" : RandomPath());
      set->set_max_nodes(Chance(30) ? 0 : 2 + static_cast<int64_t>(Uniform(30)));
      set->set_max_bytes(Chance(50) ? 0 : static_cast<int64_t>(Uniform(200)));
    } else {
      c.mutable_quota_delete()->set_path(RandomPath());
    }
  } else {
    // A retry-prone session write: sometimes repeats or goes back.
    uint64_t session = RandomSession(store);
    uint64_t r = Uniform(10);
    uint64_t seq =
        r < 6 ? ++sequence_ : (r < 9 ? sequence_ : sequence_ - std::min<uint64_t>(sequence_, 1));
    *c.mutable_txn()->add_ops() = RandomOp(store);
    SetSession(&c, session, RandomSecret(session));
    c.mutable_write()->set_sequence(seq);
  }
  if (c.has_txn() && !c.write().session_id() && Chance(25)) {
    const uint64_t session = RandomSession(store);
    SetSession(&c, session, RandomSecret(session));
  }
  if (c.has_txn() || c.has_open_session() || c.has_close_session() || c.has_user_put() ||
      c.has_user_delete() || c.has_auth_set() || c.has_quota_set() || c.has_quota_delete()) {
    *c.mutable_caller() = RandomCaller();
  }
  c.set_leader_time_ms(time_ms_);
  return c;
}

}  // namespace synod::storage::testing
