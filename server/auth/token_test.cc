#include "server/auth/token.h"

#include <string>

#include "gtest/gtest.h"

namespace synod::server {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

v1::AuthState State() {
  v1::AuthState state;
  state.set_token_key(std::string(32, 'k'));
  v1::User* alice = state.add_users();
  alice->set_name("alice");
  alice->set_password_revision(7);
  v1::User* bob = state.add_users();
  bob->set_name("bob");
  bob->set_password_revision(9);
  return state;
}

std::string Sign(const v1::AuthState& state, const std::string& user, uint64_t revision,
                 int64_t expires) {
  absl::StatusOr<std::string> token = SignToken(state.token_key(), {user, revision, expires});
  EXPECT_TRUE(token.ok()) << token.status();
  return token.value_or("");
}

TEST(TokenTest, ValidTokenNamesItsUser) {
  const v1::AuthState state = State();
  absl::StatusOr<const v1::User*> user =
      VerifyToken(state, Sign(state, "bob", 9, kNow + 1000), kNow);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ((*user)->name(), "bob");
}

TEST(TokenTest, TokenIsUrlSafeText) {
  const v1::AuthState state = State();
  const std::string token = Sign(state, "alice", 7, kNow + 1000);
  for (char c : token) {
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') << c;
  }
}

TEST(TokenTest, ExpiredTokenIsRefused) {
  const v1::AuthState state = State();
  const std::string token = Sign(state, "alice", 7, kNow + 1000);
  EXPECT_TRUE(VerifyToken(state, token, kNow + 999).ok());
  EXPECT_EQ(VerifyToken(state, token, kNow + 1000).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenTest, PasswordChangeEndsToken) {
  v1::AuthState state = State();
  const std::string token = Sign(state, "alice", 7, kNow + 1000);
  state.mutable_users(0)->set_password_revision(12);
  absl::StatusOr<const v1::User*> user = VerifyToken(state, token, kNow);
  EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(user.status().message().find("password changed"), std::string::npos);
}

TEST(TokenTest, DeletedUserTokenIsRefused) {
  v1::AuthState state = State();
  const std::string token = Sign(state, "alice", 7, kNow + 1000);
  state.mutable_users()->DeleteSubrange(0, 1);
  EXPECT_EQ(VerifyToken(state, token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenTest, OtherKeyIsRefused) {
  v1::AuthState state = State();
  const std::string token = Sign(state, "alice", 7, kNow + 1000);
  state.set_token_key(std::string(32, 'j'));
  EXPECT_EQ(VerifyToken(state, token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
  state.clear_token_key();
  EXPECT_EQ(VerifyToken(state, token, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenTest, AlteredTokenIsRefused) {
  const v1::AuthState state = State();
  const std::string token = Sign(state, "alice", 7, kNow + 1000);
  // A claim for another user, or a later expiry, with alice's signature.
  const std::string bob = Sign(state, "bob", 9, kNow + 1000);
  const std::string later = Sign(state, "alice", 7, kNow + 999999);
  const std::string mac = token.substr(token.find('.'));
  EXPECT_EQ(VerifyToken(state, bob.substr(0, bob.find('.')) + mac, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyToken(state, later.substr(0, later.find('.')) + mac, kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '.') continue;
    std::string flipped = token;
    flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(VerifyToken(state, flipped, kNow).ok()) << "byte " << i;
  }
}

TEST(TokenTest, MalformedTokensAreRefused) {
  const v1::AuthState state = State();
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string("abc"), std::string("!!!.???"),
        std::string("AQ.AQ"), std::string(kMaxTokenBytes + 1, 'A')}) {
    EXPECT_EQ(VerifyToken(state, bad, kNow).status().code(), absl::StatusCode::kUnauthenticated)
        << bad;
  }
}

TEST(TokenTest, SigningNeedsAKey) {
  EXPECT_EQ(SignToken("", {"alice", 1, kNow}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace synod::server
