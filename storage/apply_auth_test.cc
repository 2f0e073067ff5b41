// The replicated auth state, over both backends: every rule of
// UserPutCommand, UserDeleteCommand and AuthSetCommand (command.proto), and
// the state surviving a reopen, a snapshot and a restore into either
// backend, written only by the batches that change it.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/apply.h"
#include "storage/snapshot.h"
#include "storage/tree_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {
namespace {

v1::Caller Super() {
  v1::Caller c;
  c.set_superuser(true);
  return c;
}

v1::Caller UserCaller(const std::string& name) {
  v1::Caller c;
  v1::Identity* id = c.add_ids();
  id->set_scheme("user");
  id->set_id(name);
  return c;
}

v1::Command As(v1::Command c, const v1::Caller& caller) {
  *c.mutable_caller() = caller;
  return c;
}

v1::Command UserPut(const std::string& name, bool create, bool superuser = false,
                    const std::string& hash = "h1", const std::string& key = "k1") {
  v1::Command c;
  v1::UserPutCommand* put = c.mutable_user_put();
  put->mutable_user()->set_name(name);
  put->mutable_user()->set_salt("salt");
  put->mutable_user()->set_hash(hash);
  put->mutable_user()->set_iterations(1000);
  put->mutable_user()->set_superuser(superuser);
  put->set_create(create);
  put->set_token_key(key);
  return c;
}

v1::Command UserDelete(const std::string& name) {
  v1::Command c;
  c.mutable_user_delete()->set_name(name);
  return c;
}

v1::Command AuthSet(bool enabled, const std::string& key = "enable-key") {
  v1::Command c;
  c.mutable_auth_set()->set_enabled(enabled);
  c.mutable_auth_set()->set_token_key(key);
  return c;
}

template <typename Holder>
class AuthApplyTest : public ::testing::Test {
 protected:
  v1::ErrorCode Code(const v1::Command& c) { return driver_.Apply(c).result.code(); }
  const v1::AuthState* Auth() {
    meta_ = holder_.store()->meta();
    return meta_.auth.get();
  }
  std::vector<std::string> Names() {
    std::vector<std::string> out;
    if (Auth() != nullptr) {
      for (const v1::User& u : Auth()->users()) out.push_back(u.name());
    }
    return out;
  }

  Holder holder_;
  Driver driver_{holder_.store()};
  StoreMeta meta_;
};
TYPED_TEST_SUITE(AuthApplyTest, StoreBackends, StoreBackendNames);

TYPED_TEST(AuthApplyTest, UsersAreKeptSortedWithTheirRevision) {
  EXPECT_EQ(this->Auth(), nullptr);
  ASSERT_EQ(this->Code(UserPut("mallory", true)), v1::OK);
  const uint64_t first = this->driver_.next_index() - 1;
  ASSERT_EQ(this->Code(UserPut("alice", true, false, "h1", "k2")), v1::OK);
  ASSERT_EQ(this->Code(UserPut("bob", true)), v1::OK);
  EXPECT_EQ(this->Names(), std::vector<std::string>({"alice", "bob", "mallory"}));
  // The first UserPut's key became the token key; later ones do not replace it.
  EXPECT_EQ(this->Auth()->token_key(), "k1");
  EXPECT_EQ(this->Auth()->users(2).password_revision(), first);
  EXPECT_EQ(this->Code(UserPut("bob", true)), v1::USER_EXISTS);
  EXPECT_EQ(this->Code(UserPut("carol", false)), v1::USER_NOT_FOUND);
  // A role change keeps the password revision; a new hash sets it.
  const uint64_t bob_created = this->Auth()->users(1).password_revision();
  ASSERT_EQ(this->Code(UserPut("bob", false, true)), v1::OK);
  EXPECT_EQ(this->Auth()->users(1).password_revision(), bob_created);
  EXPECT_TRUE(this->Auth()->users(1).superuser());
  ASSERT_EQ(this->Code(UserPut("bob", false, true, "h2")), v1::OK);
  EXPECT_EQ(this->Auth()->users(1).password_revision(), this->driver_.next_index() - 1);
  ASSERT_EQ(this->Code(UserDelete("alice")), v1::OK);
  EXPECT_EQ(this->Code(UserDelete("alice")), v1::USER_NOT_FOUND);
  EXPECT_EQ(this->Names(), std::vector<std::string>({"bob", "mallory"}));
}

TYPED_TEST(AuthApplyTest, NamesAndHashesAreChecked) {
  const std::string long_name(65, 'a');
  for (const std::string& bad : {std::string(), long_name, std::string("a b"),
                                 std::string("a/b"), std::string("a:b"), std::string("\xc3\xa9")}) {
    EXPECT_EQ(this->Code(UserPut(bad, true)), v1::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(this->Code(UserDelete(bad)), v1::INVALID_ARGUMENT) << bad;
  }
  EXPECT_EQ(this->Code(UserPut(std::string(64, 'a'), true)), v1::OK);
  EXPECT_EQ(this->Code(UserPut("A.z_0@x-y", true)), v1::OK);
  EXPECT_EQ(this->Code(UserPut("nohash", true, false, "")), v1::INVALID_ARGUMENT);
  v1::Command no_iterations = UserPut("noiter", true);
  no_iterations.mutable_user_put()->mutable_user()->set_iterations(0);
  EXPECT_EQ(this->Code(no_iterations), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Names().size(), 2u);
}

TYPED_TEST(AuthApplyTest, AtMostAThousandUsers) {
  std::vector<v1::Command> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(UserPut("u" + std::to_string(i), true));
  for (const EntryOutcome& out : this->driver_.ApplyBatch(batch)) {
    ASSERT_EQ(out.result.code(), v1::OK);
  }
  EXPECT_EQ(this->Code(UserPut("one-more", true)), v1::FAILED_PRECONDITION);
  EXPECT_EQ(this->Code(UserPut("u7", false, false, "new")), v1::OK);  // changes still work
  EXPECT_EQ(this->Auth()->users_size(), 1000);
}

TYPED_TEST(AuthApplyTest, EnablingNeedsASuperuserAndReplacesTheKey) {
  ASSERT_EQ(this->Code(UserPut("alice", true)), v1::OK);
  EXPECT_EQ(this->Code(AuthSet(true)), v1::FAILED_PRECONDITION);
  EXPECT_FALSE(this->Auth()->enabled());
  EXPECT_EQ(this->Code(AuthSet(true, "")), v1::INVALID_ARGUMENT);
  ASSERT_EQ(this->Code(UserPut("root", true, true)), v1::OK);
  // While disabled anyone may enable (the operator bootstrapping it).
  ASSERT_EQ(this->Code(AuthSet(true, "fresh")), v1::OK);
  EXPECT_TRUE(this->Auth()->enabled());
  EXPECT_EQ(this->Auth()->token_key(), "fresh");
  // Disabling an already disabled state writes nothing.
  ASSERT_EQ(this->Code(As(AuthSet(false), Super())), v1::OK);
  const std::string dump = Dump(this->holder_.store());
  ASSERT_EQ(this->Code(AuthSet(false)), v1::OK);
  EXPECT_EQ(Dump(this->holder_.store()).substr(dump.find(" auth=")),
            dump.substr(dump.find(" auth=")));
}

TYPED_TEST(AuthApplyTest, WhileEnabledOnlyTheSuperuserManages) {
  ASSERT_EQ(this->Code(UserPut("root", true, true)), v1::OK);
  ASSERT_EQ(this->Code(UserPut("alice", true)), v1::OK);
  ASSERT_EQ(this->Code(AuthSet(true)), v1::OK);
  const v1::Caller alice = UserCaller("alice");
  const std::string before = Dump(this->holder_.store());
  EXPECT_EQ(this->Code(As(UserPut("bob", true), alice)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(UserPut("bob", true)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(UserDelete("alice"), alice)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(AuthSet(false), alice)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(AuthSet(true), alice)), v1::PERMISSION_DENIED);
  // Not another user's password, not one's own role.
  EXPECT_EQ(this->Code(As(UserPut("root", false, true, "h9"), alice)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(UserPut("alice", false, true, "h9"), alice)), v1::PERMISSION_DENIED);
  // Existence is not revealed to a caller without the right.
  EXPECT_EQ(this->Code(As(UserPut("nobody", false), alice)), v1::PERMISSION_DENIED);
  const std::string after = Dump(this->holder_.store());
  EXPECT_EQ(after.substr(after.find(" auth=")), before.substr(before.find(" auth=")));
  // One's own password, role unchanged: allowed.
  ASSERT_EQ(this->Code(As(UserPut("alice", false, false, "h9"), alice)), v1::OK);
  EXPECT_EQ(this->Auth()->users(0).hash(), "h9");
  EXPECT_EQ(this->Auth()->users(0).password_revision(), this->driver_.next_index() - 1);
  // The superuser may do all of it.
  EXPECT_EQ(this->Code(As(UserPut("bob", true), Super())), v1::OK);
  EXPECT_EQ(this->Code(As(UserDelete("bob"), Super())), v1::OK);
  EXPECT_EQ(this->Code(As(AuthSet(true, "rotated"), Super())), v1::OK);
  EXPECT_EQ(this->Auth()->token_key(), "rotated");
  EXPECT_EQ(this->Code(As(AuthSet(false), Super())), v1::OK);
  EXPECT_FALSE(this->Auth()->enabled());
  // Disabled again: anyone manages.
  EXPECT_EQ(this->Code(UserPut("carol", true)), v1::OK);
}

TYPED_TEST(AuthApplyTest, TheLastSuperuserStaysWhileEnabled) {
  ASSERT_EQ(this->Code(UserPut("root", true, true)), v1::OK);
  ASSERT_EQ(this->Code(AuthSet(true)), v1::OK);
  EXPECT_EQ(this->Code(As(UserDelete("root"), Super())), v1::FAILED_PRECONDITION);
  EXPECT_EQ(this->Code(As(UserPut("root", false, false), Super())), v1::FAILED_PRECONDITION);
  ASSERT_EQ(this->Code(As(UserPut("root2", true, true), Super())), v1::OK);
  EXPECT_EQ(this->Code(As(UserPut("root", false, false), Super())), v1::OK);
  EXPECT_EQ(this->Code(As(UserDelete("root2"), Super())), v1::FAILED_PRECONDITION);
  ASSERT_EQ(this->Code(As(AuthSet(false), Super())), v1::OK);
  // Disabled: nothing to lock out.
  EXPECT_EQ(this->Code(UserDelete("root2")), v1::OK);
}

TYPED_TEST(AuthApplyTest, OnlyChangingBatchesWriteIt) {
  ASSERT_EQ(this->Code(UserPut("alice", true)), v1::OK);
  // The WriteSet of a command carries the auth state only if it changed it.
  auto write_set_of = [&](const v1::Command& command) {
    auto view = this->holder_.store()->NewView();
    EXPECT_TRUE(view.ok());
    Overlay overlay(view->get());
    v1::CommandResult result;
    EXPECT_TRUE(ApplyCommand(ApplyLimits(), this->driver_.next_index(), command, &overlay,
                             nullptr, &result)
                    .ok());
    return overlay.TakeWriteSet(this->driver_.next_index());
  };
  EXPECT_FALSE(write_set_of(CreateCmd("/x", "d")).auth.has_value());
  EXPECT_FALSE(write_set_of(AuthSet(false)).auth.has_value());       // already off
  EXPECT_FALSE(write_set_of(UserPut("alice", true)).auth.has_value());  // USER_EXISTS
  EXPECT_TRUE(write_set_of(UserPut("bob", true)).auth.has_value());
  // And the stored state is compared by value, not by pointer.
  const StoreMeta before = this->holder_.store()->meta();
  ASSERT_EQ(this->Code(CreateCmd("/x", "d")), v1::OK);
  const StoreMeta after = this->holder_.store()->meta();
  ASSERT_NE(after.auth, nullptr);
  EXPECT_EQ(after.auth->SerializeAsString(), before.auth->SerializeAsString());
  StoreMeta copy = after;
  copy.auth = std::make_shared<v1::AuthState>(*after.auth);
  EXPECT_EQ(copy, after);
  auto changed = std::make_shared<v1::AuthState>(*after.auth);
  changed->set_enabled(true);
  copy.auth = changed;
  EXPECT_FALSE(copy == after);
  copy.auth = nullptr;
  EXPECT_FALSE(copy == after);
}

TYPED_TEST(AuthApplyTest, SurvivesReopenSnapshotAndRestore) {
  ASSERT_EQ(this->Code(UserPut("root", true, true)), v1::OK);
  ASSERT_EQ(this->Code(UserPut("alice", true)), v1::OK);
  ASSERT_EQ(this->Code(AuthSet(true)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/open", "d")), v1::OK);
  v1::Command locked = CreateCmd("/locked", "d");
  v1::Acl* acl = locked.mutable_txn()->mutable_ops(0)->mutable_create()->add_acl();
  acl->set_scheme("user");
  acl->set_id("alice");
  acl->set_perms(v1::PERM_READ);
  ASSERT_EQ(this->Code(locked), v1::OK);
  ASSERT_NE(this->driver_.Apply(As(OpenSessionCmd(), UserCaller("alice"))).result.session_id(),
            0u);
  const std::string dump = Dump(this->holder_.store());
  ASSERT_NE(dump.find("enabled: true"), std::string::npos) << dump;
  ASSERT_NE(dump.find("acl=[user:alice:r]"), std::string::npos) << dump;
  ASSERT_NE(dump.find("owner=[user:alice]"), std::string::npos) << dump;
  synod::testing::TempDir dir("synod-auth-snap-");
  ExpectStateSurvivesReopenAndSnapshot(&this->holder_, dir);

  // A restore replaces the auth state, down to none.
  TypeParam fresh;
  ASSERT_TRUE(fresh.store()->WriteSnapshot(dir.Sub("empty")).ok());
  RocksHolder rocks;
  ASSERT_TRUE(rocks.store()->RestoreSnapshot(dir.Sub("snap")).ok());
  ASSERT_NE(rocks.store()->meta().auth, nullptr);
  auto restored = rocks.store()->RestoreSnapshot(dir.Sub("empty"));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(rocks.store()->meta().auth, nullptr);
  rocks.Reopen();
  EXPECT_EQ(rocks.store()->meta().auth, nullptr);
}

}  // namespace
}  // namespace synod::storage::testing
