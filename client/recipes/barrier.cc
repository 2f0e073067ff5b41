#include "client/recipes/barrier.h"

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/recipes/line.h"

namespace synod::recipes {
namespace {

constexpr char kReady[] = "ready";

// Waits for one event of a one-shot watch (or its end).
absl::Status WaitForWatch(Client& client, const std::string& path, WatchKind kind,
                          uint64_t revision, absl::Time deadline) {
  auto fired = std::make_shared<absl::Notification>();
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto wake = [fired, once] {
    if (!once->exchange(true)) fired->Notify();
  };
  WatchOptions w;
  w.kind = kind;
  w.start_revision = revision;
  absl::StatusOr<uint64_t> id = client.Watch(
      path, w, [wake](const WatchEvent&) { wake(); }, [wake](const absl::Status&) { wake(); },
      CallOptions{deadline});
  if (!id.ok()) return id.status();
  const bool ok = fired->WaitForNotificationWithDeadline(deadline);
  client.CancelWatch(*id);
  if (!ok) return SynodError(ErrorCode::kDeadlineExceeded, absl::StrCat("waiting on ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status WaitForNode(Client& client, const std::string& path,
                         const std::function<bool(bool exists)>& done, absl::Time deadline) {
  for (;;) {
    absl::StatusOr<ExistsResult> ex = client.Exists(path, {}, CallOptions{deadline});
    if (!ex.ok()) return ex.status();
    if (done(ex->exists)) return absl::OkStatus();
    if (absl::Status s = WaitForWatch(client, path, WatchKind::kExists, ex->revision, deadline);
        !s.ok()) {
      return s;
    }
  }
}

absl::Status WaitForChildrenChange(Client& client, const std::string& path, uint64_t revision,
                                   absl::Time deadline) {
  return WaitForWatch(client, path, WatchKind::kChildren, revision, deadline);
}

Barrier::Barrier(Client* client, std::string path) : client_(client), path_(std::move(path)) {}

absl::Status Barrier::Set(const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  const size_t slash = path_.rfind('/');
  if (slash > 0) {
    if (absl::Status s = EnsureContainer(*client_, path_.substr(0, slash), deadline); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<CreateResult> c = client_->Create(path_, "", {}, CallOptions{deadline});
  if (!c.ok() && ErrorCodeOf(c.status()) != ErrorCode::kNodeExists) return c.status();
  return absl::OkStatus();
}

absl::Status Barrier::Remove(const CallOptions& call) {
  absl::StatusOr<DeleteResult> d = client_->Delete(path_, -1, call);
  if (!d.ok() && ErrorCodeOf(d.status()) != ErrorCode::kNoNode) return d.status();
  return absl::OkStatus();
}

absl::Status Barrier::Wait(absl::Time deadline) {
  return WaitForNode(
      *client_, path_, [](bool exists) { return !exists; }, deadline);
}

DoubleBarrier::DoubleBarrier(Client* client, std::string path, std::string name, int count)
    : client_(client), path_(std::move(path)), name_(std::move(name)), count_(count) {}

absl::StatusOr<DoubleBarrier::Listing> DoubleBarrier::List(absl::Time deadline) {
  absl::StatusOr<ChildrenResult> kids = client_->GetChildren(path_, {}, CallOptions{deadline});
  if (!kids.ok()) return kids.status();
  Listing out;
  out.revision = kids->revision;
  for (const std::string& c : kids->children) {
    if (c == kReady) {
      out.ready = true;
    } else {
      ++out.participants;
    }
  }
  return out;
}

absl::Status DoubleBarrier::Enter(absl::Time deadline) {
  if (absl::Status s = EnsureContainer(*client_, path_, deadline); !s.ok()) return s;
  absl::StatusOr<CreateResult> me = client_->Create(
      absl::StrCat(path_, "/", name_), "", {CreateMode::kEphemeral}, CallOptions{deadline});
  if (!me.ok() && ErrorCodeOf(me.status()) != ErrorCode::kNodeExists) return me.status();
  for (;;) {
    // One listing tells both the count and "ready" at one revision, and the
    // wait starts from that revision: "ready" appearing later (even if its
    // creator left right after) is a children change that wakes us.
    absl::StatusOr<Listing> l = List(deadline);
    if (!l.ok()) return l.status();
    if (l->ready) return absl::OkStatus();
    if (l->participants >= count_) {
      absl::StatusOr<CreateResult> c =
          client_->Create(absl::StrCat(path_, "/", kReady), "", {}, CallOptions{deadline});
      if (!c.ok() && ErrorCodeOf(c.status()) != ErrorCode::kNodeExists) return c.status();
      return absl::OkStatus();
    }
    if (absl::Status s = WaitForChildrenChange(*client_, path_, l->revision, deadline); !s.ok()) {
      return s;
    }
  }
}

absl::Status DoubleBarrier::Leave(absl::Time deadline) {
  absl::StatusOr<DeleteResult> d =
      client_->Delete(absl::StrCat(path_, "/", name_), -1, CallOptions{deadline});
  if (!d.ok() && ErrorCodeOf(d.status()) != ErrorCode::kNoNode) return d.status();
  for (;;) {
    absl::StatusOr<Listing> l = List(deadline);
    if (!l.ok()) {
      // The directory is a container: gone once everybody left.
      if (ErrorCodeOf(l.status()) == ErrorCode::kNoNode) return absl::OkStatus();
      return l.status();
    }
    if (l->participants == 0) {
      absl::StatusOr<DeleteResult> r =
          client_->Delete(absl::StrCat(path_, "/", kReady), -1, CallOptions{deadline});
      if (!r.ok() && ErrorCodeOf(r.status()) != ErrorCode::kNoNode) return r.status();
      return absl::OkStatus();
    }
    if (absl::Status s = WaitForChildrenChange(*client_, path_, l->revision, deadline); !s.ok()) {
      return s;
    }
  }
}

}  // namespace synod::recipes
