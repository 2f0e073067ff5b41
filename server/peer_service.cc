#include "server/peer_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/log.h"

namespace synod::server {
namespace {

// absl and gRPC share the canonical codes.
grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

}  // namespace

absl::Status PeerService::CheckSender(raft::NodeId from) const {
  if (from == raft::kNoNode || from == self_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the sender is member ", from, ", this replica is member ", self_));
  }
  return absl::OkStatus();
}

void PeerService::CountRefusal() const {
  if (on_refused_) on_refused_();
}

// One InstallSnapshot stream. Reading (gRPC thread) and writing (inbox
// thread) alternate: the next chunk is read only once the inbox reports the
// last one written, so at most one of them touches the reactor at a time,
// and Finish is called exactly once, by whichever ends the stream.
class PeerService::SnapshotReader final : public grpc::ServerReadReactor<v1::InstallSnapshotChunk> {
 public:
  SnapshotReader(PeerService* service, v1::PeerAck* ack) : service_(service), ack_(ack) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Fail(grpc::StatusCode::ABORTED, "snapshot stream ended before its last chunk");
      return;
    }
    if (chunk_.cluster_id() != service_->cluster_id_) {
      service_->CountRefusal();
      Fail(grpc::StatusCode::FAILED_PRECONDITION, "cluster id mismatch");
      return;
    }
    if (transfer_ == nullptr) {
      if (!chunk_.has_message() || chunk_.message().type() != raft::MessageType::MSG_SNAP ||
          chunk_.message().to() != service_->self_) {
        Fail(grpc::StatusCode::INVALID_ARGUMENT, "first chunk must carry a MSG_SNAP to us");
        return;
      }
      if (absl::Status s = service_->CheckSender(chunk_.message().from()); !s.ok()) {
        service_->CountRefusal();
        Fail(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
        return;
      }
      if (service_->faults_->Isolated(chunk_.message().from())) {
        Fail(grpc::StatusCode::UNAVAILABLE, "isolated by fault injection");
        return;
      }
      message_ = chunk_.message();
      index_ = message_.snapshot().metadata().index();
      transfer_ = service_->snapshots_->NewTransfer(
          index_, absl::StrCat("recv", service_->next_transfer_.fetch_add(1)));
    }
    v1::SnapshotChunk* c = chunk_.mutable_chunk();
    if (c->offset() != received_) {
      Fail(grpc::StatusCode::INVALID_ARGUMENT,
           absl::StrCat("chunk at offset ", c->offset(), ", expected ", received_));
      return;
    }
    crc_.Update(c->data());
    received_ += c->data().size();
    const bool last = c->done();
    const uint32_t crc = c->crc32c();
    std::string data = std::move(*c->mutable_data());
    chunk_.Clear();
    absl::Status queued = service_->snapshots_->Write(
        transfer_, std::move(data),
        [this, last, crc](absl::Status written) { OnWritten(written, last, crc); });
    if (!queued.ok()) Fail(StatusCodeOf(queued), std::string(queued.message()));
  }

  void OnDone() override { delete this; }

 private:
  static grpc::StatusCode StatusCodeOf(const absl::Status& s) {
    return static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
  }

  // Inbox thread.
  void OnWritten(const absl::Status& written, bool last, uint32_t crc) {
    if (!written.ok()) {
      Fail(grpc::StatusCode::INTERNAL, std::string(written.message()));
      return;
    }
    if (!last) {
      StartRead(&chunk_);
      return;
    }
    if (crc_.value() != crc) {
      Fail(grpc::StatusCode::DATA_LOSS, "snapshot checksum mismatch");
      return;
    }
    absl::Status queued = service_->snapshots_->Publish(
        transfer_, [this](absl::Status published) { OnPublished(published); });
    if (!queued.ok()) Fail(StatusCodeOf(queued), std::string(queued.message()));
  }

  // Inbox thread.
  void OnPublished(const absl::Status& published) {
    if (!published.ok()) {
      Fail(grpc::StatusCode::INTERNAL, std::string(published.message()));
      return;
    }
    // Debug: the raft thread logs event=snapshot_received when it installs it.
    base::Log(base::LogLevel::kDebug, "received snapshot %llu (%llu bytes) from member %llu",
              static_cast<unsigned long long>(index_), static_cast<unsigned long long>(received_),
              static_cast<unsigned long long>(message_.from()));
    std::vector<raft::Message> messages;
    messages.push_back(std::move(message_));
    service_->mailbox_->DeliverMessages(std::move(messages));
    ack_->set_code(v1::OK);
    Finish(grpc::Status::OK);
  }

  void Fail(grpc::StatusCode code, const std::string& message) {
    if (transfer_ != nullptr) service_->snapshots_->Abandon(transfer_);
    ack_->set_code(v1::INTERNAL);
    ack_->set_message(message);
    Finish(grpc::Status(code, message));
  }

  PeerService* const service_;
  v1::PeerAck* const ack_;
  v1::InstallSnapshotChunk chunk_;
  raft::Message message_;
  uint64_t index_ = 0;
  // Null until the first chunk is accepted.
  std::shared_ptr<storage::SnapshotInbox::Transfer> transfer_;
  base::Crc32cStream crc_;
  uint64_t received_ = 0;
};

grpc::ServerReadReactor<v1::InstallSnapshotChunk>* PeerService::InstallSnapshot(
    grpc::CallbackServerContext*, v1::PeerAck* response) {
  return new SnapshotReader(this, response);
}

grpc::ServerUnaryReactor* PeerService::KeepAliveBatch(grpc::CallbackServerContext* context,
                                                      const v1::KeepAliveBatchRequest* request,
                                                      v1::KeepAliveBatchResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!keep_alive_) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "sessions are not served"));
    return reactor;
  }
  absl::Status refused;
  if (request->cluster_id() != cluster_id_) {
    refused = absl::FailedPreconditionError(
        absl::StrCat("cluster id mismatch: member ", request->from(), " is in cluster ",
                     request->cluster_id(), ", this replica in ", cluster_id_));
  } else {
    refused = CheckSender(request->from());
    if (refused.ok() && is_member_ && !is_member_(request->from())) {
      refused = absl::PermissionDeniedError(
          absl::StrCat("node ", request->from(), " is not a member of this cluster"));
    }
  }
  if (!refused.ok()) {
    base::Log("session heartbeats refused: %s", std::string(refused.message()).c_str());
    CountRefusal();
    reactor->Finish(ToGrpc(refused));
    return reactor;
  }
  if (faults_->Isolated(request->from())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "isolated by fault injection"));
    return reactor;
  }
  keep_alive_(*request, response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace synod::server
