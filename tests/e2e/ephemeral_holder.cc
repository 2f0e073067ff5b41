// ephemeral_holder: a client process for the session tests, meant to be
// killed with -9. It opens a session on one replica, creates an ephemeral
// node with it, prints "ready <session id>" and then heartbeats the session
// until it is killed, so the node lives exactly as long as this process.
//
// Usage: ephemeral_holder <replica client addr> <path> <session timeout ms>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/e2e/session_calls.h"
#include "tests/e2e/test_cluster.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <addr> <path> <session timeout ms>\n", argv[0]);
    return 2;
  }
  using namespace synod;  // NOLINT(build/namespaces): a small test program
  const std::string addr = argv[1];
  const std::string path = argv[2];
  const int64_t timeout_ms = std::atoll(argv[3]);
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());

  v1::OpenSessionResponse session = e2e::OpenSession(channel, timeout_ms);
  if (session.header().code() != v1::OK) {
    std::fprintf(stderr, "open failed: %s\n", session.header().DebugString().c_str());
    return 1;
  }
  auto tree = v1::Tree::NewStub(channel);
  v1::CreateRequest create;
  create.mutable_op()->set_path(path);
  create.mutable_op()->set_mode(v1::EPHEMERAL);
  create.mutable_write()->set_session_id(session.session_id());
  create.mutable_write()->set_sequence(1);
  create.mutable_write()->set_session_secret(session.secret());
  v1::CreateResponse created;
  // Retried with the same sequence: the session table answers a duplicate.
  v1::ErrorCode code = v1::UNAVAILABLE;
  for (int attempt = 0; attempt < 50 && code != v1::OK; ++attempt) {
    grpc::Status status = tree->Create(e2e::Ctx().get(), create, &created);
    code = e2e::CodeOf(status, created.header());
    if (code != v1::OK && code != v1::UNAVAILABLE && code != v1::DEADLINE_EXCEEDED) break;
    if (code != v1::OK) absl::SleepFor(absl::Milliseconds(100));
  }
  if (code != v1::OK) {
    std::fprintf(stderr, "create failed: %s\n", v1::ErrorCode_Name(code).c_str());
    return 1;
  }
  e2e::Heartbeater beats(channel, session.session_id(), session.secret(),
                         absl::Milliseconds(timeout_ms) / 4);
  std::printf("ready %llu\n", static_cast<unsigned long long>(session.session_id()));
  std::fflush(stdout);
  while (true) absl::SleepFor(absl::Seconds(1));
}
