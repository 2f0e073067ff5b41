#include "client/recipes/config.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::recipes {

absl::StatusOr<std::unique_ptr<WatchedConfig>> WatchedConfig::Start(Client* client,
                                                                    std::string path,
                                                                    OnChange on_change,
                                                                    const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  std::unique_ptr<WatchedConfig> c(
      new WatchedConfig(client, std::move(path), std::move(on_change)));
  WatchedConfig* self = c.get();
  // Read first, then watch from the read's revision: a change in between is
  // an event, not a gap.
  absl::StatusOr<GetResult> first = client->Get(self->path_, {}, CallOptions{deadline});
  if (!first.ok() && ErrorCodeOf(first.status()) != ErrorCode::kNoNode) return first.status();
  WatchOptions w;
  w.kind = WatchKind::kPersistent;
  w.start_revision = first.ok() ? first->revision : client->last_revision();
  absl::StatusOr<uint64_t> id = client->Watch(
      self->path_, w,
      [self](const WatchEvent& e) {
        if (e.type != EventType::kNodeChildrenChanged) self->Refresh();
      },
      nullptr, CallOptions{deadline});
  if (!id.ok()) return id.status();
  c->watch_id_ = *id;
  {
    absl::MutexLock lock(&self->refresh_mu_);
    if (!self->reported_) {
      self->reported_ = true;
      {
        absl::MutexLock value_lock(&self->mu_);
        self->value_ = first;
      }
      self->on_change_(first);
    }
  }
  return c;
}

WatchedConfig::WatchedConfig(Client* client, std::string path, OnChange on_change)
    : client_(client),
      path_(std::move(path)),
      on_change_(std::move(on_change)),
      value_(SynodError(ErrorCode::kNoNode, "not read yet")) {}

WatchedConfig::~WatchedConfig() { client_->CancelWatch(watch_id_); }

absl::StatusOr<GetResult> WatchedConfig::value() const {
  absl::MutexLock lock(&mu_);
  return value_;
}

void WatchedConfig::Refresh() {
  absl::MutexLock lock(&refresh_mu_);
  // The client asks for at least the event's revision (it handed it out).
  absl::StatusOr<GetResult> now = client_->Get(path_);
  if (!now.ok() && ErrorCodeOf(now.status()) != ErrorCode::kNoNode) return;
  {
    absl::MutexLock value_lock(&mu_);
    const bool same = reported_ && now.ok() == value_.ok() &&
                      (!now.ok() || now->stat.mzxid == value_->stat.mzxid);
    if (same) return;
    value_ = now;
  }
  reported_ = true;
  on_change_(now);
}

absl::StatusOr<SetResult> UpdateConfig(Client& client, const std::string& path,
                                       const ConfigUpdate& update, const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  for (;;) {
    absl::StatusOr<GetResult> current = client.Get(path, {}, CallOptions{deadline});
    if (!current.ok() && ErrorCodeOf(current.status()) != ErrorCode::kNoNode) {
      return current.status();
    }
    std::optional<std::string> old;
    if (current.ok()) old = current->data;
    absl::StatusOr<std::string> next = update(old);
    if (!next.ok()) return next.status();
    ErrorCode code;
    if (current.ok()) {
      absl::StatusOr<SetResult> s =
          client.Set(path, *next, current->stat.version, CallOptions{deadline});
      if (s.ok()) return s;
      code = ErrorCodeOf(s.status());
      if (code != ErrorCode::kBadVersion && code != ErrorCode::kNoNode) return s.status();
    } else {
      absl::StatusOr<CreateResult> c = client.Create(path, *next, {}, CallOptions{deadline});
      if (c.ok()) return SetResult{c->stat, c->revision};
      code = ErrorCodeOf(c.status());
      if (code != ErrorCode::kNodeExists) return c.status();
    }
    if (absl::Now() >= deadline) {
      return SynodError(ErrorCode::kDeadlineExceeded,
                        absl::StrCat(path, " kept changing under the update"));
    }
  }
}

}  // namespace synod::recipes
