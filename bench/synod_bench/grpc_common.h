// What the two gRPC drivers (Synod, etcd) share: deadlines, a data channel
// with its own TCP connection per load connection, and control-plane
// channels kept for the driver's life with the "ask every endpoint who
// leads" loop.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/status.h"

namespace synod::bench {

inline std::chrono::system_clock::time_point DeadlineIn(int ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

// A failed call as the error of the step `what` of a workload.
inline absl::Status CallError(const char* what, const grpc::Status& s) {
  return absl::UnavailableError(
      absl::StrCat(what, ": grpc ", s.error_code(), ": ", s.error_message()));
}

// Each load connection gets its own TCP connection, as separate client
// processes would. `creds`: plaintext when null.
inline std::shared_ptr<grpc::Channel> OwnConnectionChannel(
    const std::string& endpoint, int index,
    const std::shared_ptr<grpc::ChannelCredentials>& creds = nullptr) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("synod.bench.connection", index);
  return grpc::CreateCustomChannel(endpoint, creds ? creds : grpc::InsecureChannelCredentials(),
                                   args);
}

// Thread: the driver's (main) thread.
class ControlChannels {
 public:
  // `creds`: plaintext when null.
  explicit ControlChannels(std::shared_ptr<grpc::ChannelCredentials> creds = nullptr)
      : creds_(creds ? std::move(creds) : grpc::InsecureChannelCredentials()) {}

  // Kept for the driver's life: gRPC 1.51 aborts if a process drops its last
  // channel and then makes a new one.
  std::shared_ptr<grpc::Channel> Channel(const std::string& endpoint) {
    auto& ch = channels_[endpoint];
    if (!ch) ch = grpc::CreateChannel(endpoint, creds_);
    return ch;
  }

  // Asks each endpoint in turn, `ask(channel, context)` answering whether it
  // leads (or why it could not tell); returns the first that does.
  template <typename Ask>
  absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints,
                                         const char* system, Ask ask) {
    std::string last_error = "no endpoints";
    for (const std::string& e : endpoints) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(2000));
      absl::StatusOr<bool> leads = ask(Channel(e), &ctx);
      if (!leads.ok()) {
        last_error = absl::StrCat(e, ": ", leads.status().message());
        continue;
      }
      if (*leads) return e;
    }
    return absl::UnavailableError(
        absl::StrCat("no ", system, " leader among endpoints (", last_error, ")"));
  }

 private:
  const std::shared_ptr<grpc::ChannelCredentials> creds_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace synod::bench
