// Group membership: who is alive in a group of processes.
//
// A member is an ephemeral node `group/<id>` holding its data; it leaves when
// it says so or when its session ends. GroupMember joins again by itself
// after its session expired (with the next session). GroupWatcher keeps a
// live member list through a persistent watch on the group directory and
// reports every change.
//
// Thread-safety: GroupMember: one thread at a time. GroupWatcher: members()
// from any thread; its callback runs on the caller's thread for the first
// report (inside Start), then on the client's callback thread, in order.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "synod/client.h"

namespace synod::recipes {

struct GroupMemberInfo {
  std::string id;
  std::string data;
  uint64_t session_id = 0;  // the member's session (ephemeral owner)
  bool operator==(const GroupMemberInfo&) const = default;
};

// The members of `group`, sorted by id. A missing group has none.
absl::StatusOr<std::vector<GroupMemberInfo>> ListMembers(Client& client, const std::string& group,
                                                         const CallOptions& call = {});

class GroupMember {
 public:
  GroupMember(Client* client, std::string group, std::string id, std::string data);
  ~GroupMember();  // leaves (best effort)
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;

  // Errors: NODE_EXISTS when another live member has this id.
  absl::Status Join(const CallOptions& call = {});
  absl::Status Leave(const CallOptions& call = {});

 private:
  Client* const client_;
  const std::string group_;
  const std::string path_;
  const std::string data_;
  int listener_ = 0;
  absl::Mutex mu_;
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
};

class GroupWatcher {
 public:
  using OnChange = std::function<void(const std::vector<GroupMemberInfo>& members)>;
  // Reports the current members first, then every change.
  static absl::StatusOr<std::unique_ptr<GroupWatcher>> Start(Client* client, std::string group,
                                                             OnChange on_change,
                                                             const CallOptions& call = {});
  ~GroupWatcher();
  std::vector<GroupMemberInfo> members() const;

 private:
  GroupWatcher(Client* client, std::string group, OnChange on_change);
  void Refresh();

  Client* const client_;
  const std::string group_;
  const OnChange on_change_;
  uint64_t watch_id_ = 0;
  // Held through a whole refresh (read + report) so reports keep their
  // order; taken before mu_.
  absl::Mutex refresh_mu_;
  bool reported_ ABSL_GUARDED_BY(refresh_mu_) = false;
  mutable absl::Mutex mu_;
  std::vector<GroupMemberInfo> members_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::recipes
