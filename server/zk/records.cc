#include "server/zk/records.h"

#include "base/status_macros.h"

namespace synod::zk {

absl::Status Decode(JuteReader& r, ConnectRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->protocol_version));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->last_zxid_seen));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->timeout_ms));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->session_id));
  SYNOD_RETURN_IF_ERROR(r.ReadBuffer(&out->password));
  out->has_read_only = r.remaining() > 0;
  if (out->has_read_only) SYNOD_RETURN_IF_ERROR(r.ReadBool(&out->read_only));
  return absl::OkStatus();
}

absl::Status Decode(JuteReader& r, ConnectResponse* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->protocol_version));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->timeout_ms));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->session_id));
  SYNOD_RETURN_IF_ERROR(r.ReadBuffer(&out->password));
  out->read_only = false;
  if (r.remaining() > 0) SYNOD_RETURN_IF_ERROR(r.ReadBool(&out->read_only));
  return absl::OkStatus();
}

absl::Status Decode(JuteReader& r, RequestHeader* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->xid));
  return r.ReadInt(&out->type);
}

absl::Status Decode(JuteReader& r, ReplyHeader* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->xid));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->zxid));
  return r.ReadInt(&out->err);
}

absl::Status Decode(JuteReader& r, Stat* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->czxid));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->mzxid));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->ctime));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->mtime));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->version));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->cversion));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->aversion));
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->ephemeral_owner));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->data_length));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->num_children));
  return r.ReadLong(&out->pzxid);
}

absl::Status Decode(JuteReader& r, Acl* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->perms));
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->scheme));
  return r.ReadString(&out->id);
}

absl::Status Decode(JuteReader& r, std::vector<Acl>* out) {
  int32_t n = 0;
  // An ACL is at least perms + two lengths.
  SYNOD_RETURN_IF_ERROR(r.ReadCount(&n, 12));
  out->assign(static_cast<size_t>(n), Acl{});
  for (Acl& acl : *out) SYNOD_RETURN_IF_ERROR(Decode(r, &acl));
  return absl::OkStatus();
}

absl::Status Decode(JuteReader& r, AuthPacket* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->type));
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->scheme));
  return r.ReadBuffer(&out->auth);
}

absl::Status Decode(JuteReader& r, GetAclResponse* out) {
  SYNOD_RETURN_IF_ERROR(Decode(r, &out->acl));
  return Decode(r, &out->stat);
}

absl::Status Decode(JuteReader& r, SetAclRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  SYNOD_RETURN_IF_ERROR(Decode(r, &out->acl));
  return r.ReadInt(&out->version);
}

absl::Status Decode(JuteReader& r, ClientInfo* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->auth_scheme));
  return r.ReadString(&out->user);
}

absl::Status Decode(JuteReader& r, WhoAmIResponse* out) {
  int32_t n = 0;
  // Two string lengths at least.
  SYNOD_RETURN_IF_ERROR(r.ReadCount(&n, 8));
  out->client_info.assign(static_cast<size_t>(n), ClientInfo{});
  for (ClientInfo& info : out->client_info) SYNOD_RETURN_IF_ERROR(Decode(r, &info));
  return absl::OkStatus();
}

absl::Status Decode(JuteReader& r, SaslToken* out) {
  return r.ReadBuffer(&out->token, &out->is_null);
}

absl::Status Decode(JuteReader& r, CreateRequest* out, bool with_ttl) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  SYNOD_RETURN_IF_ERROR(r.ReadBuffer(&out->data, &out->null_data));
  SYNOD_RETURN_IF_ERROR(Decode(r, &out->acl));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->flags));
  out->ttl = 0;
  if (with_ttl) SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->ttl));
  return absl::OkStatus();
}

absl::Status Decode(JuteReader& r, PathWatchRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  return r.ReadBool(&out->watch);
}

absl::Status Decode(JuteReader& r, PathVersionRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  return r.ReadInt(&out->version);
}

absl::Status Decode(JuteReader& r, SetDataRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  SYNOD_RETURN_IF_ERROR(r.ReadBuffer(&out->data, &out->null_data));
  return r.ReadInt(&out->version);
}

absl::Status Decode(JuteReader& r, PathRequest* out) { return r.ReadString(&out->path); }

absl::Status Decode(JuteReader& r, MultiHeader* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->type));
  SYNOD_RETURN_IF_ERROR(r.ReadBool(&out->done));
  return r.ReadInt(&out->err);
}

absl::Status Decode(JuteReader& r, SetWatchesRequest* out, bool v2) {
  SYNOD_RETURN_IF_ERROR(r.ReadLong(&out->relative_zxid));
  SYNOD_RETURN_IF_ERROR(r.ReadStringVector(&out->data_watches));
  SYNOD_RETURN_IF_ERROR(r.ReadStringVector(&out->exist_watches));
  SYNOD_RETURN_IF_ERROR(r.ReadStringVector(&out->child_watches));
  out->persistent_watches.clear();
  out->persistent_recursive_watches.clear();
  if (!v2) return absl::OkStatus();
  SYNOD_RETURN_IF_ERROR(r.ReadStringVector(&out->persistent_watches));
  return r.ReadStringVector(&out->persistent_recursive_watches);
}

absl::Status Decode(JuteReader& r, AddWatchRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  return r.ReadInt(&out->mode);
}

absl::Status Decode(JuteReader& r, WatchesRequest* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadString(&out->path));
  return r.ReadInt(&out->type);
}

absl::Status Decode(JuteReader& r, WatcherEvent* out) {
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->type));
  SYNOD_RETURN_IF_ERROR(r.ReadInt(&out->state));
  return r.ReadString(&out->path);
}

absl::Status Decode(JuteReader& r, MultiReadRequest* out) {
  out->ops.clear();
  for (;;) {
    MultiHeader h;
    SYNOD_RETURN_IF_ERROR(Decode(r, &h));
    if (h.done) return absl::OkStatus();
    if (h.type != kOpGetData && h.type != kOpGetChildren) {
      return MakeJuteError(JuteError::kBadLength, "multiRead: an op that is not a read");
    }
    PathWatchRequest op;
    SYNOD_RETURN_IF_ERROR(Decode(r, &op));
    out->ops.push_back(ReadOp{h.type, std::move(op.path)});
  }
}

absl::Status Decode(JuteReader& r, MultiReadResponse* out) {
  out->results.clear();
  for (;;) {
    MultiHeader h;
    SYNOD_RETURN_IF_ERROR(Decode(r, &h));
    if (h.done) return absl::OkStatus();
    ReadOpResult res;
    res.type = h.type;
    if (h.type == kOpGetData) {
      SYNOD_RETURN_IF_ERROR(r.ReadBuffer(&res.data, &res.null_data));
      SYNOD_RETURN_IF_ERROR(Decode(r, &res.stat));
    } else if (h.type == kOpGetChildren) {
      SYNOD_RETURN_IF_ERROR(r.ReadStringVector(&res.children));
    } else if (h.type == kOpError) {
      SYNOD_RETURN_IF_ERROR(r.ReadInt(&res.err));
    } else {
      return MakeJuteError(JuteError::kBadLength, "multiRead reply: unknown result type");
    }
    out->results.push_back(std::move(res));
  }
}

void Encode(JuteWriter& w, const ConnectRequest& v) {
  w.WriteInt(v.protocol_version);
  w.WriteLong(v.last_zxid_seen);
  w.WriteInt(v.timeout_ms);
  w.WriteLong(v.session_id);
  w.WriteBuffer(v.password);
  if (v.has_read_only) w.WriteBool(v.read_only);
}

void Encode(JuteWriter& w, const ConnectResponse& v) {
  w.WriteInt(v.protocol_version);
  w.WriteInt(v.timeout_ms);
  w.WriteLong(v.session_id);
  w.WriteBuffer(v.password);
  w.WriteBool(v.read_only);
}

void Encode(JuteWriter& w, const RequestHeader& v) {
  w.WriteInt(v.xid);
  w.WriteInt(v.type);
}

void Encode(JuteWriter& w, const ReplyHeader& v) {
  w.WriteInt(v.xid);
  w.WriteLong(v.zxid);
  w.WriteInt(v.err);
}

void Encode(JuteWriter& w, const Stat& v) {
  w.WriteLong(v.czxid);
  w.WriteLong(v.mzxid);
  w.WriteLong(v.ctime);
  w.WriteLong(v.mtime);
  w.WriteInt(v.version);
  w.WriteInt(v.cversion);
  w.WriteInt(v.aversion);
  w.WriteLong(v.ephemeral_owner);
  w.WriteInt(v.data_length);
  w.WriteInt(v.num_children);
  w.WriteLong(v.pzxid);
}

void Encode(JuteWriter& w, const Acl& v) {
  w.WriteInt(v.perms);
  w.WriteString(v.scheme);
  w.WriteString(v.id);
}

void Encode(JuteWriter& w, const std::vector<Acl>& v) {
  w.WriteInt(static_cast<int32_t>(v.size()));
  for (const Acl& acl : v) Encode(w, acl);
}

void Encode(JuteWriter& w, const AuthPacket& v) {
  w.WriteInt(v.type);
  w.WriteString(v.scheme);
  w.WriteBuffer(v.auth);
}

void Encode(JuteWriter& w, const GetAclResponse& v) {
  Encode(w, v.acl);
  Encode(w, v.stat);
}

void Encode(JuteWriter& w, const SetAclRequest& v) {
  w.WriteString(v.path);
  Encode(w, v.acl);
  w.WriteInt(v.version);
}

void Encode(JuteWriter& w, const ClientInfo& v) {
  w.WriteString(v.auth_scheme);
  w.WriteString(v.user);
}

void Encode(JuteWriter& w, const WhoAmIResponse& v) {
  w.WriteInt(static_cast<int32_t>(v.client_info.size()));
  for (const ClientInfo& info : v.client_info) Encode(w, info);
}

void Encode(JuteWriter& w, const SaslToken& v) {
  if (v.is_null) {
    w.WriteNullBuffer();
  } else {
    w.WriteBuffer(v.token);
  }
}

void Encode(JuteWriter& w, const CreateRequest& v, bool with_ttl) {
  w.WriteString(v.path);
  if (v.null_data) {
    w.WriteNullBuffer();
  } else {
    w.WriteBuffer(v.data);
  }
  Encode(w, v.acl);
  w.WriteInt(v.flags);
  if (with_ttl) w.WriteLong(v.ttl);
}

void Encode(JuteWriter& w, const PathWatchRequest& v) {
  w.WriteString(v.path);
  w.WriteBool(v.watch);
}

void Encode(JuteWriter& w, const PathVersionRequest& v) {
  w.WriteString(v.path);
  w.WriteInt(v.version);
}

void Encode(JuteWriter& w, const SetDataRequest& v) {
  w.WriteString(v.path);
  if (v.null_data) {
    w.WriteNullBuffer();
  } else {
    w.WriteBuffer(v.data);
  }
  w.WriteInt(v.version);
}

void Encode(JuteWriter& w, const PathRequest& v) { w.WriteString(v.path); }

void Encode(JuteWriter& w, const MultiHeader& v) {
  w.WriteInt(v.type);
  w.WriteBool(v.done);
  w.WriteInt(v.err);
}

void Encode(JuteWriter& w, const SetWatchesRequest& v, bool v2) {
  w.WriteLong(v.relative_zxid);
  w.WriteStringVector(v.data_watches);
  w.WriteStringVector(v.exist_watches);
  w.WriteStringVector(v.child_watches);
  if (!v2) return;
  w.WriteStringVector(v.persistent_watches);
  w.WriteStringVector(v.persistent_recursive_watches);
}

void Encode(JuteWriter& w, const AddWatchRequest& v) {
  w.WriteString(v.path);
  w.WriteInt(v.mode);
}

void Encode(JuteWriter& w, const WatchesRequest& v) {
  w.WriteString(v.path);
  w.WriteInt(v.type);
}

void Encode(JuteWriter& w, const WatcherEvent& v) {
  w.WriteInt(v.type);
  w.WriteInt(v.state);
  w.WriteString(v.path);
}

void Encode(JuteWriter& w, const MultiReadRequest& v) {
  for (const ReadOp& op : v.ops) {
    Encode(w, MultiHeader{op.type, false, -1});
    Encode(w, PathWatchRequest{op.path, false});
  }
  Encode(w, MultiHeader{-1, true, -1});
}

void Encode(JuteWriter& w, const ReadOpResult& v) {
  Encode(w, MultiHeader{v.type, false, v.type == kOpError ? v.err : kZOk});
  if (v.type == kOpGetData) {
    if (v.null_data) {
      w.WriteNullBuffer();
    } else {
      w.WriteBuffer(v.data);
    }
    Encode(w, v.stat);
  } else if (v.type == kOpGetChildren) {
    w.WriteStringVector(v.children);
  } else {
    w.WriteInt(v.err);
  }
}

void Encode(JuteWriter& w, const MultiReadResponse& v) {
  for (const ReadOpResult& res : v.results) Encode(w, res);
  Encode(w, MultiHeader{-1, true, -1});
}

}  // namespace synod::zk
