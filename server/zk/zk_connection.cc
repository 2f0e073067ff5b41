// ZkConnection: slots, the session handshake and watches. The operations
// are in zk_operations.cc.
#include "server/zk/zk_connection.h"

#include <algorithm>

#include "base/log.h"
#include "base/secret.h"
#include "server/zk/zk_error_mapping.h"
#include "server/zk/zk_system_nodes.h"

namespace synod::zk {
namespace {

// A Tree call run in-process: TreeService finishes it through a Replier.
class TreeCall final : public server::StreamedCall {
 public:
  v1::PipelineCall call;
  v1::PipelineReply reply;
  absl::AnyInvocable<void(const v1::PipelineReply&)> done;

  void Finish(grpc::Status /*status*/) override {
    // The outcome is in the reply's header; the gRPC status says the same.
    auto d = std::move(done);
    d(reply);
  }
};

int32_t ToZkEventType(v1::EventType type) {
  switch (type) {
    case v1::EVENT_NODE_CREATED:
      return kEventNodeCreated;
    case v1::EVENT_NODE_DELETED:
      return kEventNodeDeleted;
    case v1::EVENT_NODE_DATA_CHANGED:
      return kEventNodeDataChanged;
    case v1::EVENT_NODE_CHILDREN_CHANGED:
      return kEventNodeChildrenChanged;
    default:
      return kEventNone;
  }
}

// Requests that go through the log (and sync, the barrier): later
// requests of the connection must see their effect.
bool IsOrderedWrite(int32_t type) {
  switch (type) {
    case kOpCreate:
    case kOpDelete:
    case kOpSetData:
    case kOpSetAcl:
    case kOpSync:
    case kOpCheck:
    case kOpMulti:
    case kOpCreate2:
    case kOpReconfig:
    case kOpCreateContainer:
    case kOpDeleteContainer:
    case kOpCreateTtl:
    case kOpCloseSession:
      return true;
    default:
      return false;
  }
}

}  // namespace

ZkConnection::ZkConnection(const ZkContext* context, const std::string& peer_address,
                           std::function<void()> wake)
    : context_(context), wake_(std::move(wake)) {
  auto caller = std::make_shared<v1::Caller>();
  if (!peer_address.empty()) {
    v1::Identity* ip = caller->add_ids();
    ip->set_scheme("ip");
    ip->set_id(peer_address);
  }
  caller_ = std::move(caller);
}

ZkConnection::~ZkConnection() { Close(); }

void ZkConnection::Close() {
  server::WatchHub::StreamId stream = 0;
  std::unique_ptr<ZkSaslServer> sasl;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    stream = stream_;
    stream_ = 0;
    sasl = std::move(sasl_);
  }
  if (stream != 0) context_->watches->CloseStream(stream);
}

ZkConnection::SlotPtr ZkConnection::PushSlot() {
  absl::MutexLock lock(&mu_);
  slots_.push_back(std::make_shared<Slot>());
  return slots_.back();
}

void ZkConnection::Fill(const SlotPtr& slot, std::string body, bool close_after, int32_t err) {
  std::string framed;
  const absl::Time now = absl::Now();
  if (!body.empty()) {
    context_->metrics->Reply(err, now - slot->arrived);
    JuteWriter w;
    w.WriteInt(static_cast<int32_t>(body.size()));
    framed = w.Take();
    framed.append(body);
  }
  {
    absl::MutexLock lock(&mu_);
    if (!framed.empty()) {
      const int64_t latency_ms = absl::ToInt64Milliseconds(now - slot->arrived);
      last_response_ = now;
      last_latency_ms_ = latency_ms;
      min_latency_ms_ = replies_ == 0 ? latency_ms : std::min(min_latency_ms_, latency_ms);
      max_latency_ms_ = std::max(max_latency_ms_, latency_ms);
      total_latency_ms_ += latency_ms;
      ++replies_;
    }
    slot->bytes = std::move(framed);
    slot->close_after = close_after;
    slot->ready = true;
    if (slot->ordered != 0) {
      // The listener thread sends what waited for it (TakeOutput).
      ordered_open_.erase(slot->ordered);
      slot->ordered = 0;
    }
  }
  wake_();
}

void ZkConnection::Reply(const SlotPtr& slot, int32_t xid, uint64_t zxid, int32_t err,
                         const std::string& body, bool close_after) {
  {
    absl::MutexLock lock(&mu_);
    seen_zxid_ = std::max(seen_zxid_, zxid);
  }
  JuteWriter w;
  Encode(w, ReplyHeader{xid, static_cast<int64_t>(zxid), err});
  std::string bytes = w.Take();
  bytes.append(body);
  {
    absl::MutexLock lock(&mu_);
    slot->reply_zxid = true;
  }
  Fill(slot, std::move(bytes), close_after, err);
}

bool ZkConnection::TakeOutput(std::string* out) {
  DispatchHeld();
  PollWatches();
  absl::MutexLock lock(&mu_);
  while (!slots_.empty() && slots_.front()->ready) {
    SlotPtr slot = std::move(slots_.front());
    slots_.pop_front();
    if (!slot->bytes.empty()) ++sent_;
    if (slot->reply_zxid) RaiseReplyZxidLocked(&slot->bytes);
    out->append(slot->bytes);
    if (slot->close_after) return true;
  }
  return false;
}

void ZkConnection::RaiseReplyZxidLocked(std::string* framed) {
  // length (4), xid (4), zxid (8, big-endian): see Fill and Reply.
  constexpr size_t kAt = 8;
  if (framed->size() < kAt + 8) return;
  uint64_t zxid = 0;
  for (size_t i = 0; i < 8; ++i) {
    zxid = (zxid << 8) | static_cast<uint8_t>((*framed)[kAt + i]);
  }
  if (static_cast<int64_t>(zxid) >= last_reply_zxid_) {
    last_reply_zxid_ = static_cast<int64_t>(zxid);
    return;
  }
  zxid = static_cast<uint64_t>(last_reply_zxid_);
  for (size_t i = 0; i < 8; ++i) {
    (*framed)[kAt + 7 - i] = static_cast<char>(zxid & 0xff);
    zxid >>= 8;
  }
}

bool ZkConnection::AnsweredUpToLocked(uint64_t after) const {
  return ordered_open_.empty() || *ordered_open_.begin() > after;
}

size_t ZkConnection::pending() const {
  absl::MutexLock lock(&mu_);
  return slots_.size();
}

uint64_t ZkConnection::AppliedRevision() const { return context_->sessions->Header().revision(); }

v1::ReadOptions ZkConnection::ReadAfterSeen() const {
  v1::ReadOptions read;
  read.set_consistency(v1::SERIALIZABLE);
  absl::MutexLock lock(&mu_);
  read.set_min_revision(seen_zxid_);
  return read;
}

uint64_t ZkConnection::session_id() const {
  absl::MutexLock lock(&mu_);
  return session_id_;
}

v1::WriteContext ZkConnection::SessionWrite() const {
  v1::WriteContext write;
  absl::MutexLock lock(&mu_);
  write.set_session_id(session_id_);
  write.set_session_secret(session_secret_);
  return write;
}

std::shared_ptr<const v1::Caller> ZkConnection::caller() const {
  absl::MutexLock lock(&mu_);
  return caller_;
}

void ZkConnection::CallTree(v1::PipelineCall call,
                            absl::AnyInvocable<void(const v1::PipelineReply&)> done) {
  // ZooKeeper's own nodes (zk_system_nodes.h) never reach the replica.
  if (v1::PipelineReply answer; AnswerSystemCall(call, AppliedRevision(), &answer)) {
    done(answer);
    return;
  }
  if (auto split = std::make_shared<SplitMulti>(); SplitSystemChecks(call, split.get())) {
    call = split->forward;
    done = [split, done = std::move(done)](const v1::PipelineReply& reply) mutable {
      v1::PipelineReply merged = reply;
      MergeSystemChecks(*split, &merged);
      done(merged);
    };
  } else if (IsAboutRoot(call)) {
    auto root_call = std::make_shared<v1::PipelineCall>(call);
    done = [root_call, done = std::move(done)](const v1::PipelineReply& reply) mutable {
      v1::PipelineReply shown = reply;
      ShowSystemNodesUnderRoot(*root_call, &shown);
      done(shown);
    };
  }
  auto tree_call = std::make_shared<TreeCall>();
  tree_call->call = std::move(call);
  tree_call->done = std::move(done);
  const v1::PipelineCall* request = &tree_call->call;
  v1::PipelineReply* reply = &tree_call->reply;
  context_->serve(*request, caller(), reply, server::Replier(std::move(tree_call)));
}

void ZkConnection::OnFrame(std::string_view frame) {
  SlotPtr slot = PushSlot();
  bool connected = false;
  bool connecting = false;
  {
    absl::MutexLock lock(&mu_);
    connected = connected_;
    connecting = connecting_;
    if (!connected && !connecting) connecting_ = true;
  }
  if (!connected && !connecting) context_->metrics->Request(ZkMetrics::kConnect);
  if (connecting) {
    // A request before the session is established: clients wait for the
    // ConnectResponse, so this one breaks the protocol.
    Drop(slot);
    return;
  }
  if (!connected) {
    OnConnect(frame, slot);
    return;
  }
  RequestHeader header;
  if (JuteReader r(frame); !Decode(r, &header).ok()) {
    Drop(slot);
    return;
  }
  // Any request keeps the session alive, even one that waits its turn.
  context_->sessions->Touch(session_id());
  const bool write = IsOrderedWrite(header.type);
  {
    absl::MutexLock lock(&mu_);
    const uint64_t after = ordered_seq_;
    if (write) {
      slot->ordered = ++ordered_seq_;
      ordered_open_.insert(slot->ordered);
    }
    // A sync goes at once: it changes nothing a waiting read could see.
    const bool go = header.type == kOpSync ||
                    (held_.empty() && (write || AnsweredUpToLocked(after)));
    if (!go) {
      held_.push_back({std::string(frame), slot, write, after});
      return;
    }
  }
  Dispatch(frame, slot);
}

void ZkConnection::DispatchHeld() {
  for (;;) {
    Held next;
    {
      absl::MutexLock lock(&mu_);
      if (held_.empty()) return;
      if (!held_.front().write && !AnsweredUpToLocked(held_.front().after)) return;
      next = std::move(held_.front());
      held_.pop_front();
    }
    Dispatch(next.frame, next.slot);
  }
}

void ZkConnection::Dispatch(std::string_view frame, const SlotPtr& slot) {
  JuteReader r(frame);
  RequestHeader header;
  if (absl::Status s = Decode(r, &header); !s.ok()) {
    Drop(slot);
    return;
  }
  context_->metrics->Request(header.type);
  {
    absl::MutexLock lock(&mu_);
    ++received_;
    last_op_ = header.type;
    last_cxid_ = header.xid;
  }
  OnRequest(header, r, slot);
}

void ZkConnection::OnConnect(std::string_view frame, const SlotPtr& slot) {
  JuteReader r(frame);
  ConnectRequest request;
  if (!Decode(r, &request).ok() || !r.ExpectEnd().ok()) {
    Drop(slot);
    return;
  }
  auto self = shared_from_this();
  auto established = [self, slot](uint64_t id, const std::string& secret, int64_t timeout_ms) {
    {
      absl::MutexLock lock(&self->mu_);
      self->connected_ = true;
      self->connecting_ = false;
      self->session_id_ = id;
      self->session_secret_ = secret;
      self->timeout_ms_ = timeout_ms;
      self->established_ = absl::Now();
      ++self->received_;
    }
    JuteWriter w;
    Encode(w, ConnectResponse{0, static_cast<int32_t>(timeout_ms), static_cast<int64_t>(id), secret,
                              false});
    self->Fill(slot, w.Take());
  };
  auto expired = [self, slot]() {
    // ZooKeeper's answer to an unknown or expired session or a wrong
    // password: timeout 0, then the connection closes.
    JuteWriter w;
    Encode(w, ConnectResponse{0, 0, 0, std::string(16, '\0'), false});
    self->Fill(slot, w.Take(), /*close_after=*/true);
  };
  {
    absl::MutexLock lock(&mu_);
    seen_zxid_ = static_cast<uint64_t>(std::max<int64_t>(0, request.last_zxid_seen));
  }
  if (request.session_id == 0) {
    // Opened before any addauth can arrive, so by the address alone: an
    // anonymous session (its owner leaves ip out), which the connection
    // keeps using after it adds identities (apply: holding more than the
    // owner keeps the session), as a ZooKeeper session outlives addauth.
    context_->sessions->ProposeOpen(
        request.timeout_ms, *caller(), [self, slot, established](server::OpenOutcome outcome) mutable {
          if (outcome.code != v1::OK) {
            // No leader, or shutting down: the client tries another server.
            self->Drop(slot);
            return;
          }
          established(outcome.session_id, outcome.secret, outcome.timeout_ms);
        });
    return;
  }
  // Resume: the session table is read after a linearizable barrier (a
  // Sync: ReadIndex, then applied up to it), as ZooKeeper revalidates a
  // session through its leader: a session closed or expired anywhere is
  // never resumed from a replica that has not applied that yet.
  const uint64_t id = static_cast<uint64_t>(request.session_id);
  v1::PipelineCall barrier;
  barrier.mutable_sync()->set_path("/");
  CallTree(std::move(barrier), [self, slot, id, request, established,
                                expired](const v1::PipelineReply& reply) mutable {
    const v1::ResponseHeader& hd = reply.sync().header();
    if (hd.code() != v1::OK) return self->Drop(slot);  // no leader: try another server
    absl::StatusOr<server::SessionLookup> found = self->context_->sessions->Lookup(id);
    if (!found.ok()) {
      base::Log(base::LogLevel::kError, "zk: session lookup failed: %s",
                found.status().ToString().c_str());
      return self->Drop(slot);
    }
    if (found->revision < static_cast<uint64_t>(std::max<int64_t>(0, request.last_zxid_seen))) {
      // The client saw a zxid this cluster has not reached (it was talking
      // to another ensemble): ZooKeeper refuses such a connection.
      return self->Drop(slot);
    }
    if (!found->found || !base::SecretsEqual(found->secret, request.password)) return expired();
    self->context_->sessions->Touch(id);
    established(id, found->secret, found->timeout_ms);
  });
}

ZkConnectionInfo ZkConnection::Info() const {
  ZkConnectionInfo info;
  absl::MutexLock lock(&mu_);
  info.queued = slots_.size();
  info.received = received_;
  info.sent = sent_;
  info.session_id = session_id_;
  info.last_op = ZkOpName(last_op_);
  info.established_ms = absl::ToUnixMillis(established_);
  info.timeout_ms = timeout_ms_;
  info.last_cxid = last_cxid_;
  info.last_zxid = seen_zxid_;
  if (replies_ > 0) {
    info.last_response_ms = absl::ToUnixMillis(last_response_);
    info.last_latency_ms = last_latency_ms_;
    info.min_latency_ms = min_latency_ms_;
    info.avg_latency_ms = total_latency_ms_ / static_cast<int64_t>(replies_);
    info.max_latency_ms = max_latency_ms_;
  }
  return info;
}

std::vector<std::string> ZkConnection::WatchedPaths() const {
  std::vector<std::string> paths;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, id] : watch_ids_) paths.push_back(key.path);
  return paths;
}

size_t ZkConnection::WatchCount() const {
  absl::MutexLock lock(&mu_);
  return watch_ids_.size();
}

bool ZkConnection::SessionAlive() {
  const uint64_t id = session_id();
  if (id == 0) return true;
  absl::StatusOr<server::SessionLookup> found = context_->sessions->Lookup(id);
  // A storage failure is not the session's end; the replica reports it.
  return !found.ok() || found->found;
}

void ZkConnection::AddWatch(v1::WatchKind kind, const std::string& path, uint64_t start_revision) {
  const uint64_t session = session_id();
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  WatchKey key{static_cast<int>(kind), path};
  if (watch_ids_.contains(key)) return;
  if (stream_ == 0) {
    std::function<void()> wake = wake_;
    // The hub delivers an event only if this caller may read its node.
    stream_ = context_->watches->OpenStream([wake] { wake(); }, *caller_);
  }
  const uint64_t id = next_watch_id_++;
  watch_ids_[key] = id;
  watch_keys_[id] = key;
  v1::WatchCreateRequest create;
  create.set_watch_id(id);
  create.set_path(path);
  create.set_kind(kind);
  create.set_start_revision(start_revision);
  create.set_session_id(session);
  context_->watches->Create(stream_, create);
}

bool ZkConnection::RemoveWatch(v1::WatchKind kind, const std::string& path) {
  absl::MutexLock lock(&mu_);
  auto it = watch_ids_.find(WatchKey{static_cast<int>(kind), path});
  if (it == watch_ids_.end()) return false;
  const uint64_t id = it->second;
  watch_keys_.erase(id);
  watch_ids_.erase(it);
  // Its events still queued in the hub are dropped by PollWatches (the id
  // is no longer known), so nothing arrives for it after the reply.
  if (stream_ != 0) context_->watches->Cancel(stream_, id);
  return true;
}

bool ZkConnection::HasWatch(v1::WatchKind kind, const std::string& path) const {
  absl::MutexLock lock(&mu_);
  return watch_ids_.contains(WatchKey{static_cast<int>(kind), path});
}

void ZkConnection::PollWatches() {
  absl::MutexLock lock(&mu_);
  if (stream_ == 0) return;
  v1::WatchResponse response;
  while (context_->watches->Poll(stream_, &response)) {
    std::vector<v1::WatchResponse> parts;
    if (response.batched_size() > 0) {
      for (const v1::WatchResponse& b : response.batched()) parts.push_back(b);
    } else {
      parts.push_back(response);
    }
    for (const v1::WatchResponse& part : parts) {
      // A watch removed by removeWatches: what the hub had queued is not
      // delivered.
      if (!watch_keys_.contains(part.watch_id())) continue;
      for (const v1::WatchEvent& event : part.events()) {
        // ZooKeeper notifies a connection once per event, however many of
        // its watches match (a data and a child watch on a deleted node, a
        // persistent watch and a recursive one above it).
        if (event.revision() != notified_revision_) {
          notified_revision_ = event.revision();
          notified_.clear();
        }
        if (!notified_.emplace(static_cast<int>(event.type()), event.path()).second) continue;
        JuteWriter w;
        Encode(w, ReplyHeader{kXidNotification, static_cast<int64_t>(event.revision()), kZOk});
        Encode(w, WatcherEvent{ToZkEventType(event.type()), kStateSyncConnected, event.path()});
        std::string body = w.Take();
        JuteWriter len;
        len.WriteInt(static_cast<int32_t>(body.size()));
        auto slot = std::make_shared<Slot>();
        slot->bytes = len.Take() + body;
        slot->ready = true;
        context_->metrics->Notification();
        slots_.push_back(std::move(slot));
      }
      if (part.canceled()) {
        if (part.cancel_code() != v1::OK) {
          base::Log(base::LogLevel::kWarning, "zk: watch %llu ended: %s",
                    static_cast<unsigned long long>(part.watch_id()), part.cancel_reason().c_str());
        }
        auto it = watch_keys_.find(part.watch_id());
        if (it != watch_keys_.end()) {
          watch_ids_.erase(it->second);
          watch_keys_.erase(it);
        }
      }
    }
    response.Clear();
  }
}

}  // namespace synod::zk
