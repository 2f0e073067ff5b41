// The user and auth-switch commands of ApplyCommand (apply.h): the
// replicated AuthState (command.proto), replaced as a whole on each change
// so that readers holding the old one keep a consistent value.
//
// The rules, as command.proto states them: while auth is enabled only a
// superuser caller may change users or the switch, except that a user may
// change its own password with its role unchanged; the last superuser
// cannot be deleted or demoted while enabled; enabling needs a superuser.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "storage/apply_internal.h"

namespace synod::storage::apply_internal {
namespace {

// At most this many users (FAILED_PRECONDITION beyond): the state is held
// in memory by every replica and copied on each change.
constexpr int kMaxUsers = 1000;
constexpr size_t kMaxUserNameBytes = 64;

bool ValidUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '@' || c == '-';
  });
}

// The users in name order: the index of `name`, or of where it would go.
int LowerBound(const v1::AuthState& state, std::string_view name) {
  auto it = std::lower_bound(state.users().begin(), state.users().end(), name,
                             [](const v1::User& u, std::string_view n) { return u.name() < n; });
  return static_cast<int>(it - state.users().begin());
}

const v1::User* FindUser(const v1::AuthState& state, std::string_view name) {
  int i = LowerBound(state, name);
  if (i < state.users_size() && state.users(i).name() == name) return &state.users(i);
  return nullptr;
}

int CountSuperusers(const v1::AuthState& state) {
  return static_cast<int>(std::count_if(state.users().begin(), state.users().end(),
                                        [](const v1::User& u) { return u.superuser(); }));
}

bool HoldsUser(const v1::Caller& caller, std::string_view name) {
  return std::any_of(caller.ids().begin(), caller.ids().end(), [&](const v1::Identity& id) {
    return id.scheme() == "user" && id.id() == name;
  });
}

const v1::AuthState& Current(const Overlay& st) {
  return st.meta().auth != nullptr ? *st.meta().auth : v1::AuthState::default_instance();
}

}  // namespace

void ApplyUserPut(uint64_t revision, const v1::Command& command, Overlay* st,
                  v1::CommandResult* result) {
  const v1::UserPutCommand& put = command.user_put();
  const v1::User& given = put.user();
  // A user nobody can authenticate as is a mistake, not a state.
  if (!ValidUserName(given.name()) || given.hash().empty() || given.iterations() == 0) {
    result->set_code(v1::INVALID_ARGUMENT);
    return;
  }
  const v1::AuthState& current = Current(*st);
  const v1::User* existing = FindUser(current, given.name());
  if (current.enabled() && !command.caller().superuser()) {
    // Only a password change of one's own user, role unchanged.
    const bool own_password = !put.create() && existing != nullptr &&
                              HoldsUser(command.caller(), given.name()) &&
                              existing->superuser() == given.superuser();
    if (!own_password) {
      result->set_code(v1::PERMISSION_DENIED);
      return;
    }
  }
  if (put.create() && existing != nullptr) {
    result->set_code(v1::USER_EXISTS);
    return;
  }
  if (!put.create() && existing == nullptr) {
    result->set_code(v1::USER_NOT_FOUND);
    return;
  }
  if (put.create() && current.users_size() >= kMaxUsers) {
    result->set_code(v1::FAILED_PRECONDITION);
    return;
  }
  if (current.enabled() && existing != nullptr && existing->superuser() && !given.superuser() &&
      CountSuperusers(current) == 1) {
    result->set_code(v1::FAILED_PRECONDITION);
    return;
  }
  auto next = std::make_shared<v1::AuthState>(current);
  v1::User user = given;
  const bool password_changed = existing == nullptr || existing->salt() != given.salt() ||
                                existing->hash() != given.hash() ||
                                existing->iterations() != given.iterations();
  // A token names the revision of its user's last password change, so a
  // change ends every token issued before it.
  user.set_password_revision(password_changed ? revision : existing->password_revision());
  const int at = LowerBound(*next, user.name());
  if (existing != nullptr) {
    *next->mutable_users(at) = std::move(user);
  } else {
    auto* users = next->mutable_users();
    users->Add(std::move(user));
    // Move the new last element into its place in name order.
    for (int i = users->size() - 1; i > at; --i) users->SwapElements(i, i - 1);
  }
  if (next->token_key().empty()) next->set_token_key(put.token_key());
  st->SetAuth(std::move(next));
  result->set_code(v1::OK);
}

void ApplyUserDelete(const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  const std::string& name = command.user_delete().name();
  if (!ValidUserName(name)) {
    result->set_code(v1::INVALID_ARGUMENT);
    return;
  }
  const v1::AuthState& current = Current(*st);
  if (current.enabled() && !command.caller().superuser()) {
    result->set_code(v1::PERMISSION_DENIED);
    return;
  }
  const v1::User* existing = FindUser(current, name);
  if (existing == nullptr) {
    result->set_code(v1::USER_NOT_FOUND);
    return;
  }
  if (current.enabled() && existing->superuser() && CountSuperusers(current) == 1) {
    result->set_code(v1::FAILED_PRECONDITION);
    return;
  }
  auto next = std::make_shared<v1::AuthState>(current);
  next->mutable_users()->DeleteSubrange(LowerBound(current, name), 1);
  st->SetAuth(std::move(next));
  result->set_code(v1::OK);
}

void ApplyAuthSet(const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  const v1::AuthSetCommand& set = command.auth_set();
  const v1::AuthState& current = Current(*st);
  if (current.enabled() && !command.caller().superuser()) {
    result->set_code(v1::PERMISSION_DENIED);
    return;
  }
  if (set.enabled()) {
    // Tokens are checked with this key on every replica: it must be there.
    if (set.token_key().empty()) {
      result->set_code(v1::INVALID_ARGUMENT);
      return;
    }
    if (CountSuperusers(current) == 0) {
      result->set_code(v1::FAILED_PRECONDITION);
      return;
    }
  }
  result->set_code(v1::OK);
  if (!set.enabled() && !current.enabled()) return;  // nothing changes
  auto next = std::make_shared<v1::AuthState>(current);
  next->set_enabled(set.enabled());
  if (set.enabled()) next->set_token_key(set.token_key());
  st->SetAuth(std::move(next));
}

}  // namespace synod::storage::apply_internal
