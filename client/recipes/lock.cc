#include "client/recipes/lock.h"

#include <utility>

#include "absl/strings/match.h"

namespace synod::recipes {
namespace {

constexpr char kLockPrefix[] = "lock-";
constexpr char kReadPrefix[] = "read-";
constexpr char kWritePrefix[] = "write-";

// A reader waits for the last writer queued before it.
std::optional<std::string> LastWriterBefore(const std::vector<std::string>& line, size_t mine) {
  for (size_t i = mine; i-- > 0;) {
    if (absl::StartsWith(line[i], kWritePrefix)) return line[i];
  }
  return std::nullopt;
}

}  // namespace

Lock::Lock(Client* client, std::string path)
    : Lock(client, std::move(path), kLockPrefix, PredecessorBlocks) {}

Lock::Lock(Client* client, std::string path, std::string prefix, Blocker blocker)
    : client_(client),
      path_(std::move(path)),
      prefix_(std::move(prefix)),
      blocker_(std::move(blocker)) {
  listener_ = client_->AddSessionListener([this](SessionState s, uint64_t) {
    if (s != SessionState::kExpired) return;
    std::function<void()> lost;
    {
      absl::MutexLock lock(&mu_);
      if (!held_.has_value()) return;
      held_.reset();
      lost = on_lost_;
    }
    if (lost) lost();
  });
}

Lock::~Lock() {
  client_->RemoveSessionListener(listener_);
  // Best effort (a destructor cannot report): a ticket left behind is
  // ephemeral and goes when the session ends, which frees the lock.
  Release(CallOptions::Timeout(absl::Seconds(2))).IgnoreError();
}

absl::StatusOr<uint64_t> Lock::Acquire(absl::Time deadline, const absl::Notification* stop) {
  return AcquireImpl(deadline, true, stop);
}

absl::StatusOr<uint64_t> Lock::TryAcquire(const CallOptions& call) {
  return AcquireImpl(call.deadline.value_or(absl::Now() + absl::Seconds(10)), false, nullptr);
}

absl::StatusOr<uint64_t> Lock::AcquireImpl(absl::Time deadline, bool wait,
                                           const absl::Notification* stop) {
  {
    absl::MutexLock lock(&mu_);
    if (held_.has_value()) return held_->czxid;
  }
  absl::StatusOr<Ticket> ticket = TakeTicket(*client_, path_, prefix_, "", deadline);
  if (!ticket.ok()) return ticket.status();
  absl::Status turn = WaitForTurn(*client_, path_, *ticket, blocker_, deadline, wait, stop);
  if (!turn.ok()) {
    // Leave the line: a ticket left behind would block everyone after it
    // until our session ends. Use a fresh deadline: ours may be spent.
    if (ErrorCodeOf(turn) != ErrorCode::kSessionExpired) {
      // The caller learns why the wait failed; should the delete fail too,
      // the ticket is ephemeral and goes with the session, as above.
      client_->Delete(ticket->path, -1, CallOptions::Timeout(absl::Seconds(5))).IgnoreError();
    }
    return turn;
  }
  absl::MutexLock lock(&mu_);
  held_ = *ticket;
  return ticket->czxid;
}

absl::Status Lock::Release(const CallOptions& call) {
  std::optional<Ticket> held;
  {
    absl::MutexLock lock(&mu_);
    held.swap(held_);
  }
  if (!held.has_value()) return absl::OkStatus();
  absl::StatusOr<DeleteResult> d = client_->Delete(held->path, -1, call);
  if (!d.ok() && ErrorCodeOf(d.status()) != ErrorCode::kNoNode) return d.status();
  return absl::OkStatus();
}

bool Lock::held() const {
  absl::MutexLock lock(&mu_);
  return held_.has_value();
}

uint64_t Lock::token() const {
  absl::MutexLock lock(&mu_);
  return held_.has_value() ? held_->czxid : 0;
}

void Lock::set_on_lost(std::function<void()> on_lost) {
  absl::MutexLock lock(&mu_);
  on_lost_ = std::move(on_lost);
}

ReadWriteLock::ReadWriteLock(Client* client, std::string path)
    : read_(client, path, kReadPrefix, LastWriterBefore),
      write_(client, path, kWritePrefix, PredecessorBlocks) {}

}  // namespace synod::recipes
