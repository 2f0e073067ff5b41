// GrpcWatchers: watchers on one bidirectional gRPC Watch stream, for the
// drivers whose watch API is such a stream (Synod and etcd). Watch ids on
// the wire are the watcher ids plus one; `make_create` builds the request
// that registers one of them. A reader thread per stream stamps each event
// as it arrives.
//
// Thread: the reader thread calls the sink; the destructor cancels the
// stream and joins it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"

namespace synod::bench {

// The responses one message carries: itself, unless a system packs several
// into one (it then specializes this).
template <typename Response>
struct CarriedResponses {
  template <typename F>
  static void ForEach(const Response& resp, F&& f) {
    f(resp);
  }
};

// Service: the generated service class (Service::Stub, Service::NewStub).
// Response must have watch_id(), created(), canceled(), cancel_reason()
// and events_size().
template <typename Service, typename Request, typename Response>
class GrpcWatchers final : public Watchers {
 public:
  using MakeCreate = std::function<Request(const std::string& key, uint64_t watch_id)>;

  GrpcWatchers(std::shared_ptr<grpc::Channel> channel, WatchSink* sink, MakeCreate make_create)
      : channel_(std::move(channel)),
        stub_(Service::NewStub(channel_)),
        sink_(sink),
        make_create_(std::move(make_create)) {}

  absl::Status Start(const std::string& key, const std::vector<int>& ids) {
    ids_ = ids;
    stream_ = stub_->Watch(&ctx_);
    reader_ = std::thread([this] { Read(); });
    for (int id : ids) {
      if (!stream_->Write(make_create_(key, static_cast<uint64_t>(id) + 1))) {
        return absl::UnavailableError("watch stream broke");
      }
    }
    return absl::OkStatus();
  }

  ~GrpcWatchers() override {
    if (!stream_) return;
    closing_ = true;
    ctx_.TryCancel();
    reader_.join();
    stream_->Finish().IgnoreError();  // canceled on purpose
  }

 private:
  void Read() {
    Response resp;
    while (stream_->Read(&resp)) {
      const auto now = std::chrono::steady_clock::now();
      CarriedResponses<Response>::ForEach(resp, [&](const Response& one) {
        const int id = static_cast<int>(one.watch_id()) - 1;
        if (one.canceled()) {
          sink_->Lost(id, absl::StrCat("canceled: ", one.cancel_reason()));
          return;
        }
        if (one.created()) sink_->Armed(id);
        for (int i = 0; i < one.events_size(); ++i) sink_->Event(id, now, true);
      });
    }
    if (closing_) return;
    for (int id : ids_) sink_->Lost(id, "watch stream ended");
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<typename Service::Stub> stub_;
  WatchSink* const sink_;
  const MakeCreate make_create_;
  std::vector<int> ids_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream_;
  std::atomic<bool> closing_{false};
  std::thread reader_;
};

}  // namespace synod::bench
