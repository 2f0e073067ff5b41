#include "client/recipes/group.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/recipes/line.h"

namespace synod::recipes {

absl::StatusOr<std::vector<GroupMemberInfo>> ListMembers(Client& client, const std::string& group,
                                                         const CallOptions& call) {
  absl::StatusOr<ChildrenResult> kids = client.GetChildren(group, {}, call);
  if (!kids.ok()) {
    if (ErrorCodeOf(kids.status()) == ErrorCode::kNoNode) {
      return std::vector<GroupMemberInfo>();
    }
    return kids.status();
  }
  std::vector<GroupMemberInfo> out;
  for (const std::string& id : kids->children) {
    absl::StatusOr<GetResult> got = client.Get(absl::StrCat(group, "/", id), {}, call);
    if (!got.ok()) {
      if (ErrorCodeOf(got.status()) == ErrorCode::kNoNode) continue;  // left meanwhile
      return got.status();
    }
    out.push_back(GroupMemberInfo{id, std::move(got->data), got->stat.ephemeral_owner});
  }
  return out;
}

GroupMember::GroupMember(Client* client, std::string group, std::string id, std::string data)
    : client_(client),
      group_(std::move(group)),
      path_(absl::StrCat(group_, "/", id)),
      data_(std::move(data)) {
  listener_ = client_->AddSessionListener([this](SessionState s, uint64_t) {
    if (s != SessionState::kExpired) return;
    {
      absl::MutexLock lock(&mu_);
      if (!joined_) return;
    }
    // The node went with the session: come back under the next one (this
    // opens it). If that fails (the cluster is unreachable now, or another
    // member took the id meanwhile), the member is out until Join is called
    // again: a listener has no caller to report to.
    absl::StatusOr<CreateResult> c = client_->Create(path_, data_, {CreateMode::kEphemeral},
                                                     CallOptions::Timeout(absl::Seconds(10)));
    if (!c.ok()) {
      absl::MutexLock lock(&mu_);
      joined_ = false;
    }
  });
}

GroupMember::~GroupMember() {
  client_->RemoveSessionListener(listener_);
  // Best effort (a destructor cannot report): a node left behind is
  // ephemeral and goes when the session ends.
  Leave(CallOptions::Timeout(absl::Seconds(2))).IgnoreError();
}

absl::Status GroupMember::Join(const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  if (absl::Status s = EnsureNode(*client_, group_, CreateMode::kPersistent, deadline); !s.ok()) {
    return s;
  }
  absl::StatusOr<CreateResult> c =
      client_->Create(path_, data_, {CreateMode::kEphemeral}, CallOptions{deadline});
  if (!c.ok()) return c.status();
  absl::MutexLock lock(&mu_);
  joined_ = true;
  return absl::OkStatus();
}

absl::Status GroupMember::Leave(const CallOptions& call) {
  {
    absl::MutexLock lock(&mu_);
    if (!joined_) return absl::OkStatus();
    joined_ = false;
  }
  absl::StatusOr<DeleteResult> d = client_->Delete(path_, -1, call);
  if (!d.ok() && ErrorCodeOf(d.status()) != ErrorCode::kNoNode) return d.status();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GroupWatcher>> GroupWatcher::Start(Client* client, std::string group,
                                                                  OnChange on_change,
                                                                  const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  if (absl::Status s = EnsureNode(*client, group, CreateMode::kPersistent, deadline); !s.ok()) {
    return s;
  }
  std::unique_ptr<GroupWatcher> w(new GroupWatcher(client, std::move(group), std::move(on_change)));
  GroupWatcher* self = w.get();
  // Persistent, not recursive: the member list changing is what matters,
  // not members changing their own data.
  absl::StatusOr<uint64_t> id = client->Watch(
      self->group_, {WatchKind::kPersistent}, [self](const WatchEvent&) { self->Refresh(); },
      nullptr, CallOptions{deadline});
  if (!id.ok()) return id.status();
  w->watch_id_ = *id;
  w->Refresh();
  return w;
}

GroupWatcher::GroupWatcher(Client* client, std::string group, OnChange on_change)
    : client_(client), group_(std::move(group)), on_change_(std::move(on_change)) {}

GroupWatcher::~GroupWatcher() { client_->CancelWatch(watch_id_); }

std::vector<GroupMemberInfo> GroupWatcher::members() const {
  absl::MutexLock lock(&mu_);
  return members_;
}

void GroupWatcher::Refresh() {
  absl::MutexLock lock(&refresh_mu_);
  absl::StatusOr<std::vector<GroupMemberInfo>> now = ListMembers(*client_, group_);
  if (!now.ok()) return;  // the next event refreshes again
  {
    absl::MutexLock members_lock(&mu_);
    if (reported_ && *now == members_) return;
    members_ = *now;
  }
  reported_ = true;
  on_change_(*now);
}

}  // namespace synod::recipes
