#include "server/auth/authenticator.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/auth/token.h"
#include "storage/acl.h"

namespace synod::server {
namespace {

using Metadata = std::multimap<std::string, std::string>;

bool Has(const v1::Caller& caller, const std::string& scheme, const std::string& id) {
  for (const v1::Identity& i : caller.ids()) {
    if (i.scheme() == scheme && i.id() == id) return true;
  }
  return false;
}

class AuthenticatorTest : public testing::Test {
 protected:
  AuthenticatorTest() {
    v1::AuthState s;
    s.set_token_key(std::string(32, 'k'));
    v1::User* root = s.add_users();
    root->set_name("root");
    root->set_superuser(true);
    root->set_password_revision(3);
    v1::User* alice = s.add_users();
    alice->set_name("alice");
    alice->set_password_revision(4);
    Set(s);
  }

  void Set(const v1::AuthState& s) { state_ = std::make_shared<const v1::AuthState>(s); }
  void Enable(bool on) {
    v1::AuthState s = *state_;
    s.set_enabled(on);
    Set(s);
  }

  Authenticator Make(AuthOptions options = {}) {
    return Authenticator([this] { return state_; }, options);
  }

  std::string TokenFor(const Authenticator& auth, const std::string& name) {
    for (const v1::User& u : state_->users()) {
      if (u.name() != name) continue;
      int64_t expires = 0;
      absl::StatusOr<std::string> token =
          auth.IssueToken(u, absl::ToUnixMillis(absl::Now()), &expires);
      EXPECT_TRUE(token.ok()) << token.status();
      return token.value_or("");
    }
    ADD_FAILURE() << "no user " << name;
    return "";
  }

  std::shared_ptr<const v1::AuthState> state_;
};

TEST(PeerAddressTest, TakesTheAddressOnly) {
  EXPECT_EQ(PeerAddress("ipv4:10.1.2.3:5555"), "10.1.2.3");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:5555"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:%5B::1%5D:5555"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:[fe80::1:2]:1"), "fe80::1:2");
  EXPECT_EQ(PeerAddress("unix:/tmp/sock"), "");
  EXPECT_EQ(PeerAddress("ipv6:::1"), "");
  EXPECT_EQ(PeerAddress(""), "");
}

TEST_F(AuthenticatorTest, NoCredentialsIsAnonymousWithItsAddress) {
  Authenticator auth = Make();
  absl::StatusOr<v1::Caller> caller = auth.ResolveFrom({}, "10.0.0.1", {});
  ASSERT_TRUE(caller.ok());
  ASSERT_EQ(caller->ids_size(), 1);
  EXPECT_TRUE(Has(*caller, "ip", "10.0.0.1"));
  EXPECT_FALSE(caller->superuser());
}

TEST_F(AuthenticatorTest, GatesAreOpenWhileDisabled) {
  Authenticator auth = Make();
  const v1::Caller anonymous = *auth.ResolveFrom({}, "10.0.0.1", {});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.RequireAdmin(anonymous).ok());
  EXPECT_TRUE(auth.RequireAuthenticated(anonymous).ok());
}

TEST_F(AuthenticatorTest, GatesWhileEnabled) {
  Authenticator auth = Make();
  Enable(true);
  ASSERT_TRUE(auth.enabled());
  const v1::Caller anonymous = *auth.ResolveFrom({}, "10.0.0.1", {});
  EXPECT_EQ(auth.RequireAuthenticated(anonymous).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.RequireAdmin(anonymous).code(), absl::StatusCode::kUnauthenticated);

  const v1::Caller alice = *auth.ResolveFrom(
      {{kAuthorizationKey, "Bearer " + TokenFor(auth, "alice")}}, "10.0.0.1", {});
  EXPECT_TRUE(Has(alice, "user", "alice"));
  EXPECT_FALSE(alice.superuser());
  EXPECT_TRUE(auth.RequireAuthenticated(alice).ok());
  EXPECT_EQ(auth.RequireAdmin(alice).code(), absl::StatusCode::kPermissionDenied);

  const v1::Caller root = *auth.ResolveFrom(
      {{kAuthorizationKey, "Bearer " + TokenFor(auth, "root")}}, "10.0.0.1", {});
  EXPECT_TRUE(root.superuser());
  EXPECT_TRUE(auth.RequireAdmin(root).ok());

  const v1::Caller cert = *auth.ResolveFrom({}, "10.0.0.1", {"client-a"});
  EXPECT_TRUE(auth.RequireAuthenticated(cert).ok());
  EXPECT_EQ(auth.RequireAdmin(cert).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthenticatorTest, DigestCredentialsBecomeZooKeeperDigestIds) {
  Authenticator auth = Make();
  absl::StatusOr<v1::Caller> caller = auth.ResolveFrom(
      {{kDigestKey, "bob:pw:with:colons"}, {kDigestKey, "carol:x"}}, "10.0.0.1", {});
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_TRUE(Has(*caller, "digest", storage::DigestId("bob", "pw:with:colons")));
  EXPECT_TRUE(Has(*caller, "digest", storage::DigestId("carol", "x")));
  EXPECT_FALSE(caller->superuser());
}

TEST_F(AuthenticatorTest, SuperuserDigestMakesTheSuperuser) {
  AuthOptions options;
  options.superuser_digest = storage::DigestId("super", "duper");
  ASSERT_TRUE(CheckAuthOptions(options).ok());
  Authenticator auth = Make(options);
  Enable(true);
  const v1::Caller super = *auth.ResolveFrom({{kDigestKey, "super:duper"}}, "10.0.0.1", {});
  EXPECT_TRUE(super.superuser());
  EXPECT_TRUE(auth.RequireAdmin(super).ok());
  const v1::Caller wrong = *auth.ResolveFrom({{kDigestKey, "super:dupe"}}, "10.0.0.1", {});
  EXPECT_FALSE(wrong.superuser());
  EXPECT_EQ(auth.RequireAdmin(wrong).code(), absl::StatusCode::kPermissionDenied);
  // Without the flag the same credentials are an ordinary digest identity.
  Authenticator plain = Make();
  EXPECT_FALSE(plain.ResolveFrom({{kDigestKey, "super:duper"}}, "", {})->superuser());
}

TEST_F(AuthenticatorTest, BadCredentialsAreUnauthenticated) {
  Authenticator auth = Make();
  const std::string token = TokenFor(auth, "alice");
  for (const Metadata& bad : std::vector<Metadata>{
           {{kDigestKey, "nocolon"}},
           {{kDigestKey, ":password"}},
           {{kAuthorizationKey, "Basic abc"}},
           {{kAuthorizationKey, token}},
           {{kAuthorizationKey, "Bearer garbage"}},
           {{kAuthorizationKey, "Bearer " + token}, {kAuthorizationKey, "Bearer " + token}},
       }) {
    EXPECT_EQ(auth.ResolveFrom(bad, "10.0.0.1", {}).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  Metadata many;
  for (size_t i = 0; i <= kMaxDigestCredentials; ++i) many.emplace(kDigestKey, "u:p");
  EXPECT_EQ(auth.ResolveFrom(many, "", {}).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, TokenEndsWithPasswordChangeDeletionAndNewKey) {
  Authenticator auth = Make();
  const Metadata alice = {{kAuthorizationKey, "Bearer " + TokenFor(auth, "alice")}};
  ASSERT_TRUE(auth.ResolveFrom(alice, "", {}).ok());

  v1::AuthState changed = *state_;
  changed.mutable_users(1)->set_password_revision(40);
  Set(changed);
  EXPECT_EQ(auth.ResolveFrom(alice, "", {}).status().code(), absl::StatusCode::kUnauthenticated);

  const Metadata again = {{kAuthorizationKey, "Bearer " + TokenFor(auth, "alice")}};
  ASSERT_TRUE(auth.ResolveFrom(again, "", {}).ok());
  v1::AuthState rekeyed = *state_;
  rekeyed.set_token_key(std::string(32, 'n'));
  Set(rekeyed);
  EXPECT_EQ(auth.ResolveFrom(again, "", {}).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ExpiredTokenIsUnauthenticated) {
  AuthOptions options;
  options.token_ttl = absl::Seconds(10);
  Authenticator auth = Make(options);
  int64_t expires = 0;
  absl::StatusOr<std::string> old = auth.IssueToken(
      state_->users(1), absl::ToUnixMillis(absl::Now() - absl::Seconds(11)), &expires);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(auth.ResolveFrom({{kAuthorizationKey, "Bearer " + *old}}, "", {}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, X509SubjectsAreIdentities) {
  Authenticator auth = Make();
  const v1::Caller caller =
      *auth.ResolveFrom({}, "10.0.0.1", {"client-a", "client-a.example", "", "client-a"});
  EXPECT_EQ(caller.ids_size(), 3);
  EXPECT_TRUE(Has(caller, "x509", "client-a"));
  EXPECT_TRUE(Has(caller, "x509", "client-a.example"));
}

TEST_F(AuthenticatorTest, IssueTokenNeedsAKeyAndSetsExpiry) {
  AuthOptions options;
  options.token_ttl = absl::Minutes(5);
  Authenticator auth = Make(options);
  int64_t expires = 0;
  ASSERT_TRUE(auth.IssueToken(state_->users(0), 1000, &expires).ok());
  EXPECT_EQ(expires, 1000 + 5 * 60 * 1000);
  v1::AuthState keyless = *state_;
  keyless.clear_token_key();
  Set(keyless);
  EXPECT_EQ(auth.IssueToken(state_->users(0), 1000, &expires).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AuthenticatorTest, NullStateIsEmpty) {
  Authenticator auth([] { return std::shared_ptr<const v1::AuthState>(); }, {});
  EXPECT_FALSE(auth.enabled());
  EXPECT_EQ(auth.state()->users_size(), 0);
  EXPECT_TRUE(auth.ResolveFrom({}, "1.2.3.4", {}).ok());
}

TEST(CheckAuthOptionsTest, SuperuserDigestMustBeADigestId) {
  AuthOptions options;
  EXPECT_TRUE(CheckAuthOptions(options).ok());
  for (const std::string& bad : {std::string("super:duper"), std::string("nocolon"),
                                 std::string(":AAAAAAAAAAAAAAAAAAAAAAAAAAA="), std::string("u:abc")}) {
    options.superuser_digest = bad;
    EXPECT_EQ(CheckAuthOptions(options).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  options.superuser_digest = storage::DigestId("super", "duper");
  EXPECT_TRUE(CheckAuthOptions(options).ok());
  options.token_ttl = absl::ZeroDuration();
  EXPECT_EQ(CheckAuthOptions(options).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace synod::server
