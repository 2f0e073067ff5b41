#include "client/recipes/line.h"

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace synod::recipes {
namespace {

std::string ParentOf(const std::string& path) {
  const size_t pos = path.rfind('/');
  return pos == 0 || pos == std::string::npos ? "/" : path.substr(0, pos);
}

// Wakes a waiter from any thread, once or more.
class Wakeup {
 public:
  void Wake() {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }
  // True if woken before `deadline`; looks at `stop` every 50 ms.
  bool Wait(absl::Time deadline, const absl::Notification* stop) {
    absl::MutexLock lock(&mu_);
    while (!woken_) {
      if (stop != nullptr && stop->HasBeenNotified()) return false;
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      mu_.AwaitWithDeadline(absl::Condition(&woken_),
                            std::min(deadline, now + absl::Milliseconds(50)));
    }
    return true;
  }

 private:
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::optional<uint64_t> SequenceOf(absl::string_view name) {
  if (name.size() < 10) return std::nullopt;
  absl::string_view digits = name.substr(name.size() - 10);
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(digits, &v)) return std::nullopt;
  return v;
}

std::vector<std::string> SortBySequence(std::vector<std::string> names) {
  std::erase_if(names, [](const std::string& n) { return !SequenceOf(n).has_value(); });
  std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return *SequenceOf(a) < *SequenceOf(b);
  });
  return names;
}

absl::Status EnsureNode(Client& client, const std::string& path, CreateMode mode,
                        absl::Time deadline) {
  if (path == "/") return absl::OkStatus();
  for (int attempt = 0; attempt < 10; ++attempt) {
    absl::StatusOr<CreateResult> c = client.Create(path, "", {mode}, CallOptions{deadline});
    const ErrorCode code = ErrorCodeOf(c.status());
    if (code == ErrorCode::kOk || code == ErrorCode::kNodeExists) return absl::OkStatus();
    if (code != ErrorCode::kNoNode) return c.status();
    if (absl::Status s = EnsureNode(client, ParentOf(path), mode, deadline); !s.ok()) return s;
  }
  return SynodError(ErrorCode::kUnavailable,
                    absl::StrCat("could not create ", path, ": its parent keeps vanishing"));
}

absl::Status EnsureContainer(Client& client, const std::string& path, absl::Time deadline) {
  return EnsureNode(client, path, CreateMode::kContainer, deadline);
}

absl::StatusOr<Ticket> TakeTicket(Client& client, const std::string& dir, const std::string& prefix,
                                  const std::string& data, absl::Time deadline) {
  // A container directory is removed by the server once its last child
  // goes, possibly between our EnsureContainer and our create: retry.
  for (int attempt = 0; attempt < 10; ++attempt) {
    absl::StatusOr<CreateResult> c =
        client.Create(absl::StrCat(dir, "/", prefix), data, {CreateMode::kEphemeralSequential},
                      CallOptions{deadline});
    if (c.ok()) {
      return Ticket{c->path, c->path.substr(c->path.rfind('/') + 1), c->stat.czxid};
    }
    if (ErrorCodeOf(c.status()) != ErrorCode::kNoNode) return c.status();
    if (absl::Status s = EnsureContainer(client, dir, deadline); !s.ok()) return s;
  }
  return SynodError(ErrorCode::kUnavailable, absl::StrCat("could not create a ticket under ", dir));
}

std::optional<std::string> PredecessorBlocks(const std::vector<std::string>& line, size_t mine) {
  if (mine == 0) return std::nullopt;
  return line[mine - 1];
}

absl::Status WaitForTurn(Client& client, const std::string& dir, const Ticket& ticket,
                         const Blocker& blocker, absl::Time deadline, bool wait,
                         const absl::Notification* stop) {
  for (;;) {
    if (stop != nullptr && stop->HasBeenNotified()) return absl::CancelledError("stopped");
    absl::StatusOr<ChildrenResult> kids = client.GetChildren(dir, {}, CallOptions{deadline});
    // The container directory goes with its last child, ours included.
    if (ErrorCodeOf(kids.status()) == ErrorCode::kNoNode) {
      return SynodError(ErrorCode::kSessionExpired,
                        absl::StrCat(ticket.path, " is gone: the session ended"));
    }
    if (!kids.ok()) return kids.status();
    const std::vector<std::string> line = SortBySequence(std::move(kids->children));
    auto me = std::find(line.begin(), line.end(), ticket.name);
    if (me == line.end()) {
      return SynodError(ErrorCode::kSessionExpired,
                        absl::StrCat(ticket.path, " is gone: the session ended"));
    }
    std::optional<std::string> block = blocker(line, static_cast<size_t>(me - line.begin()));
    if (!block.has_value()) return absl::OkStatus();
    if (!wait) return absl::FailedPreconditionError(absl::StrCat("waiting for ", *block));

    const std::string blocker_path = absl::StrCat(dir, "/", *block);
    absl::StatusOr<ExistsResult> ex = client.Exists(blocker_path, {}, CallOptions{deadline});
    if (!ex.ok()) return ex.status();
    if (!ex->exists) continue;
    auto wake = std::make_shared<Wakeup>();
    const int listener = client.AddSessionListener([wake](SessionState s, uint64_t) {
      if (s == SessionState::kExpired) wake->Wake();
    });
    WatchOptions w;
    w.kind = WatchKind::kExists;
    w.start_revision = ex->revision;  // a deletion right after the read counts
    absl::StatusOr<uint64_t> id = client.Watch(
        blocker_path, w, [wake](const WatchEvent&) { wake->Wake(); },
        [wake](const absl::Status&) { wake->Wake(); }, CallOptions{deadline});
    bool woken = false;
    if (id.ok()) woken = wake->Wait(deadline, stop);
    client.RemoveSessionListener(listener);
    if (!id.ok()) return id.status();
    client.CancelWatch(*id);
    if (!woken) {
      if (stop != nullptr && stop->HasBeenNotified()) return absl::CancelledError("stopped");
      return SynodError(ErrorCode::kDeadlineExceeded,
                        absl::StrCat("still waiting for ", blocker_path));
    }
  }
}

}  // namespace synod::recipes
