#include "client/testing/fake_state.h"

#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "storage/cluster_settings.h"
#include "storage/path.h"

namespace synod::client::testing {
namespace {

server::WatchHubOptions HubOptions() {
  server::WatchHubOptions o;
  // The server's check (server/replica.cc passes the same function).
  o.validate_path = [](std::string_view path) { return storage::ValidatePath(path); };
  return o;
}

}  // namespace

FakeState::FakeState()
    : applier_(&store_, storage::ApplyLimits()),
      history_(&store_),
      hub_(std::make_unique<server::WatchHub>(HubOptions(), &history_, &catch_up_, 0)) {
  storage::ClusterSettings settings;
  settings.min_session_timeout_ms = 1;
  v1::Command bootstrap;
  v1::SetSettingsCommand* set = bootstrap.mutable_set_settings();
  set->set_bootstrap(true);
  storage::ToProto(settings, set->mutable_settings());
  const v1::CommandResult r = Propose(std::move(bootstrap));
  if (r.code() != v1::OK) {
    std::fprintf(stderr, "FakeState: settings bootstrap failed: %s\n",
                 v1::ErrorCode_Name(r.code()).c_str());
    std::abort();
  }
}

FakeState::~FakeState() {
  catch_up_.Stop();
  hub_.reset();
}

v1::CommandResult FakeState::Propose(v1::Command command, uint64_t* revision) {
  absl::MutexLock lock(&mu_);
  command.set_leader_time_ms(absl::ToUnixMillis(absl::Now()));
  const uint64_t index = revision_ + 1;
  const storage::ApplyEntry entry{index, &command};
  absl::StatusOr<std::vector<storage::EntryOutcome>> applied = applier_.ApplyBatch({&entry, 1});
  v1::CommandResult result;
  if (!applied.ok() || applied->size() != 1) {
    // The entry's fate is unknown to the log; the fake has no replica to
    // stop, so it answers as the server does a storage failure.
    result.set_code(applied.status().code() == absl::StatusCode::kDataLoss ? v1::DATA_LOSS
                                                                           : v1::INTERNAL);
    return result;
  }
  storage::EntryOutcome& outcome = applied->front();
  revision_ = index;
  if (revision != nullptr) *revision = index;
  if (command.has_txn() && !outcome.events.empty()) ++applied_writes_;
  hub_->OnApplied(index, outcome.events);
  // As the server's ApplyFanout: a session that ends takes its watches.
  if (command.has_close_session() && outcome.result.code() == v1::OK) {
    hub_->CancelSession(command.close_session().session_id());
  }
  if (command.has_expire_sessions()) {
    for (uint64_t id : command.expire_sessions().session_ids()) hub_->CancelSession(id);
  }
  return std::move(outcome.result);
}

uint64_t FakeState::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

bool FakeState::AwaitRevision(uint64_t revision, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, revision]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return revision_ >= revision;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
}

int FakeState::applied_writes() const {
  absl::MutexLock lock(&mu_);
  return applied_writes_;
}

}  // namespace synod::client::testing
