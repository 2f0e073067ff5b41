#include "client/testing/fake_cluster.h"

#include "absl/strings/str_cat.h"
#include "client/testing/fake_replica.h"
#include "client/testing/fake_state.h"
#include "grpc/grpc.h"

namespace synod::client::testing {

namespace {

// Tests create and destroy many servers and channels; if gRPC shuts down
// each time the last of them goes, a sync-server thread still finishing can
// race with the next grpc_init. Keep the library up for the whole process.
void KeepGrpcInitialized() {
  static const bool initialized = [] {
    grpc_init();
    return true;
  }();
  (void)initialized;
}

}  // namespace

FakeCluster::FakeCluster() : FakeCluster(Options()) {}

FakeCluster::FakeCluster(Options options)
    : options_((KeepGrpcInitialized(), options)),
      state_(std::make_unique<FakeState>()),
      control_(std::make_unique<FakeControl>()) {
  {
    absl::MutexLock lock(&control_->mu);
    control_->leader = options_.leader;
  }
  for (int i = 0; i < options_.replicas; ++i) {
    auto r = std::make_unique<FakeReplica>(options_, state_.get(), control_.get(), i + 1);
    r->Start();
    replicas_.push_back(std::move(r));
  }
  absl::MutexLock lock(&control_->mu);
  for (int i = 0; i < options_.replicas; ++i) {
    v1::Member m;
    m.set_id(i + 1);
    m.set_peer_addr(absl::StrCat("127.0.0.1:", 17100 + i));
    m.set_client_addr(absl::StrCat("127.0.0.1:", replicas_[i]->port()));
    control_->members.push_back(m);
  }
}

FakeCluster::~FakeCluster() {
  ReleaseHangs();
  for (auto& r : replicas_) r->Stop();
}

std::vector<std::string> FakeCluster::endpoints() const {
  std::vector<std::string> out;
  for (const auto& r : replicas_) out.push_back(absl::StrCat("127.0.0.1:", r->port()));
  return out;
}

std::string FakeCluster::endpoint(uint64_t member) const {
  return absl::StrCat("127.0.0.1:", replicas_.at(member - 1)->port());
}

void FakeCluster::Stop(uint64_t member) {
  {
    absl::MutexLock lock(&control_->mu);
    control_->stopped.insert(member);
  }
  replicas_.at(member - 1)->Stop();
}

void FakeCluster::Restart(uint64_t member) {
  replicas_.at(member - 1)->Start();
  absl::MutexLock lock(&control_->mu);
  control_->stopped.erase(member);
}

void FakeCluster::FailNext(uint64_t member, const std::string& method, int count, ErrorCode code) {
  absl::MutexLock lock(&control_->mu);
  control_->fail_next[{member, method}] = {count, code};
}

void FakeCluster::FailAfterApply(uint64_t member, const std::string& method, int count,
                                 ErrorCode code) {
  absl::MutexLock lock(&control_->mu);
  control_->fail_after[{member, method}] = {count, code};
}

void FakeCluster::Hang(uint64_t member, const std::string& method) {
  absl::MutexLock lock(&control_->mu);
  control_->hung.insert({member, method});
}

void FakeCluster::Delay(const std::string& method, absl::Duration delay) {
  absl::MutexLock lock(&control_->mu);
  control_->delayed.insert(method);
  control_->delay = delay;
}

void FakeCluster::ReleaseHangs() {
  absl::MutexLock lock(&control_->mu);
  control_->hung.clear();
  control_->released.SignalAll();
}

void FakeCluster::SetLeader(uint64_t member) {
  absl::MutexLock lock(&control_->mu);
  control_->leader = member;
}

void FakeCluster::BreakStreams(uint64_t member) { replicas_.at(member - 1)->BreakStreams(); }

void FakeCluster::OverflowWatches(uint64_t member) { replicas_.at(member - 1)->OverflowWatches(); }

void FakeCluster::ExpireSession(uint64_t session_id) {
  v1::Command command;
  command.mutable_expire_sessions()->add_session_ids(session_id);
  // Always OK (an unknown id is skipped).
  state_->Propose(std::move(command));
}

void FakeCluster::Compact(uint64_t revision) {
  v1::Command command;
  command.mutable_compact_history()->set_revision(revision);
  // OK, or INVALID_ARGUMENT for a revision not reached yet: nothing changes.
  state_->Propose(std::move(command));
}

void FakeCluster::CorruptNextSnapshot() {
  absl::MutexLock lock(&control_->mu);
  control_->corrupt_next_snapshot = true;
}

int FakeCluster::calls(uint64_t member, const std::string& method) const {
  absl::MutexLock lock(&control_->mu);
  auto it = control_->calls.find({member, method});
  return it == control_->calls.end() ? 0 : it->second;
}

std::vector<std::string> FakeCluster::requests(const std::string& method) const {
  absl::MutexLock lock(&control_->mu);
  auto it = control_->requests.find(method);
  return it == control_->requests.end() ? std::vector<std::string>() : it->second;
}

int FakeCluster::applied_writes() const { return state_->applied_writes(); }

uint64_t FakeCluster::revision() const { return state_->revision(); }

std::optional<std::string> FakeCluster::data(const std::string& path) const {
  absl::StatusOr<storage::NodeResult> r = state_->store()->Get(path);
  if (!r.ok() || r->code != v1::OK) return std::nullopt;
  return std::move(r->data);
}

std::vector<uint64_t> FakeCluster::sessions() const {
  absl::StatusOr<std::vector<storage::Session>> all = state_->store()->ListSessions();
  std::vector<uint64_t> out;
  if (!all.ok()) return out;
  for (const storage::Session& s : *all) out.push_back(s.id);
  return out;
}

uint64_t FakeCluster::keepalive_member(uint64_t session_id) const {
  absl::MutexLock lock(&control_->mu);
  auto it = control_->keepalive_member.find(session_id);
  return it == control_->keepalive_member.end() ? 0 : it->second;
}

int FakeCluster::live_watch_streams() const {
  int n = 0;
  for (const auto& r : replicas_) n += r->live_watch_streams();
  return n;
}

void FakeCluster::AddUser(const std::string& name, const std::string& password,
                          bool superuser) {
  absl::MutexLock lock(&control_->mu);
  control_->users[name] = FakeControl::User{password, superuser};
}

void FakeCluster::SetTokenTtl(absl::Duration ttl) {
  absl::MutexLock lock(&control_->mu);
  control_->token_ttl = ttl;
}

void FakeCluster::ExpireTokens() {
  absl::MutexLock lock(&control_->mu);
  for (auto& [token, entry] : control_->tokens) entry.second = true;
}

void FakeCluster::RejectAllTokens() {
  absl::MutexLock lock(&control_->mu);
  control_->reject_tokens = true;
}

int FakeCluster::tokens_issued() const {
  absl::MutexLock lock(&control_->mu);
  return control_->tokens_issued;
}

bool FakeCluster::auth_enabled() const {
  absl::MutexLock lock(&control_->mu);
  return control_->auth_enabled;
}

std::vector<FakeCluster::Metadata> FakeCluster::credentials(const std::string& method) const {
  absl::MutexLock lock(&control_->mu);
  auto it = control_->credentials.find(method);
  return it == control_->credentials.end() ? std::vector<Metadata>() : it->second;
}

}  // namespace synod::client::testing
