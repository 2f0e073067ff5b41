#include "server/services/request_flow.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace synod::server {

absl::Time RequestFlow::Deadline(const grpc::CallbackServerContext* context) const {
  const absl::Time cap = absl::Now() + max_request_time_;
  const auto client = context->deadline();
  if (client == std::chrono::system_clock::time_point::max()) return cap;
  return std::min(cap, absl::FromChrono(client));
}

absl::Time RequestFlow::Deadline(absl::Duration timeout) const {
  const absl::Duration limit =
      timeout > absl::ZeroDuration() ? std::min(timeout, max_request_time_) : max_request_time_;
  return absl::Now() + limit;
}

void RequestFlow::Write(absl::Time deadline, v1::Command command, RequestTracker::Callback done) {
  if (!state_->serving()) {
    Outcome outcome;
    outcome.code = v1::UNAVAILABLE;
    outcome.message = "replica is shutting down";
    done(outcome);
    return;
  }
  RequestTracker::Admission admission;
  admission.bytes = command.ByteSizeLong();
  const uint64_t id =
      tracker_->Register(deadline, std::move(done), v1::DEADLINE_EXCEEDED, admission);
  if (id == 0) return;  // already completed (overload, shutdown)
  command.set_origin_request(id);
  driver_->Propose(std::move(command));
}

uint64_t RequestFlow::Track(absl::Time deadline, RequestTracker::Callback done,
                            v1::ErrorCode on_timeout_code) {
  if (!state_->serving()) {
    Outcome outcome;
    outcome.code = v1::UNAVAILABLE;
    outcome.message = "replica is shutting down";
    done(outcome);
    return 0;
  }
  return tracker_->Register(deadline, std::move(done), on_timeout_code);
}

void RequestFlow::WaitApplied(absl::Time deadline, uint64_t index, std::function<void()> read,
                              RequestTracker::Callback fail, bool admitted) {
  if (state_machine_->applied() >= index) {
    read();
    return;
  }
  const uint64_t known = std::max<uint64_t>(state_->commit(), state_machine_->applied());
  if (index > known && index - known > max_revision_ahead_) {
    Outcome outcome;
    outcome.code = v1::REVISION_AHEAD;
    outcome.message = absl::StrCat("min_revision ", index, " is more than ", max_revision_ahead_,
                                   " beyond the commit index ", known,
                                   " this replica knows (--max_revision_ahead)");
    fail(outcome);
    return;
  }
  // The wait is named by the request's tracker id, known once registered;
  // whichever of the request's end and the wait's start comes second
  // removes the wait.
  StateMachine* state_machine = state_machine_;
  auto key = std::make_shared<std::atomic<uint64_t>>(0);
  auto run = [read = std::move(read), fail = std::move(fail), state_machine, index,
              key](const Outcome& o) {
    if (o.code == v1::OK) {
      read();
      return;
    }
    state_machine->CancelWait(index, key->load());
    fail(o);
  };
  RequestTracker::Admission admission;
  admission.admitted = admitted;
  const uint64_t id =
      tracker_->Register(deadline, std::move(run), v1::DEADLINE_EXCEEDED, admission);
  if (id == 0) return;
  key->store(id);
  RequestTracker* tracker = tracker_;
  state_machine_->WaitApplied(
      index, [tracker, id] { tracker->Complete(id, Outcome{}); }, /*inline_ok=*/true, id);
  if (!tracker_->Pending(id)) state_machine_->CancelWait(index, id);
}

void RequestFlow::Read(absl::Time deadline, const v1::ReadOptions& options,
                       std::function<void()> read, RequestTracker::Callback fail) {
  if (!state_->serving()) {
    Outcome outcome;
    outcome.code = v1::UNAVAILABLE;
    outcome.message = "replica is shutting down";
    fail(outcome);
    return;
  }
  const uint64_t min_revision = options.min_revision();
  switch (options.consistency()) {
    case v1::SERIALIZABLE:
      WaitApplied(deadline, min_revision, std::move(read), std::move(fail), /*admitted=*/false);
      return;
    case v1::LINEARIZABLE:
      break;
    default: {
      Outcome outcome;
      outcome.code = v1::INVALID_ARGUMENT;
      outcome.message = "unknown read consistency";
      fail(outcome);
      return;
    }
  }
  // After the read index is applied, a min_revision beyond it (a client
  // that saw a newer revision elsewhere) is waited for too, within the same
  // deadline.
  auto after_index = [this, deadline, min_revision, read = std::move(read),
                      fail](const Outcome& o) mutable {
    if (o.code != v1::OK) {
      fail(o);
      return;
    }
    WaitApplied(deadline, min_revision, std::move(read), std::move(fail), /*admitted=*/true);
  };
  const uint64_t id = tracker_->Register(deadline, std::move(after_index), v1::DEADLINE_EXCEEDED);
  if (id == 0) return;
  driver_->ReadIndex(id);
}

}  // namespace synod::server
