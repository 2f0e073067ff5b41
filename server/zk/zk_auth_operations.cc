// ZkConnection: ZooKeeper's auth (addauth), sasl (DIGEST-MD5), whoAmI, getACL and
// setACL. What ZooKeeper 3.8 does, from its server (ZooKeeperServer.
// processPacket and processSasl, FinalRequestProcessor, PrepRequestProcessor
// .fixupACL, DigestAuthenticationProvider, AuthUtil.getClientInfos).
#include <openssl/sha.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "base/log.h"
#include "server/zk/zk_connection.h"
#include "server/zk/zk_convert.h"
#include "server/zk/zk_error_mapping.h"
#include "storage/acl.h"

namespace synod::zk {
namespace {

// Digest identities one connection may add: each rides in every command it
// sends. Beyond this, addauth fails (AuthFailed), as a bad credential does.
constexpr int kMaxDigestIdentities = 8;

// ZooKeeper's DigestAuthenticationProvider.generateDigest: the part before
// the first ':' (the whole credential if none), ':', then the base64 SHA-1
// of the whole credential.
std::string ZkDigestId(std::string_view credential) {
  const size_t colon = credential.find(':');
  if (colon != std::string_view::npos) {
    return storage::DigestId(credential.substr(0, colon), credential.substr(colon + 1));
  }
  unsigned char sha[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(credential.data()), credential.size(), sha);
  return std::string(credential) + ":" +
         absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(sha), sizeof(sha)));
}

// AuthUtil.getUser: a digest id shows its user (before the first ':'), an
// ip id its address.
std::string UserOf(const v1::Identity& id) {
  if (id.scheme() == "digest") return id.id().substr(0, id.id().find(':'));
  return id.id();
}

}  // namespace

absl::Status ZkConnection::OnAuth(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  AuthPacket auth;
  if (absl::Status s = Decode(r, &auth); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  // ZooKeeper answers auth with zxid 0. Its default providers are digest
  // and ip; ip adds the peer's address, which the connection holds already.
  bool ok = auth.scheme == "ip";
  server::WatchHub::StreamId stale_stream = 0;
  if (auth.scheme == "digest") {
    const std::string id = ZkDigestId(auth.auth);
    absl::MutexLock lock(&mu_);
    const auto& ids = caller_->ids();
    const bool held = std::any_of(ids.begin(), ids.end(), [&](const v1::Identity& i) {
      return i.scheme() == "digest" && i.id() == id;
    });
    const auto digests = std::count_if(ids.begin(), ids.end(),
                                       [](const v1::Identity& i) { return i.scheme() == "digest"; });
    ok = held || digests < kMaxDigestIdentities;
    if (ok && !held) {
      AddIdentityLocked("digest", id,
                        !context_->superuser_digest.empty() && id == context_->superuser_digest,
                        &stale_stream);
    }
  }
  if (stale_stream != 0) context_->watches->CloseStream(stale_stream);
  // A failed auth: AuthFailed, then ZooKeeper closes the connection.
  Reply(slot, h.xid, 0, ok ? kZOk : kZAuthFailed, "", /*close_after=*/!ok);
  return absl::OkStatus();
}

bool ZkConnection::AddIdentityLocked(const std::string& scheme, const std::string& id,
                                     bool superuser, server::WatchHub::StreamId* stale_stream) {
  const auto& ids = caller_->ids();
  if (std::any_of(ids.begin(), ids.end(), [&](const v1::Identity& i) {
        return i.scheme() == scheme && i.id() == id;
      })) {
    return false;
  }
  auto next = std::make_shared<v1::Caller>(*caller_);
  v1::Identity* added = next->add_ids();
  added->set_scheme(scheme);
  added->set_id(id);
  if (superuser) next->set_superuser(true);
  caller_ = std::move(next);
  // A watch stream is for the caller that opened it. One with no watches
  // yet is dropped so the next watch is for the new caller; watches
  // already set keep the identities they were set with.
  if (watch_ids_.empty()) std::swap(*stale_stream, stream_);
  return true;
}

absl::Status ZkConnection::OnSasl(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  SaslToken token;
  if (absl::Status s = Decode(r, &token); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  JuteWriter w;
  if (context_->sasl_users == nullptr) {
    // A ZooKeeper server with no SASL login configured has no SASL server
    // on the connection: it answers OK with a null token and adds no
    // identity.
    Encode(w, SaslToken{"", /*is_null=*/true});
    Reply(slot, h.xid, 0, kZOk, w.bytes());
    return absl::OkStatus();
  }
  // ZooKeeperServer.processSasl: each token goes to the connection's SASL
  // server (DIGEST-MD5 is a few hashes: run here); on completion the
  // connection holds sasl:<authorization id>, plus the superuser for
  // zookeeper.superUser; a failure is answered AUTHFAILED with a null
  // token, then the connection closes. All replies carry zxid 0.
  absl::StatusOr<ZkSaslServer::Step> step;
  server::WatchHub::StreamId stale_stream = 0;
  {
    absl::MutexLock lock(&mu_);
    if (sasl_ == nullptr) {
      absl::StatusOr<std::unique_ptr<ZkSaslServer>> made = ZkSaslServer::Create(context_->sasl_users);
      if (made.ok()) {
        sasl_ = *std::move(made);
      } else {
        step = made.status();
      }
    }
    if (sasl_ != nullptr) step = sasl_->Evaluate(token.token);
    if (step.ok() && step->complete) {
      AddIdentityLocked("sasl", step->user,
                        !context_->sasl_superuser.empty() && step->user == context_->sasl_superuser,
                        &stale_stream);
    }
  }
  if (stale_stream != 0) context_->watches->CloseStream(stale_stream);
  if (!step.ok()) {
    base::Log(base::LogLevel::kInfo, "zk: session 0x%llx: SASL authentication failed: %s",
              static_cast<unsigned long long>(session_id()), step.status().ToString().c_str());
    Encode(w, SaslToken{"", /*is_null=*/true});
    Reply(slot, h.xid, 0, kZAuthFailed, w.bytes(), /*close_after=*/true);
    return absl::OkStatus();
  }
  if (step->complete) {
    base::Log(base::LogLevel::kInfo, "zk: session 0x%llx authenticated by SASL as %s",
              static_cast<unsigned long long>(session_id()), step->user.c_str());
  }
  Encode(w, SaslToken{step->challenge, /*is_null=*/false});
  Reply(slot, h.xid, 0, kZOk, w.bytes());
  return absl::OkStatus();
}

absl::Status ZkConnection::OnWhoAmI(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  const std::shared_ptr<const v1::Caller> who = caller();
  WhoAmIResponse response;
  for (const v1::Identity& id : who->ids()) {
    // The superuser digest also holds ZooKeeper's ("super", "") identity,
    // whose provider-less user shows as "".
    if (who->superuser() &&
        ((id.scheme() == "digest" && id.id() == context_->superuser_digest) ||
         (id.scheme() == "sasl" && id.id() == context_->sasl_superuser))) {
      response.client_info.push_back(ClientInfo{"super", ""});
    }
    response.client_info.push_back(ClientInfo{id.scheme(), UserOf(id)});
  }
  JuteWriter w;
  Encode(w, response);
  Reply(slot, h.xid, AppliedRevision(), kZOk, w.bytes());
  return absl::OkStatus();
}

absl::Status ZkConnection::OnGetAcl(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  PathRequest p;
  if (absl::Status s = Decode(r, &p); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  v1::PipelineCall call;
  call.mutable_get_acl()->set_path(p.path);
  *call.mutable_get_acl()->mutable_read() = ReadAfterSeen();
  auto self = shared_from_this();
  const int32_t xid = h.xid;
  CallTree(std::move(call), [self, slot, xid](const v1::PipelineReply& reply) {
    const v1::GetAclResponse& res = reply.get_acl();
    const v1::ResponseHeader& hd = res.header();
    if (ZkDropsConnection(hd.code())) return self->Drop(slot);
    JuteWriter w;
    if (hd.code() == v1::OK) Encode(w, GetAclResponse{ToZkAcl(res.acl()), ToZkStat(res.stat())});
    self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()), w.bytes());
  });
  return absl::OkStatus();
}

absl::Status ZkConnection::OnSetAcl(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  SetAclRequest set;
  if (absl::Status s = Decode(r, &set); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  // ZooKeeper refuses an empty list (fixupACL); Synod's would mean open.
  if (set.acl.empty()) {
    Reply(slot, h.xid, AppliedRevision(), kZInvalidAcl);
    return absl::OkStatus();
  }
  v1::PipelineCall call;
  v1::SetAclOp* op = call.mutable_set_acl()->mutable_op();
  op->set_path(set.path);
  ToV1Acl(set.acl, op->mutable_acl());
  op->set_expected_aversion(FromZkVersion(set.version));
  *call.mutable_set_acl()->mutable_write() = SessionWrite();
  auto self = shared_from_this();
  const int32_t xid = h.xid;
  CallTree(std::move(call), [self, slot, xid](const v1::PipelineReply& reply) {
    const v1::SetAclResponse& res = reply.set_acl();
    const v1::ResponseHeader& hd = res.header();
    if (ZkDropsConnection(hd.code())) return self->Drop(slot);
    JuteWriter w;
    if (hd.code() == v1::OK) Encode(w, ToZkStat(res.stat()));
    self->Reply(slot, xid, hd.revision(), ToZkError(hd.code()), w.bytes());
  });
  return absl::OkStatus();
}

}  // namespace synod::zk
