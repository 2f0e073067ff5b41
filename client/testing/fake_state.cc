#include "client/testing/fake_state.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace synod::client::testing {
namespace {

bool ValidPath(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > 4096) return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  for (absl::string_view c : absl::StrSplit(absl::string_view(p).substr(1), '/')) {
    if (c.empty() || c == "." || c == "..") return false;
    for (char ch : c) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return false;
    }
  }
  return true;
}

std::string ParentOf(const std::string& p) {
  const size_t pos = p.rfind('/');
  return pos == 0 ? "/" : p.substr(0, pos);
}

std::string NameOf(const std::string& p) { return p.substr(p.rfind('/') + 1); }

bool IsEphemeralMode(v1::CreateMode m) {
  return m == v1::EPHEMERAL || m == v1::EPHEMERAL_SEQUENTIAL;
}
bool IsSequentialMode(v1::CreateMode m) {
  return m == v1::PERSISTENT_SEQUENTIAL || m == v1::EPHEMERAL_SEQUENTIAL ||
         m == v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
}
bool IsTtlMode(v1::CreateMode m) {
  return m == v1::PERSISTENT_WITH_TTL || m == v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
}
bool IsOneShotKind(v1::WatchKind k) {
  return k == v1::WATCH_DATA || k == v1::WATCH_CHILDREN || k == v1::WATCH_EXISTS;
}

FakeState::Outcome Fail(v1::ErrorCode code, std::string message) {
  return FakeState::Outcome{code, std::move(message)};
}

v1::WatchEvent MakeEvent(v1::EventType type, const std::string& path, uint64_t rev,
                         const v1::Stat* stat) {
  v1::WatchEvent ev;
  ev.set_type(type);
  ev.set_path(path);
  ev.set_revision(rev);
  if (stat != nullptr) *ev.mutable_stat() = *stat;
  return ev;
}

}  // namespace

void WatchConn::Push(v1::WatchResponse resp) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(resp));
}

std::optional<v1::WatchResponse> WatchConn::Pop() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || closed_; };
  mu_.Await(absl::Condition(&ready));
  if (queue_.empty()) return std::nullopt;
  v1::WatchResponse r = std::move(queue_.front());
  queue_.pop_front();
  return r;
}

void WatchConn::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

FakeState::FakeState() {
  Node root;
  tree_.emplace("/", std::move(root));
}

uint64_t FakeState::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

FakeState::Outcome FakeState::ApplyOpLocked(Txn& txn, const v1::Op& op, uint64_t session,
                                            uint64_t rev, v1::OpResult* result) {
  const int64_t now = absl::ToUnixMillis(absl::Now());
  auto version_ok = [](const Node& n, bool has, int64_t expected) {
    return !has || expected == -1 || expected == n.stat.version();
  };
  switch (op.op_case()) {
    case v1::Op::kCreate: {
      const v1::CreateOp& c = op.create();
      std::string path = c.path();
      if (!ValidPath(path)) return Fail(v1::INVALID_PATH, path);
      if (IsTtlMode(c.mode()) != (c.ttl_ms() > 0)) {
        return Fail(v1::INVALID_ARGUMENT, "ttl_ms must be > 0 exactly for TTL modes");
      }
      if (IsEphemeralMode(c.mode())) {
        if (session == 0) return Fail(v1::EPHEMERAL_NEEDS_SESSION, path);
        if (!sessions_.contains(session)) return Fail(v1::SESSION_EXPIRED, "no such session");
      }
      if (path == "/") return Fail(v1::NODE_EXISTS, path);
      const std::string parent = ParentOf(path);
      auto pit = txn.tree.find(parent);
      if (pit == txn.tree.end()) return Fail(v1::NO_NODE, parent);
      if (pit->second.stat.ephemeral_owner() != 0) {
        return Fail(v1::NO_CHILDREN_FOR_EPHEMERALS, parent);
      }
      if (IsSequentialMode(c.mode())) {
        absl::StrAppend(&path, absl::StrFormat("%010d", pit->second.stat.cversion()));
      }
      if (txn.tree.contains(path)) return Fail(v1::NODE_EXISTS, path);
      Node n;
      n.data = c.data();
      n.stat.set_czxid(rev);
      n.stat.set_mzxid(rev);
      n.stat.set_pzxid(rev);
      n.stat.set_ctime(now);
      n.stat.set_mtime(now);
      n.stat.set_ephemeral_owner(IsEphemeralMode(c.mode()) ? session : 0);
      n.stat.set_data_length(static_cast<int64_t>(n.data.size()));
      Node& p = pit->second;
      p.children.insert(NameOf(path));
      p.stat.set_cversion(p.stat.cversion() + 1);
      p.stat.set_pzxid(rev);
      p.stat.set_num_children(static_cast<int64_t>(p.children.size()));
      txn.events.push_back(MakeEvent(v1::EVENT_NODE_CREATED, path, rev, &n.stat));
      txn.events.push_back(MakeEvent(v1::EVENT_NODE_CHILDREN_CHANGED, parent, rev, &p.stat));
      v1::NodeVersion v;
      v.set_data(n.data);
      *v.mutable_stat() = n.stat;
      txn.versions.emplace_back(path, std::move(v));
      result->set_path(path);
      *result->mutable_stat() = n.stat;
      txn.tree.emplace(path, std::move(n));
      return {};
    }
    case v1::Op::kSet: {
      const v1::SetOp& s = op.set();
      if (!ValidPath(s.path())) return Fail(v1::INVALID_PATH, s.path());
      auto it = txn.tree.find(s.path());
      if (it == txn.tree.end()) return Fail(v1::NO_NODE, s.path());
      Node& n = it->second;
      if (!version_ok(n, s.has_expected_version(), s.expected_version())) {
        return Fail(v1::BAD_VERSION,
                    absl::StrCat("expected ", s.expected_version(), ", found ", n.stat.version()));
      }
      n.data = s.data();
      n.stat.set_version(n.stat.version() + 1);
      n.stat.set_mzxid(rev);
      n.stat.set_mtime(now);
      n.stat.set_data_length(static_cast<int64_t>(n.data.size()));
      txn.events.push_back(MakeEvent(v1::EVENT_NODE_DATA_CHANGED, s.path(), rev, &n.stat));
      v1::NodeVersion v;
      v.set_data(n.data);
      *v.mutable_stat() = n.stat;
      txn.versions.emplace_back(s.path(), std::move(v));
      result->set_path(s.path());
      *result->mutable_stat() = n.stat;
      return {};
    }
    case v1::Op::kDelete: {
      const v1::DeleteOp& d = op.delete_();
      if (!ValidPath(d.path()) || d.path() == "/") return Fail(v1::INVALID_PATH, d.path());
      auto it = txn.tree.find(d.path());
      if (it == txn.tree.end()) return Fail(v1::NO_NODE, d.path());
      if (!version_ok(it->second, d.has_expected_version(), d.expected_version())) {
        return Fail(v1::BAD_VERSION, absl::StrCat("expected ", d.expected_version(), ", found ",
                                                  it->second.stat.version()));
      }
      if (!it->second.children.empty()) return Fail(v1::NOT_EMPTY, d.path());
      txn.tree.erase(it);
      const std::string parent = ParentOf(d.path());
      Node& p = txn.tree.at(parent);
      p.children.erase(NameOf(d.path()));
      p.stat.set_cversion(p.stat.cversion() + 1);
      p.stat.set_pzxid(rev);
      p.stat.set_num_children(static_cast<int64_t>(p.children.size()));
      txn.events.push_back(MakeEvent(v1::EVENT_NODE_DELETED, d.path(), rev, nullptr));
      txn.events.push_back(MakeEvent(v1::EVENT_NODE_CHILDREN_CHANGED, parent, rev, &p.stat));
      v1::NodeVersion v;
      v.set_deleted(true);
      v.set_deleted_revision(rev);
      txn.versions.emplace_back(d.path(), std::move(v));
      result->set_path(d.path());
      return {};
    }
    case v1::Op::kCheck: {
      const v1::CheckOp& c = op.check();
      if (!ValidPath(c.path())) return Fail(v1::INVALID_PATH, c.path());
      auto it = txn.tree.find(c.path());
      if (it == txn.tree.end()) return Fail(v1::NO_NODE, c.path());
      if (!version_ok(it->second, c.has_expected_version(), c.expected_version())) {
        return Fail(v1::BAD_VERSION, absl::StrCat("expected ", c.expected_version(), ", found ",
                                                  it->second.stat.version()));
      }
      result->set_path(c.path());
      *result->mutable_stat() = it->second.stat;
      return {};
    }
    default:
      return Fail(v1::INVALID_ARGUMENT, "empty op");
  }
}

void FakeState::CommitLocked(Txn& txn, uint64_t rev) {
  tree_ = std::move(txn.tree);
  revision_ = rev;
  ++applied_writes_;
  for (auto& [path, v] : txn.versions) history_[path].push_back(std::move(v));
  for (const v1::WatchEvent& ev : txn.events) events_.push_back(ev);
  PublishLocked(txn.events);
}

template <typename Resp>
FakeState::Outcome FakeState::ExactlyOnceLocked(const v1::WriteContext& w, Resp* resp,
                                                const std::function<Outcome(Resp*)>& apply) {
  if (w.session_id() == 0) return apply(resp);
  auto sit = sessions_.find(w.session_id());
  if (sit == sessions_.end()) return Fail(v1::SESSION_EXPIRED, "no such session");
  auto& results = sit->second.results;
  if (auto it = results.find(w.sequence()); it != results.end()) {
    resp->ParseFromString(it->second.second);
    return it->second.first;
  }
  Outcome out = apply(resp);
  results.emplace(w.sequence(), std::make_pair(out, resp->SerializeAsString()));
  return out;
}

FakeState::Outcome FakeState::Create(const v1::CreateRequest& req, v1::CreateResponse* resp) {
  absl::MutexLock lock(&mu_);
  return ExactlyOnceLocked<v1::CreateResponse>(
      req.write(), resp, [&](v1::CreateResponse* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        Txn txn{tree_, {}, {}};
        v1::Op op;
        *op.mutable_create() = req.op();
        v1::OpResult result;
        Outcome out = ApplyOpLocked(txn, op, req.write().session_id(), revision_ + 1, &result);
        if (out.code != v1::OK) return out;
        CommitLocked(txn, revision_ + 1);
        r->set_path(result.path());
        *r->mutable_stat() = result.stat();
        return out;
      });
}

FakeState::Outcome FakeState::Set(const v1::SetRequest& req, v1::SetResponse* resp) {
  absl::MutexLock lock(&mu_);
  return ExactlyOnceLocked<v1::SetResponse>(
      req.write(), resp, [&](v1::SetResponse* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        Txn txn{tree_, {}, {}};
        v1::Op op;
        *op.mutable_set() = req.op();
        v1::OpResult result;
        Outcome out = ApplyOpLocked(txn, op, req.write().session_id(), revision_ + 1, &result);
        if (out.code != v1::OK) return out;
        CommitLocked(txn, revision_ + 1);
        *r->mutable_stat() = result.stat();
        return out;
      });
}

FakeState::Outcome FakeState::Delete(const v1::DeleteRequest& req, v1::DeleteResponse* resp) {
  absl::MutexLock lock(&mu_);
  return ExactlyOnceLocked<v1::DeleteResponse>(
      req.write(), resp, [&](v1::DeleteResponse*) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        Txn txn{tree_, {}, {}};
        v1::Op op;
        *op.mutable_delete_() = req.op();
        v1::OpResult result;
        Outcome out = ApplyOpLocked(txn, op, req.write().session_id(), revision_ + 1, &result);
        if (out.code != v1::OK) return out;
        CommitLocked(txn, revision_ + 1);
        return out;
      });
}

FakeState::Outcome FakeState::Multi(const v1::MultiRequest& req, v1::MultiResponse* resp) {
  absl::MutexLock lock(&mu_);
  if (req.ops_size() > 1000) return Fail(v1::TOO_MANY_OPS, "more than 1000 ops");
  return ExactlyOnceLocked<v1::MultiResponse>(
      req.write(), resp, [&](v1::MultiResponse* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        Txn txn{tree_, {}, {}};
        const uint64_t rev = revision_ + 1;
        for (int i = 0; i < req.ops_size(); ++i) {
          v1::OpResult* result = r->add_results();
          Outcome out = ApplyOpLocked(txn, req.ops(i), req.write().session_id(), rev, result);
          if (out.code != v1::OK) {
            r->clear_results();
            for (int j = 0; j < req.ops_size(); ++j) {
              r->add_results()->set_code(j < i    ? v1::ROLLED_BACK
                                         : j == i ? out.code
                                                  : v1::RUNTIME_INCONSISTENCY);
            }
            return out;
          }
          result->set_code(v1::OK);
        }
        CommitLocked(txn, rev);
        return Outcome{};
      });
}

FakeState::Outcome FakeState::Get(const v1::GetRequest& req, v1::GetResponse* resp) {
  absl::MutexLock lock(&mu_);
  if (!ValidPath(req.path())) return Fail(v1::INVALID_PATH, req.path());
  if (req.read().min_revision() > revision_) return Fail(v1::UNAVAILABLE, "revision not applied");
  if (req.has_version() || req.revision() > 0) {
    if (req.revision() > 0 && req.revision() < compact_revision_) {
      return Fail(v1::COMPACTED, absl::StrCat("compacted up to ", compact_revision_));
    }
    auto hit = history_.find(req.path());
    if (hit == history_.end()) return Fail(v1::NO_NODE, req.path());
    const auto& versions = hit->second;
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (req.has_version()) {
        if (!it->deleted() && it->stat().version() == req.version()) {
          resp->set_data(it->data());
          *resp->mutable_stat() = it->stat();
          return {};
        }
        continue;
      }
      const uint64_t at = it->deleted() ? it->deleted_revision() : it->stat().mzxid();
      if (at > req.revision()) continue;
      if (it->deleted()) break;
      resp->set_data(it->data());
      *resp->mutable_stat() = it->stat();
      return {};
    }
    return Fail(v1::NO_NODE, req.path());
  }
  auto it = tree_.find(req.path());
  if (it == tree_.end()) return Fail(v1::NO_NODE, req.path());
  resp->set_data(it->second.data);
  *resp->mutable_stat() = it->second.stat;
  return {};
}

FakeState::Outcome FakeState::Exists(const v1::ExistsRequest& req, v1::ExistsResponse* resp) {
  absl::MutexLock lock(&mu_);
  if (!ValidPath(req.path())) return Fail(v1::INVALID_PATH, req.path());
  auto it = tree_.find(req.path());
  resp->set_exists(it != tree_.end());
  if (it != tree_.end()) *resp->mutable_stat() = it->second.stat;
  return {};
}

FakeState::Outcome FakeState::GetChildren(const v1::GetChildrenRequest& req, uint32_t max_page,
                                          v1::GetChildrenResponse* resp) {
  absl::MutexLock lock(&mu_);
  if (!ValidPath(req.path())) return Fail(v1::INVALID_PATH, req.path());
  auto it = tree_.find(req.path());
  if (it == tree_.end()) return Fail(v1::NO_NODE, req.path());
  const Node& n = it->second;
  const uint32_t limit = req.limit() == 0 ? max_page : std::min(req.limit(), max_page);
  auto c = req.page_token().empty() ? n.children.begin() : n.children.upper_bound(req.page_token());
  for (; c != n.children.end() && static_cast<uint32_t>(resp->children_size()) < limit; ++c) {
    resp->add_children(*c);
    if (req.include_stat()) {
      const std::string child = req.path() == "/" ? "/" + *c : req.path() + "/" + *c;
      *resp->add_child_stats() = tree_.at(child).stat;
    }
  }
  if (c != n.children.end()) resp->set_next_page_token(resp->children(resp->children_size() - 1));
  *resp->mutable_stat() = n.stat;
  return {};
}

FakeState::Outcome FakeState::History(const v1::HistoryRequest& req, v1::HistoryResponse* resp) {
  absl::MutexLock lock(&mu_);
  if (!ValidPath(req.path())) return Fail(v1::INVALID_PATH, req.path());
  auto hit = history_.find(req.path());
  if (hit == history_.end()) return Fail(v1::NO_NODE, req.path());
  for (auto it = hit->second.rbegin(); it != hit->second.rend(); ++it) {
    if (req.limit() > 0 && static_cast<uint32_t>(resp->versions_size()) >= req.limit()) break;
    *resp->add_versions() = *it;
  }
  resp->set_compact_revision(compact_revision_);
  return {};
}

void FakeState::Compact(uint64_t revision) {
  absl::MutexLock lock(&mu_);
  compact_revision_ = revision;
}

std::optional<std::string> FakeState::Data(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = tree_.find(path);
  if (it == tree_.end()) return std::nullopt;
  return it->second.data;
}

int FakeState::applied_writes() const {
  absl::MutexLock lock(&mu_);
  return applied_writes_;
}

uint64_t FakeState::Digest() const {
  absl::MutexLock lock(&mu_);
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for (const auto& [path, n] : tree_) {
    mix(path);
    mix(n.data);
    mix(absl::StrCat(n.stat.version()));
  }
  return h;
}

std::string FakeState::Dump() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [path, n] : tree_) absl::StrAppend(&out, path, "=", n.data, "\n");
  return out;
}

FakeState::Outcome FakeState::OpenSession(int64_t timeout_ms, v1::OpenSessionResponse* resp) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = ++next_session_;
  Session& s = sessions_[id];
  s.secret = absl::StrCat("secret-", id);
  s.timeout_ms = std::max<int64_t>(timeout_ms, 1);
  resp->set_session_id(id);
  resp->set_secret(s.secret);
  resp->set_timeout_ms(s.timeout_ms);
  return {};
}

FakeState::Outcome FakeState::KeepAlive(const v1::KeepAliveRequest& req, uint64_t member,
                                        v1::KeepAliveResponse* resp) {
  absl::MutexLock lock(&mu_);
  resp->set_session_id(req.session_id());
  auto it = sessions_.find(req.session_id());
  if (it == sessions_.end()) return Fail(v1::SESSION_EXPIRED, "no such session");
  if (it->second.secret != req.secret()) return Fail(v1::AUTH_FAILED, "wrong secret");
  it->second.keepalive_member = member;
  resp->set_timeout_ms(it->second.timeout_ms);
  return {};
}

FakeState::Outcome FakeState::CloseSession(const v1::CloseSessionRequest& req) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(req.session_id());
  if (it == sessions_.end()) return Fail(v1::SESSION_EXPIRED, "no such session");
  if (it->second.secret != req.secret()) return Fail(v1::AUTH_FAILED, "wrong secret");
  DeleteEphemeralsLocked(req.session_id());
  sessions_.erase(it);
  return {};
}

void FakeState::ExpireSession(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (!sessions_.contains(id)) return;
  DeleteEphemeralsLocked(id);
  sessions_.erase(id);
}

void FakeState::DeleteEphemeralsLocked(uint64_t session) {
  Txn txn{tree_, {}, {}};
  bool any = false;
  for (const auto& [path, n] : tree_) {
    if (n.stat.ephemeral_owner() != session) continue;
    v1::Op op;
    op.mutable_delete_()->set_path(path);
    v1::OpResult result;
    if (ApplyOpLocked(txn, op, 0, revision_ + 1, &result).code == v1::OK) any = true;
  }
  if (any) CommitLocked(txn, revision_ + 1);
}

std::vector<uint64_t> FakeState::Sessions() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> out;
  for (const auto& [id, s] : sessions_) out.push_back(id);
  return out;
}

uint64_t FakeState::KeepAliveMember(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? 0 : it->second.keepalive_member;
}

void FakeState::AddConn(std::shared_ptr<WatchConn> conn) {
  absl::MutexLock lock(&mu_);
  conns_.push_back(ConnState{std::move(conn), {}});
}

void FakeState::RemoveConn(const WatchConn* conn) {
  absl::MutexLock lock(&mu_);
  conns_.erase(std::remove_if(conns_.begin(), conns_.end(),
                              [conn](const ConnState& c) { return c.conn.get() == conn; }),
               conns_.end());
}

int FakeState::live_conns() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(conns_.size());
}

bool FakeState::Matches(const Registration& reg, const v1::WatchEvent& ev) {
  const bool same = ev.path() == reg.path;
  const v1::EventType t = ev.type();
  switch (reg.kind) {
    case v1::WATCH_DATA:
      return same && (t == v1::EVENT_NODE_DATA_CHANGED || t == v1::EVENT_NODE_DELETED);
    case v1::WATCH_EXISTS:
      return same && t != v1::EVENT_NODE_CHILDREN_CHANGED;
    case v1::WATCH_CHILDREN:
      return same && (t == v1::EVENT_NODE_CHILDREN_CHANGED || t == v1::EVENT_NODE_DELETED);
    case v1::WATCH_PERSISTENT:
      return same;
    case v1::WATCH_PERSISTENT_RECURSIVE: {
      const bool under = reg.path == "/" || same || absl::StartsWith(ev.path(), reg.path + "/");
      return under && t != v1::EVENT_NODE_CHILDREN_CHANGED;
    }
    default:
      return false;
  }
}

void FakeState::PublishLocked(const std::vector<v1::WatchEvent>& events) {
  if (events.empty()) return;
  for (ConnState& cs : conns_) {
    for (auto reg = cs.regs.begin(); reg != cs.regs.end();) {
      v1::WatchResponse resp;
      resp.mutable_header()->set_member_id(cs.conn->member());
      resp.mutable_header()->set_revision(revision_);
      resp.set_watch_id(reg->watch_id);
      for (const v1::WatchEvent& ev : events) {
        if (!Matches(*reg, ev)) continue;
        *resp.add_events() = ev;
        if (IsOneShotKind(reg->kind)) break;
      }
      if (resp.events_size() == 0) {
        ++reg;
        continue;
      }
      const bool one_shot = IsOneShotKind(reg->kind);
      if (one_shot) resp.set_canceled(true);
      cs.conn->Push(std::move(resp));
      reg = one_shot ? cs.regs.erase(reg) : reg + 1;
    }
  }
}

void FakeState::WatchRequest(const std::shared_ptr<WatchConn>& conn, const v1::WatchRequest& req,
                             v1::ResponseHeader header) {
  absl::MutexLock lock(&mu_);
  auto cs = std::find_if(conns_.begin(), conns_.end(),
                         [&](const ConnState& c) { return c.conn == conn; });
  if (cs == conns_.end()) return;
  header.set_revision(revision_);
  if (req.has_cancel()) {
    const uint64_t id = req.cancel().watch_id();
    std::erase_if(cs->regs, [id](const Registration& r) { return id == 0 || r.watch_id == id; });
    v1::WatchResponse resp;
    *resp.mutable_header() = header;
    resp.set_watch_id(id);
    resp.set_canceled(true);
    conn->Push(std::move(resp));
    return;
  }
  const v1::WatchCreateRequest& c = req.create();
  v1::WatchResponse resp;
  *resp.mutable_header() = header;
  resp.set_watch_id(c.watch_id());
  if (!ValidPath(c.path())) {
    resp.set_canceled(true);
    resp.set_cancel_code(v1::INVALID_PATH);
    resp.set_cancel_reason(c.path());
    conn->Push(std::move(resp));
    return;
  }
  if (c.start_revision() > 0 && c.start_revision() < compact_revision_) {
    resp.set_canceled(true);
    resp.set_cancel_code(v1::COMPACTED);
    resp.set_cancel_reason(absl::StrCat("compacted up to ", compact_revision_));
    conn->Push(std::move(resp));
    return;
  }
  resp.set_created(true);
  conn->Push(std::move(resp));
  Registration reg{c.watch_id(), c.path(), c.kind()};
  if (c.start_revision() > 0) {
    // Replay from the event log, one response per revision.
    v1::WatchResponse batch;
    auto flush = [&](bool canceled) {
      if (batch.events_size() == 0) return;
      *batch.mutable_header() = header;
      batch.set_watch_id(c.watch_id());
      batch.set_canceled(canceled);
      conn->Push(std::move(batch));
      batch.Clear();
    };
    for (const v1::WatchEvent& ev : events_) {
      if (ev.revision() <= c.start_revision() || !Matches(reg, ev)) continue;
      if (batch.events_size() > 0 && batch.events(0).revision() != ev.revision()) flush(false);
      *batch.add_events() = ev;
      if (IsOneShotKind(reg.kind)) {
        flush(true);
        return;
      }
    }
    flush(false);
  }
  cs->regs.push_back(std::move(reg));
}

void FakeState::OverflowWatches(uint64_t member) {
  absl::MutexLock lock(&mu_);
  for (ConnState& cs : conns_) {
    if (cs.conn->member() != member) continue;
    for (const Registration& reg : cs.regs) {
      v1::WatchResponse resp;
      resp.mutable_header()->set_member_id(member);
      resp.mutable_header()->set_revision(revision_);
      resp.set_watch_id(reg.watch_id);
      resp.set_canceled(true);
      resp.set_cancel_code(v1::WATCH_OVERFLOW);
      resp.set_cancel_reason("consumer too slow");
      cs.conn->Push(std::move(resp));
    }
    cs.regs.clear();
  }
}

}  // namespace synod::client::testing
