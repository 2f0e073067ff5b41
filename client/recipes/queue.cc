#include "client/recipes/queue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/recipes/barrier.h"
#include "client/recipes/line.h"

namespace synod::recipes {
namespace {

constexpr char kItemPrefix[] = "item-";

}  // namespace

DistributedQueue::DistributedQueue(Client* client, std::string path)
    : client_(client), path_(std::move(path)) {}

absl::StatusOr<std::string> DistributedQueue::Offer(absl::string_view data,
                                                    const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<CreateResult> c =
        client_->Create(absl::StrCat(path_, "/", kItemPrefix), data,
                        {CreateMode::kPersistentSequential}, CallOptions{deadline});
    if (c.ok()) return c->path;
    if (ErrorCodeOf(c.status()) != ErrorCode::kNoNode) return c.status();
    if (absl::Status s = EnsureNode(*client_, path_, CreateMode::kPersistent, deadline); !s.ok()) {
      return s;
    }
  }
  return SynodError(ErrorCode::kNoNode, path_);
}

absl::StatusOr<std::string> DistributedQueue::PollAt(absl::Time deadline, uint64_t* revision) {
  absl::StatusOr<ChildrenResult> kids = client_->GetChildren(path_, {}, CallOptions{deadline});
  if (!kids.ok()) return kids.status();
  *revision = kids->revision;
  for (const std::string& name : SortBySequence(std::move(kids->children))) {
    const std::string item = absl::StrCat(path_, "/", name);
    absl::StatusOr<GetResult> got = client_->Get(item, {}, CallOptions{deadline});
    if (!got.ok()) {
      if (ErrorCodeOf(got.status()) == ErrorCode::kNoNode) continue;  // taken meanwhile
      return got.status();
    }
    absl::StatusOr<DeleteResult> d =
        client_->Delete(item, got->stat.version, CallOptions{deadline});
    if (d.ok()) return std::move(got->data);
    if (ErrorCodeOf(d.status()) != ErrorCode::kNoNode) return d.status();
  }
  return SynodError(ErrorCode::kNoNode, absl::StrCat(path_, " is empty"));
}

absl::StatusOr<std::string> DistributedQueue::Poll(const CallOptions& call) {
  uint64_t revision = 0;
  return PollAt(call.deadline.value_or(absl::Now() + absl::Seconds(10)), &revision);
}

absl::StatusOr<std::string> DistributedQueue::Take(absl::Time deadline,
                                                   const absl::Notification* stop) {
  if (absl::Status s = EnsureNode(*client_, path_, CreateMode::kPersistent, deadline); !s.ok()) {
    return s;
  }
  for (;;) {
    if (stop != nullptr && stop->HasBeenNotified()) return absl::CancelledError("stopped");
    uint64_t revision = 0;
    absl::StatusOr<std::string> item = PollAt(deadline, &revision);
    if (item.ok() || ErrorCodeOf(item.status()) != ErrorCode::kNoNode) return item;
    // Empty at `revision`: wait for the next change of the item list. A
    // stop is noticed at the latest a second later.
    const absl::Time until =
        stop != nullptr ? std::min(deadline, absl::Now() + absl::Seconds(1)) : deadline;
    absl::Status s = WaitForChildrenChange(*client_, path_, revision, until);
    if (!s.ok() && (until == deadline || ErrorCodeOf(s) != ErrorCode::kDeadlineExceeded)) {
      return s;
    }
  }
}

}  // namespace synod::recipes
