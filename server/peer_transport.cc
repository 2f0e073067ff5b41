#include "server/peer_transport.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/raft_link.h"
#include "server/tcp_socket.h"
#include "storage/format.h"

namespace synod::server {
namespace {

// Pause after a broken link before the next attempt (gRPC's own reconnect
// backoff is capped low too, see PeerChannelArguments).
constexpr absl::Duration kRetryPause = absl::Milliseconds(100);

// For what cannot fail short of a broken process (eventfd, poll).
[[noreturn]] void Fatal(const std::string& what) {
  base::Log(base::LogLevel::kError, "peer transport: %s", what.c_str());
  std::abort();
}

}  // namespace

grpc::ChannelArguments PeerChannelArguments(int max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(max_message_bytes);
  args.SetMaxReceiveMessageSize(max_message_bytes);
  // A restarted peer must be reached again within an election timeout, not
  // after gRPC's default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is also the connect timeout: keep its
  // default; a small value fails handshakes on a busy machine.)
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A failed connection makes the channel re-resolve its target, and gRPC
  // rate-limits re-resolution to once per 30 s by default: without this a
  // peer that was down at startup stays unreachable for up to 30 s after it
  // comes up.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 200);
  // Notice a silently dead connection (peer host gone) in seconds.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Each peer gets its own TCP connection even when two share an address
  // (tests), so one slow stream never shares a window with another.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

PeerTransport::PeerTransport(const Options& options, RaftMailbox* mailbox,
                             const storage::SnapshotFiles* snapshots, const FaultInjection* faults)
    : options_(options), mailbox_(mailbox), snapshots_(snapshots), faults_(faults) {}

PeerTransport::~PeerTransport() { Stop(); }

std::unique_ptr<PeerTransport::Peer> PeerTransport::StartPeer(raft::NodeId id,
                                                              const std::string& addr) {
  auto peer = std::make_unique<Peer>();
  peer->id = id;
  peer->addr = addr;
  peer->channel = grpc::CreateCustomChannel(addr,
                                            options_.channel_credentials != nullptr
                                                ? options_.channel_credentials
                                                : grpc::InsecureChannelCredentials(),
                                            PeerChannelArguments(options_.max_message_bytes));
  peer->stub = v1::Peer::NewStub(peer->channel);
  peer->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  peer->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (peer->wake_fd < 0 || peer->stop_fd < 0) {
    // Out of file descriptors at startup or on a membership change: nothing
    // sensible can continue.
    Fatal(absl::StrCat("eventfd for peer ", id, ": ", std::strerror(errno)));
  }
  Peer* p = peer.get();
  peer->link_thread = std::thread([this, p] {
    base::NameThread("synod-peer-out");
    LinkLoop(p);
  });
  return peer;
}

void PeerTransport::StopPeer(Peer* peer) {
  {
    absl::MutexLock lock(&peer->mu);
    peer->stopping = true;
    peer->queue.clear();
    peer->queue_bytes = 0;
    if (peer->snapshot_call != nullptr) peer->snapshot_call->TryCancel();
  }
  const uint64_t one = 1;
  (void)!::write(peer->stop_fd, &one, sizeof(one));
  if (peer->link_thread.joinable()) peer->link_thread.join();
  {
    absl::MutexLock lock(&peer->mu);
    CloseLink(peer);
  }
  ::close(peer->wake_fd);
  ::close(peer->stop_fd);
  if (peer->snapshot_sender.joinable()) peer->snapshot_sender.join();
}

void PeerTransport::UpdatePeers(const std::map<raft::NodeId, std::string>& peers) {
  std::vector<std::unique_ptr<Peer>> stopped;
  {
    absl::MutexLock lock(&peers_mu_);
    for (auto it = peers_.begin(); it != peers_.end();) {
      auto want = peers.find(it->first);
      if (want == peers.end() || want->second != it->second->addr) {
        stopped.push_back(std::move(it->second));
        it = peers_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [id, addr] : peers) {
      if (id == options_.self || peers_.count(id) > 0) continue;
      peers_[id] = StartPeer(id, addr);
    }
  }
  for (auto& peer : stopped) StopPeer(peer.get());
}

void PeerTransport::Send(std::vector<raft::Message>* messages) {
  std::vector<raft::NodeId> full;
  std::vector<Peer*> touched;
  {
    absl::MutexLock lock(&peers_mu_);
    for (raft::Message& m : *messages) {
      auto it = peers_.find(m.to());
      if (it == peers_.end()) continue;  // not (or no longer) a member we know
      Peer* peer = it->second.get();
      if (faults_->Isolated(peer->id)) {
        if (m.type() == raft::MessageType::MSG_SNAP) mailbox_->ReportSnapshot(peer->id, false);
        continue;
      }
      if (m.type() == raft::MessageType::MSG_SNAP) {
        SendSnapshot(peer, std::move(m));
        continue;
      }
      const size_t bytes = m.ByteSizeLong();
      absl::MutexLock peer_lock(&peer->mu);
      if (peer->queue.size() >= options_.max_queue_messages ||
          peer->queue_bytes + bytes > options_.max_queue_bytes) {
        if (full.empty() || full.back() != peer->id) full.push_back(peer->id);
        continue;
      }
      peer->queue_bytes += bytes;
      peer->queue.push_back(Queued{std::move(m), bytes});
      if (touched.empty() || touched.back() != peer) touched.push_back(peer);
    }
  }
  messages->clear();
  // Peers are added and removed only on this (the raft) thread, so the
  // pointers stay valid without the map's lock.
  for (Peer* peer : touched) Pump(peer);
  for (raft::NodeId id : full) mailbox_->ReportUnreachable(id);
}

void PeerTransport::TakeBatch(Peer* peer, v1::RaftBatch* batch) {
  batch->Clear();
  batch->set_cluster_id(options_.cluster_id);
  batch->set_from(options_.self);
  size_t bytes = 0;
  while (!peer->queue.empty()) {
    Queued& q = peer->queue.front();
    if (batch->messages_size() > 0 && bytes + q.bytes > options_.max_batch_bytes) break;
    bytes += q.bytes;
    peer->queue_bytes -= q.bytes;
    *batch->add_messages() = std::move(q.message);
    peer->queue.pop_front();
  }
}

void PeerTransport::Pump(Peer* peer) {
  bool wake = false;
  bool broke = false;
  {
    absl::MutexLock lock(&peer->mu);
    if (peer->stopping || peer->queue.empty()) return;
    if (peer->link_fd < 0 || peer->link_broken) {
      wake = true;  // the link thread connects
    } else if (peer->unsent.empty()) {
      broke = !WriteLink(peer);
      wake = broke || !peer->unsent.empty();
    }  // else the link thread is finishing a write and takes the queue next
  }
  if (broke) mailbox_->ReportUnreachable(peer->id);
  if (wake) Wake(peer);
}

bool PeerTransport::WriteLink(Peer* peer) {
  while (true) {
    if (peer->unsent.empty()) {
      TakeBatch(peer, &peer->scratch);
      if (peer->scratch.messages_size() == 0) return true;  // all written
      AppendLinkFrame(peer->scratch, &peer->unsent);
      peer->scratch.Clear();
    }
    size_t done = 0;
    while (done < peer->unsent.size()) {
      if (peer->link_tls != nullptr) {
        // A write that would block is retried with the same bytes first
        // (OpenSSL's rule): `unsent` keeps them at its front.
        const ssize_t n =
            peer->link_tls->Write(peer->unsent.data() + done, peer->unsent.size() - done);
        if (n == 0) break;
        if (n < 0) {
          BreakLink(peer);
          return false;
        }
        done += static_cast<size_t>(n);
        continue;
      }
      const ssize_t n = ::send(peer->link_fd, peer->unsent.data() + done,
                               peer->unsent.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      BreakLink(peer);
      return false;
    }
    peer->unsent.erase(0, done);
    peer->reachable = true;
    if (!peer->unsent.empty()) return true;  // the socket is full: the link thread waits
  }
}

void PeerTransport::BreakLink(Peer* peer) {
  peer->link_broken = true;
  peer->unsent.clear();
  peer->queue.clear();
  peer->queue_bytes = 0;
  peer->reachable = false;
}

void PeerTransport::CloseLink(Peer* peer) {
  peer->link_tls.reset();
  if (peer->link_fd >= 0) ::close(peer->link_fd);
  peer->link_fd = -1;
}

void PeerTransport::Wake(Peer* peer) {
  const uint64_t one = 1;
  (void)!::write(peer->wake_fd, &one, sizeof(one));
}

void PeerTransport::LinkLoop(Peer* peer) {
  while (true) {
    bool connect = false;
    bool report = false;
    bool want_write = false;
    int fd = -1;
    absl::Time retry_at = absl::InfiniteFuture();
    {
      absl::MutexLock lock(&peer->mu);
      if (peer->stopping) return;
      if (peer->link_broken) {
        CloseLink(peer);
        peer->link_broken = false;
        peer->retry_at = absl::Now() + kRetryPause;
      }
      if (peer->link_fd >= 0 && (!peer->unsent.empty() || !peer->queue.empty())) {
        report = !WriteLink(peer);
        want_write = !report && !peer->unsent.empty();
      }
      fd = peer->link_fd;
      if (fd < 0 && !peer->queue.empty()) {
        if (absl::Now() >= peer->retry_at) {
          connect = true;
        } else {
          retry_at = peer->retry_at;
        }
      }
    }
    if (report) {
      mailbox_->ReportUnreachable(peer->id);
      continue;
    }
    if (connect) {
      ConnectLink(peer);
      continue;
    }
    // Sleep until there is work, the socket takes more, the link closes (the
    // receiver never writes after its answer: readable means closed), the
    // retry pause ends, or Stop.
    pollfd fds[3] = {{peer->stop_fd, POLLIN, 0}, {peer->wake_fd, POLLIN, 0}, {fd, 0, 0}};
    nfds_t count = 2;
    if (fd >= 0) {
      fds[2].events = static_cast<short>(POLLIN | (want_write ? POLLOUT : 0));
      count = 3;
    }
    int timeout_ms = -1;
    if (retry_at != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(retry_at - absl::Now()) + 1));
    }
    if (::poll(fds, count, timeout_ms) < 0 && errno != EINTR) {
      Fatal(absl::StrCat("poll on the link to member ", peer->id, ": ", std::strerror(errno)));
    }
    if (fds[0].revents != 0) return;
    if (fds[1].revents != 0) {
      uint64_t n = 0;
      (void)!::read(peer->wake_fd, &n, sizeof(n));
    }
    if (count == 3 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      bool closed = false;
      {
        absl::MutexLock lock(&peer->mu);
        if (peer->link_fd == fd && peer->link_tls != nullptr) {
          // TLS records that carry no data (an alert) are consumed here;
          // data or the end of the stream close the link.
          char byte = 0;
          closed = peer->link_tls->Read(&byte, 1) != 0;
        } else if (peer->link_fd == fd) {
          char byte = 0;
          const ssize_t n = ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
          closed = n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        }
        if (closed) BreakLink(peer);
      }
      if (closed) {
        base::Log(base::LogLevel::kInfo, "raft link to member %llu closed by the peer",
            static_cast<unsigned long long>(peer->id));
        mailbox_->ReportUnreachable(peer->id);
      }
    }
  }
}

void PeerTransport::ConnectLink(Peer* peer) {
  // A TLS handshake is two more round trips and some public-key work.
  const absl::Duration timeout =
      options_.link_tls != nullptr ? 3 * options_.link_timeout : options_.link_timeout;
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<int> fd = ConnectTcp(peer->addr, options_.link_timeout, peer->stop_fd);
  std::string failure;
  LinkAnswer answer = LinkAnswer::kAccepted;
  bool tls_failed = false;
  std::unique_ptr<LinkTlsSession> tls;
  if (!fd.ok()) {
    failure = std::string(fd.status().message());
  } else {
    if (options_.link_tls != nullptr) {
      std::string host;
      std::string port;
      if (!SendExactly(*fd, kLinkTlsPreamble.data(), kLinkTlsPreamble.size(), deadline,
                       peer->stop_fd)) {
        failure = "TLS preamble not sent";
      } else if (absl::Status s = SplitHostPort(peer->addr, &host, &port); !s.ok()) {
        failure = std::string(s.message());
      } else {
        absl::StatusOr<std::unique_ptr<LinkTlsSession>> session =
            LinkTlsSession::Connect(*options_.link_tls, *fd, host, deadline, peer->stop_fd);
        if (session.ok()) {
          tls = *std::move(session);
        } else {
          failure = std::string(session.status().message());
          tls_failed = true;
        }
      }
    }
    LinkHello hello;
    hello.cluster_id = options_.cluster_id;
    hello.from = options_.self;
    hello.to = peer->id;
    const std::string out = EncodeLinkHello(hello);
    std::string in(kLinkAnswerBytes, '\0');
    const bool sent =
        failure.empty() &&
        (tls != nullptr ? tls->WriteExactly(out.data(), out.size(), deadline, peer->stop_fd)
                        : SendExactly(*fd, out.data(), out.size(), deadline, peer->stop_fd));
    if (failure.empty() && !sent) {
      failure = "hello not sent";
    } else if (failure.empty() &&
               !(tls != nullptr
                     ? tls->ReadExactly(in.data(), in.size(), deadline, peer->stop_fd)
                     : RecvExactly(*fd, in.data(), in.size(), deadline, peer->stop_fd))) {
      failure = "no answer to the hello";
    } else if (failure.empty() && !DecodeLinkAnswer(in, &answer)) {
      failure = "unreadable answer to the hello";
    } else if (failure.empty() && answer != LinkAnswer::kAccepted) {
      failure = absl::StrCat("refused: ", LinkAnswerName(answer));
    }
    if (!failure.empty()) {
      tls.reset();
      ::close(*fd);
    }
  }
  bool stopping = false;
  bool log_failure = false;
  bool up = false;
  {
    absl::MutexLock lock(&peer->mu);
    stopping = peer->stopping;
    const bool refused = answer != LinkAnswer::kAccepted || tls_failed;
    if (stopping) {
      if (failure.empty()) {
        tls.reset();
        ::close(*fd);
      }
    } else if (!failure.empty()) {
      log_failure = !peer->link_failing || refused;
      peer->link_failing = true;
      BreakLink(peer);
      peer->link_broken = false;
      // A refusal will not change soon: wait longer before the next try.
      peer->retry_at = absl::Now() + (refused ? absl::Seconds(1) : kRetryPause);
    } else {
      up = true;
      peer->link_failing = false;
      peer->link_fd = *fd;
      peer->link_tls = std::move(tls);
      peer->reachable = true;
    }
  }
  if (stopping) return;
  if (!failure.empty()) {
    if (log_failure) {
      base::Log(base::LogLevel::kWarning, "raft link to member %llu at %s: %s",
                static_cast<unsigned long long>(peer->id), peer->addr.c_str(), failure.c_str());
    }
    mailbox_->ReportUnreachable(peer->id);
  } else if (up) {
    base::Log(base::LogLevel::kInfo, "raft link to member %llu at %s is up",
              static_cast<unsigned long long>(peer->id), peer->addr.c_str());
  }
}

absl::StatusOr<v1::KeepAliveBatchResponse> PeerTransport::KeepAliveBatch(
    raft::NodeId peer, const v1::KeepAliveBatchRequest& request, absl::Duration timeout) {
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&peers_mu_);
    auto it = peers_.find(peer);
    if (it == peers_.end()) return absl::NotFoundError("unknown peer");
    // Shared: the peer entry may be replaced while the call runs.
    channel = it->second->channel;
  }
  if (faults_->Isolated(peer)) return absl::UnavailableError("isolated by fault injection");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::KeepAliveBatchResponse response;
  grpc::Status status = v1::Peer::NewStub(channel)->KeepAliveBatch(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response;
}

bool PeerTransport::Reachable(raft::NodeId peer) const {
  absl::MutexLock lock(&peers_mu_);
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second->reachable.load() && !faults_->Isolated(peer);
}

void PeerTransport::Stop() {
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers;
  {
    absl::MutexLock lock(&peers_mu_);
    peers.swap(peers_);
  }
  for (auto& [id, peer] : peers) StopPeer(peer.get());
}

void PeerTransport::SendSnapshot(Peer* peer, raft::Message message) {
  if (peer->snapshot_active.exchange(true)) {
    // One snapshot at a time per peer; the core retries after the report of
    // the one in flight.
    return;
  }
  if (peer->snapshot_sender.joinable()) peer->snapshot_sender.join();  // finished
  peer->snapshot_sender = std::thread(
      [this, peer, m = std::move(message)]() mutable { SnapshotLoop(peer, std::move(m)); });
}

void PeerTransport::SnapshotLoop(Peer* peer, raft::Message message) {
  const bool ok = StreamSnapshot(peer, message);
  base::Log(ok ? base::LogLevel::kInfo : base::LogLevel::kWarning,
            "event=snapshot_sent index=%llu member=%llu result=%s",
            static_cast<unsigned long long>(message.snapshot().metadata().index()),
            static_cast<unsigned long long>(peer->id), ok ? "ok" : "failed");
  mailbox_->ReportSnapshot(peer->id, ok);
  peer->snapshot_active = false;
}

bool PeerTransport::StreamSnapshot(Peer* peer, const raft::Message& message) {
  const uint64_t index = message.snapshot().metadata().index();
  const std::string path = snapshots_->PathFor(index);
  std::ifstream in(path, std::ios::binary);
  if (!in && index == storage::kBootstrapIndex) {
    // The founding snapshot is the empty tree and has no file: an empty
    // stream stands for it (the receiver restores nothing).
    in.open("/dev/null", std::ios::binary);
  }
  if (!in) {
    base::Log("snapshot %llu: cannot open %s", static_cast<unsigned long long>(index),
              path.c_str());
    return false;
  }
  grpc::ClientContext call;
  v1::PeerAck ack;
  {
    absl::MutexLock lock(&peer->mu);
    if (peer->stopping) return false;
    peer->snapshot_call = &call;
  }
  auto writer = peer->stub->InstallSnapshot(&call, &ack);
  base::Crc32cStream crc;
  std::string buf(options_.snapshot_chunk_bytes, '\0');
  uint64_t offset = 0;
  bool ok = true;
  bool first = true;
  while (ok) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    const bool eof = in.eof();
    if (!eof && !in) {
      ok = false;
      break;
    }
    v1::InstallSnapshotChunk chunk;
    chunk.set_cluster_id(options_.cluster_id);
    if (first) *chunk.mutable_message() = message;
    first = false;
    v1::SnapshotChunk* c = chunk.mutable_chunk();
    c->set_file_name("state.snap");
    c->set_offset(offset);
    c->set_data(buf.data(), n);
    c->set_last_in_file(eof);
    crc.Update(std::string_view(buf.data(), n));
    offset += n;
    if (eof) {
      c->set_done(true);
      c->set_crc32c(crc.value());
    }
    if (faults_->Isolated(peer->id) || !writer->Write(chunk)) ok = false;
    if (eof) break;
  }
  if (ok) ok = writer->WritesDone();
  grpc::Status status = writer->Finish();
  {
    absl::MutexLock lock(&peer->mu);
    peer->snapshot_call = nullptr;
  }
  if (ok && (!status.ok() || ack.code() != v1::OK)) {
    base::Log("snapshot %llu refused by member %llu: %s %s", static_cast<unsigned long long>(index),
              static_cast<unsigned long long>(peer->id), status.error_message().c_str(),
              ack.message().c_str());
    ok = false;
  }
  return ok && status.ok();
}

}  // namespace synod::server
