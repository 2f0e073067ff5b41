// ZkConnection: each ZooKeeper request as a call on the replica's request
// paths, and its reply as ZooKeeper encodes it.
#include "absl/strings/match.h"
#include "server/zk/zk_connection.h"
#include "server/zk/zk_convert.h"
#include "server/zk/zk_error_mapping.h"
#include "server/zk/zk_system_nodes.h"
#include "storage/acl.h"

namespace synod::zk {
namespace {

bool IsTtlMode(int32_t flags) {
  return flags == v1::PERSISTENT_WITH_TTL || flags == v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
}

bool IsCreate(int32_t type) {
  return type == kOpCreate || type == kOpCreate2 || type == kOpCreateContainer ||
         type == kOpCreateTtl;
}

// ZooKeeper's checks of a create before it runs, in its order: the mode
// against the opcode (BADARGUMENTS), then an ACL list that is empty
// (INVALIDACL; Synod's empty list would mean world:anyone). kZOk if none
// fails; the ACL entries themselves are checked by apply.
int32_t CheckCreate(int32_t type, const CreateRequest& c) {
  bool mode_ok = false;
  if (c.flags < 0 || c.flags > kMaxCreateFlags) {
    mode_ok = false;
  } else if (type == kOpCreateContainer) {
    mode_ok = c.flags == v1::CONTAINER;
  } else if (type == kOpCreateTtl) {
    mode_ok = IsTtlMode(c.flags) && c.ttl > 0;
  } else {
    mode_ok = !IsTtlMode(c.flags);
  }
  if (!mode_ok) return kZBadArguments;
  if (c.acl.empty()) return kZInvalidAcl;
  return kZOk;
}

void ToCreateOp(const CreateRequest& c, v1::CreateOp* op) {
  op->set_path(c.path);
  op->set_data(c.data);
  op->set_null_data(c.null_data);
  op->set_mode(static_cast<v1::CreateMode>(c.flags));
  op->set_ttl_ms(c.ttl);
  ToV1Acl(c.acl, op->mutable_acl());
}

// The body of a successful create of opcode `type`.
void EncodeCreated(JuteWriter& w, int32_t type, const std::string& path, const v1::Stat& stat) {
  w.WriteString(path);
  if (type != kOpCreate) Encode(w, ToZkStat(stat));
}

}  // namespace

void ZkConnection::OnRequest(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  auto self = shared_from_this();
  const int32_t xid = h.xid;
  absl::Status decoded = absl::OkStatus();
  switch (h.type) {
    case kOpPing:
      Reply(slot, h.xid, AppliedRevision(), kZOk);
      return;
    case kOpCreate:
    case kOpCreate2:
    case kOpCreateContainer:
    case kOpCreateTtl:
      decoded = OnCreate(h, r, slot);
      break;
    case kOpDelete: {
      PathVersionRequest d;
      if ((decoded = Decode(r, &d)).ok() && (decoded = r.ExpectEnd()).ok()) {
        v1::PipelineCall call;
        v1::DeleteRequest* del = call.mutable_delete_();
        del->mutable_op()->set_path(d.path);
        del->mutable_op()->set_expected_version(FromZkVersion(d.version));
        *del->mutable_write() = SessionWrite();
        CallTree(std::move(call), [self, slot, xid](const v1::PipelineReply& reply) {
          const v1::ResponseHeader& hd = reply.delete_().header();
          if (ZkDropsConnection(hd.code())) return self->Drop(slot);
          self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()));
        });
      }
      break;
    }
    case kOpExists:
    case kOpGetData: {
      PathWatchRequest g;
      if ((decoded = Decode(r, &g)).ok() && (decoded = r.ExpectEnd()).ok()) {
        v1::PipelineCall call;
        const bool exists = h.type == kOpExists;
        if (exists) {
          call.mutable_exists()->set_path(g.path);
          *call.mutable_exists()->mutable_read() = ReadAfterSeen();
        } else {
          call.mutable_get()->set_path(g.path);
          *call.mutable_get()->mutable_read() = ReadAfterSeen();
        }
        CallTree(std::move(call), [self, slot, xid, exists, g](const v1::PipelineReply& reply) {
          const v1::ResponseHeader& hd = exists ? reply.exists().header() : reply.get().header();
          if (ZkDropsConnection(hd.code())) return self->Drop(slot);
          JuteWriter w;
          int32_t err = ToZkError(hd.code());
          if (exists) {
            if (err == kZOk && !reply.exists().exists()) err = kZNoNode;
            if (g.watch && (err == kZOk || err == kZNoNode)) {
              // ZooKeeper: a data watch on a node that exists, else an
              // exists watch for its creation.
              self->AddWatch(err == kZOk ? v1::WATCH_DATA : v1::WATCH_EXISTS, g.path,
                             hd.revision());
            }
            if (err == kZOk) Encode(w, ToZkStat(reply.exists().stat()));
          } else {
            if (g.watch && err == kZOk) self->AddWatch(v1::WATCH_DATA, g.path, hd.revision());
            if (err == kZOk) {
              if (reply.get().null_data()) {
                w.WriteNullBuffer();
              } else {
                w.WriteBuffer(reply.get().data());
              }
              Encode(w, ToZkStat(reply.get().stat()));
            }
          }
          self->Reply(slot, xid, hd.revision(), err, w.bytes());
        });
      }
      break;
    }
    case kOpSetData: {
      SetDataRequest s;
      if ((decoded = Decode(r, &s)).ok() && (decoded = r.ExpectEnd()).ok()) {
        v1::PipelineCall call;
        v1::SetOp* op = call.mutable_set()->mutable_op();
        op->set_path(s.path);
        op->set_data(s.data);
        op->set_null_data(s.null_data);
        op->set_expected_version(FromZkVersion(s.version));
        *call.mutable_set()->mutable_write() = SessionWrite();
        CallTree(std::move(call), [self, slot, xid](const v1::PipelineReply& reply) {
          const v1::ResponseHeader& hd = reply.set().header();
          if (ZkDropsConnection(hd.code())) return self->Drop(slot);
          JuteWriter w;
          if (hd.code() == v1::OK) Encode(w, ToZkStat(reply.set().stat()));
          self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()), w.bytes());
        });
      }
      break;
    }
    case kOpGetChildren:
    case kOpGetChildren2:
      decoded = OnGetChildren(h, r, slot);
      break;
    case kOpSync: {
      PathRequest p;
      if ((decoded = Decode(r, &p)).ok() && (decoded = r.ExpectEnd()).ok()) {
        v1::PipelineCall call;
        call.mutable_sync()->set_path(p.path);
        CallTree(std::move(call), [self, slot, xid, p](const v1::PipelineReply& reply) {
          const v1::ResponseHeader& hd = reply.sync().header();
          if (ZkDropsConnection(hd.code())) return self->Drop(slot);
          JuteWriter w;
          if (hd.code() == v1::OK) w.WriteString(p.path);
          self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()), w.bytes());
        });
      }
      break;
    }
    case kOpCheck:
    case kOpMulti:
      decoded = OnMulti(h, r, slot);
      break;
    case kOpGetEphemerals:
    case kOpGetAllChildrenNumber: {
      PathRequest p;
      if ((decoded = Decode(r, &p)).ok() && (decoded = r.ExpectEnd()).ok()) {
        const bool ephemerals = h.type == kOpGetEphemerals;
        AfterSeen(slot, xid, [self, h, p, slot, ephemerals] {
          if (ephemerals) {
            self->OnGetEphemerals(h, p.path, slot);
          } else {
            self->OnGetAllChildrenNumber(h, p.path, slot);
          }
        });
      }
      break;
    }
    case kOpSetWatches:
    case kOpSetWatches2:
      decoded = OnSetWatches(h, r, slot);
      break;
    case kOpAddWatch:
      decoded = OnAddWatch(h, r, slot);
      break;
    case kOpCheckWatches:
    case kOpRemoveWatches:
      decoded = OnCheckOrRemoveWatches(h, r, slot);
      break;
    case kOpCloseSession: {
      const uint64_t id = session_id();
      context_->sessions->ProposeClose(
          id, *caller(), [self, slot, xid](v1::ErrorCode code, std::string /*message*/) {
            // Closed now, or already gone: either way the session has
            // ended, which is what the client asked.
            if (ZkDropsConnection(code)) return self->Drop(slot);
            JuteWriter w;
            Encode(w, ReplyHeader{xid, static_cast<int64_t>(self->AppliedRevision()), kZOk});
            self->Fill(slot, w.Take(), /*close_after=*/true);
          });
      return;
    }
    case kOpAuth:
      decoded = OnAuth(h, r, slot);
      break;
    case kOpSasl:
      decoded = OnSasl(h, r, slot);
      break;
    case kOpWhoAmI:
      decoded = OnWhoAmI(h, r, slot);
      break;
    case kOpGetAcl:
      decoded = OnGetAcl(h, r, slot);
      break;
    case kOpSetAcl:
      decoded = OnSetAcl(h, r, slot);
      break;
    case kOpMultiRead:
      decoded = OnMultiRead(h, r, slot);
      break;
    case kOpReconfig:
      // ZooKeeper's answer with reconfigEnabled=false, its default: Synod
      // changes membership through its own Cluster API.
      Reply(slot, h.xid, AppliedRevision(), kZReconfigDisabled);
      return;
    default:
      // deleteContainer (20: a server-internal request) and unknown types.
      Reply(slot, h.xid, AppliedRevision(), kZUnimplemented);
      return;
  }
  // A request that does not decode: ZooKeeper closes the connection.
  if (!decoded.ok()) Drop(slot);
}

absl::Status ZkConnection::OnCreate(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  CreateRequest c;
  if (absl::Status s = Decode(r, &c, h.type == kOpCreateTtl); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  if (const int32_t err = CheckCreate(h.type, c); err != kZOk) {
    Reply(slot, h.xid, AppliedRevision(), err);
    return absl::OkStatus();
  }
  v1::PipelineCall call;
  ToCreateOp(c, call.mutable_create()->mutable_op());
  *call.mutable_create()->mutable_write() = SessionWrite();
  auto self = shared_from_this();
  const int32_t xid = h.xid;
  const int32_t type = h.type;
  CallTree(std::move(call), [self, slot, xid, type](const v1::PipelineReply& reply) {
    const v1::ResponseHeader& hd = reply.create().header();
    if (ZkDropsConnection(hd.code())) return self->Drop(slot);
    JuteWriter w;
    if (hd.code() == v1::OK) EncodeCreated(w, type, reply.create().path(), reply.create().stat());
    self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()), w.bytes());
  });
  return absl::OkStatus();
}

absl::Status ZkConnection::OnMulti(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  v1::PipelineCall call;
  v1::MultiRequest* multi = call.mutable_multi();
  *multi->mutable_write() = SessionWrite();
  std::vector<int32_t> types;
  // The first op that ZooKeeper would refuse before running any
  // (BADARGUMENTS, INVALIDACL), if one, and why.
  int bad = -1;
  int32_t bad_err = kZOk;
  auto add = [&](int32_t type) -> absl::Status {
    types.push_back(type);
    v1::Op* op = multi->add_ops();
    if (IsCreate(type)) {
      CreateRequest c;
      if (absl::Status s = Decode(r, &c, type == kOpCreateTtl); !s.ok()) return s;
      if (const int32_t err = CheckCreate(type, c); err != kZOk && bad < 0) {
        bad = static_cast<int>(types.size()) - 1;
        bad_err = err;
      }
      ToCreateOp(c, op->mutable_create());
    } else if (type == kOpDelete || type == kOpCheck) {
      PathVersionRequest d;
      if (absl::Status s = Decode(r, &d); !s.ok()) return s;
      v1::DeleteOp* del = type == kOpDelete ? op->mutable_delete_() : nullptr;
      if (del != nullptr) {
        del->set_path(d.path);
        del->set_expected_version(FromZkVersion(d.version));
      } else {
        op->mutable_check()->set_path(d.path);
        op->mutable_check()->set_expected_version(FromZkVersion(d.version));
      }
    } else if (type == kOpSetData) {
      SetDataRequest s;
      if (absl::Status st = Decode(r, &s); !st.ok()) return st;
      op->mutable_set()->set_path(s.path);
      op->mutable_set()->set_data(s.data);
      op->mutable_set()->set_null_data(s.null_data);
      op->mutable_set()->set_expected_version(FromZkVersion(s.version));
    } else {
      return MakeJuteError(JuteError::kBadLength, "multi: op type not allowed in a multi");
    }
    return absl::OkStatus();
  };
  if (h.type == kOpCheck) {
    if (absl::Status s = add(kOpCheck); !s.ok()) return s;
  } else {
    for (;;) {
      MultiHeader mh;
      if (absl::Status s = Decode(r, &mh); !s.ok()) return s;
      if (mh.done) break;
      if (absl::Status s = add(mh.type); !s.ok()) return s;
    }
  }
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;

  const int32_t xid = h.xid;
  const int32_t type = h.type;
  // Per-op results as ZooKeeper encodes them; codes[i] set means op i
  // failed or was rolled back.
  auto encode = [types](const std::vector<int32_t>* codes, const v1::MultiResponse* ok) {
    JuteWriter w;
    for (size_t i = 0; i < types.size(); ++i) {
      if (codes != nullptr) {
        Encode(w, MultiHeader{kOpError, false, (*codes)[i]});
        w.WriteInt((*codes)[i]);
        continue;
      }
      const v1::OpResult& res = ok->results(static_cast<int>(i));
      Encode(w, MultiHeader{types[i], false, kZOk});
      if (IsCreate(types[i])) {
        EncodeCreated(w, types[i], res.path(), res.stat());
      } else if (types[i] == kOpSetData) {
        Encode(w, ToZkStat(res.stat()));
      }
    }
    Encode(w, MultiHeader{-1, true, -1});
    return w.Take();
  };
  if (bad >= 0 || types.empty()) {
    if (type == kOpCheck) {
      Reply(slot, xid, AppliedRevision(), kZBadArguments);
      return absl::OkStatus();
    }
    std::vector<int32_t> codes(types.size(), kZRuntimeInconsistency);
    for (int i = 0; i < bad; ++i) codes[static_cast<size_t>(i)] = kZOk;
    if (bad >= 0) codes[static_cast<size_t>(bad)] = bad_err;
    Reply(slot, xid, AppliedRevision(), kZOk, encode(types.empty() ? nullptr : &codes, nullptr));
    return absl::OkStatus();
  }
  auto self = shared_from_this();
  CallTree(std::move(call),
           [self, slot, xid, type, encode, n = types.size()](const v1::PipelineReply& reply) {
             const v1::MultiResponse& m = reply.multi();
             const v1::ResponseHeader& hd = m.header();
             if (ZkDropsConnection(hd.code())) return self->Drop(slot);
             if (type == kOpCheck) {
               const v1::ErrorCode code = m.results_size() == 1 ? m.results(0).code() : hd.code();
               return self->Reply(slot, xid, hd.revision(), ToZkError(code));
             }
             if (hd.code() == v1::OK && static_cast<size_t>(m.results_size()) == n) {
               return self->Reply(slot, xid, hd.revision(), kZOk, encode(nullptr, &m));
             }
             if (static_cast<size_t>(m.results_size()) != n) {
               // Refused as a whole before any op ran (too many ops, bad path).
               return self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()));
             }
             std::vector<int32_t> codes;
             for (const v1::OpResult& res : m.results()) codes.push_back(ToZkError(res.code()));
             self->Reply(slot, xid, hd.revision(), kZOk, encode(&codes, nullptr));
           });
  return absl::OkStatus();
}

absl::Status ZkConnection::OnGetChildren(const RequestHeader& h, JuteReader& r,
                                         const SlotPtr& slot) {
  PathWatchRequest g;
  if (absl::Status s = Decode(r, &g); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  auto self = shared_from_this();
  auto names = std::make_shared<std::vector<std::string>>();
  const int32_t xid = h.xid;
  const bool with_stat = h.type == kOpGetChildren2;
  ReadChildren(g.path, "", 0, names,
               [self, slot, xid, with_stat, g, names](const v1::ResponseHeader& hd,
                                                      const v1::Stat& stat) {
                 if (ZkDropsConnection(hd.code())) return self->Drop(slot);
                 if (hd.code() != v1::OK) {
                   return self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()));
                 }
                 if (g.watch) self->AddWatch(v1::WATCH_CHILDREN, g.path, hd.revision());
                 JuteWriter w;
                 w.WriteStringVector(*names);
                 if (with_stat) Encode(w, ToZkStat(stat));
                 self->Reply(slot, xid, hd.revision(), kZOk, w.bytes());
               });
  return absl::OkStatus();
}

void ZkConnection::ReadChildren(std::string path, std::string token, uint64_t min_revision,
                                std::shared_ptr<std::vector<std::string>> names,
                                ChildrenDone done) {
  v1::PipelineCall call;
  v1::GetChildrenRequest* get = call.mutable_get_children();
  get->set_path(path);
  get->set_page_token(token);
  *get->mutable_read() = ReadAfterSeen();
  if (get->read().min_revision() < min_revision) {
    get->mutable_read()->set_min_revision(min_revision);
  }
  auto self = shared_from_this();
  CallTree(std::move(call), [self, path, names, done](const v1::PipelineReply& reply) mutable {
    const v1::GetChildrenResponse& res = reply.get_children();
    const v1::ResponseHeader& hd = res.header();
    if (hd.code() != v1::OK) return done(hd, res.stat());
    names->insert(names->end(), res.children().begin(), res.children().end());
    if (!res.next_page_token().empty()) {
      // The next page reads at least this page's revision.
      return self->ReadChildren(path, res.next_page_token(), hd.revision(), names,
                                std::move(done));
    }
    done(hd, res.stat());
  });
}

absl::Status ZkConnection::OnSetWatches(const RequestHeader& h, JuteReader& r,
                                        const SlotPtr& slot) {
  SetWatchesRequest s;
  if (absl::Status st = Decode(r, &s, h.type == kOpSetWatches2); !st.ok()) return st;
  if (absl::Status st = r.ExpectEnd(); !st.ok()) return st;
  // From the client's last zxid: the hub replays what it missed from
  // history, so a change while it was away fires its watch at once.
  const uint64_t from = static_cast<uint64_t>(std::max<int64_t>(0, s.relative_zxid));
  for (const std::string& p : s.data_watches) AddWatch(v1::WATCH_DATA, p, from);
  for (const std::string& p : s.exist_watches) AddWatch(v1::WATCH_EXISTS, p, from);
  for (const std::string& p : s.child_watches) AddWatch(v1::WATCH_CHILDREN, p, from);
  for (const std::string& p : s.persistent_watches) AddWatch(v1::WATCH_PERSISTENT, p, from);
  for (const std::string& p : s.persistent_recursive_watches) {
    AddWatch(v1::WATCH_PERSISTENT_RECURSIVE, p, from);
  }
  Reply(slot, h.xid, AppliedRevision(), kZOk);
  return absl::OkStatus();
}

void ZkConnection::AfterSeen(const SlotPtr& slot, int32_t xid, absl::AnyInvocable<void()> read) {
  // The wait is the one every Tree read makes (ReadAfterSeen): an exists of
  // "/", which needs no permission and always finds its node. Once it is
  // answered the replica applied at least what this connection saw, so a
  // store view taken then is not older.
  v1::PipelineCall call;
  call.mutable_exists()->set_path("/");
  *call.mutable_exists()->mutable_read() = ReadAfterSeen();
  auto self = shared_from_this();
  CallTree(std::move(call),
           [self, slot, xid, read = std::move(read)](const v1::PipelineReply& reply) mutable {
             const v1::ResponseHeader& hd = reply.exists().header();
             if (ZkDropsConnection(hd.code())) return self->Drop(slot);
             if (hd.code() != v1::OK) {
               return self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()));
             }
             read();
           });
}

void ZkConnection::OnGetEphemerals(const RequestHeader& h, const std::string& prefix,
                                   const SlotPtr& slot) {
  absl::StatusOr<std::unique_ptr<storage::StateView>> view = context_->store->NewView();
  std::vector<std::string> paths;
  if (!view.ok() || !(*view)->ListEphemerals(session_id(), &paths).ok()) {
    return Reply(slot, h.xid, AppliedRevision(), kZSystemError);
  }
  const uint64_t revision = (*view)->meta().applied_index;
  std::vector<std::string> matched;
  for (std::string& p : paths) {
    if (prefix.empty() || prefix == "/" || absl::StartsWith(p, prefix)) {
      matched.push_back(std::move(p));
    }
  }
  JuteWriter w;
  w.WriteStringVector(matched);
  Reply(slot, h.xid, revision, kZOk, w.bytes());
}

void ZkConnection::OnGetAllChildrenNumber(const RequestHeader& h, const std::string& path,
                                          const SlotPtr& slot) {
  if (IsSystemPath(path)) {
    // ZooKeeper's own nodes (zk_system_nodes.h): the store does not hold them.
    const bool found = IsSystemNode(path);
    JuteWriter w;
    if (found) w.WriteInt(static_cast<int32_t>(SystemDescendants(path)));
    return Reply(slot, h.xid, AppliedRevision(), found ? kZOk : kZNoNode, w.bytes());
  }
  absl::StatusOr<std::unique_ptr<storage::StateView>> view = context_->store->NewView();
  if (!view.ok()) return Reply(slot, h.xid, AppliedRevision(), kZSystemError);
  const uint64_t revision = (*view)->meta().applied_index;
  absl::StatusOr<std::optional<storage::Node>> node = (*view)->GetNode(path);
  if (!node.ok()) return Reply(slot, h.xid, revision, kZSystemError);
  if (!node->has_value()) return Reply(slot, h.xid, revision, kZNoNode);
  // ZooKeeper needs READ on the node (not on the nodes below it).
  if (!storage::Permits((*node)->acl, storage::kPermRead, *caller())) {
    return Reply(slot, h.xid, revision, kZNoAuth);
  }
  // Depth first over the subtree; the count excludes the node itself.
  int64_t count = 0;
  std::vector<std::string> stack = {path};
  while (!stack.empty()) {
    std::string parent = std::move(stack.back());
    stack.pop_back();
    std::vector<storage::ChildEntry> children;
    if (!(*view)->ListChildren(parent, "", 0, &children).ok()) {
      return Reply(slot, h.xid, revision, kZSystemError);
    }
    for (const storage::ChildEntry& c : children) {
      ++count;
      if (c.node.stat.num_children > 0) {
        stack.push_back(parent == "/" ? "/" + c.name : parent + "/" + c.name);
      }
    }
  }
  // ZooKeeper counts its own nodes under "/" too.
  if (path == "/") count += SystemDescendants(path);
  JuteWriter w;
  w.WriteInt(static_cast<int32_t>(count));
  Reply(slot, h.xid, revision, kZOk, w.bytes());
}

}  // namespace synod::zk
