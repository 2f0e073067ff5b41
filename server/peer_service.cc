#include "server/peer_service.h"

#include <cstdio>
#include <fstream>
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
    if (!started_) {
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
      temp_path_ = service_->snapshots_->TempPathFor(
          index_, absl::StrCat("recv", service_->next_transfer_.fetch_add(1)));
      out_.open(temp_path_, std::ios::binary | std::ios::trunc);
      if (!out_) {
        Fail(grpc::StatusCode::INTERNAL, "cannot create " + temp_path_);
        return;
      }
      started_ = true;
    }
    const v1::SnapshotChunk& c = chunk_.chunk();
    if (c.offset() != received_) {
      Fail(grpc::StatusCode::INVALID_ARGUMENT,
           absl::StrCat("chunk at offset ", c.offset(), ", expected ", received_));
      return;
    }
    out_.write(c.data().data(), static_cast<std::streamsize>(c.data().size()));
    if (!out_) {
      Fail(grpc::StatusCode::INTERNAL, "write " + temp_path_);
      return;
    }
    crc_.Update(c.data());
    received_ += c.data().size();
    if (!c.done()) {
      chunk_.Clear();
      StartRead(&chunk_);
      return;
    }
    out_.close();
    if (!out_) {
      Fail(grpc::StatusCode::INTERNAL, "close " + temp_path_);
      return;
    }
    if (crc_.value() != c.crc32c()) {
      Fail(grpc::StatusCode::DATA_LOSS, "snapshot checksum mismatch");
      return;
    }
    if (absl::Status s = service_->snapshots_->Publish(temp_path_, index_); !s.ok()) {
      Fail(grpc::StatusCode::INTERNAL, std::string(s.message()));
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

  void OnDone() override { delete this; }

 private:
  void Fail(grpc::StatusCode code, const std::string& message) {
    if (out_.is_open()) out_.close();
    if (!temp_path_.empty()) std::remove(temp_path_.c_str());
    ack_->set_code(v1::INTERNAL);
    ack_->set_message(message);
    Finish(grpc::Status(code, message));
  }

  PeerService* const service_;
  v1::PeerAck* const ack_;
  v1::InstallSnapshotChunk chunk_;
  bool started_ = false;
  raft::Message message_;
  uint64_t index_ = 0;
  std::string temp_path_;
  std::ofstream out_;
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
