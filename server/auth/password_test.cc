#include "server/auth/password.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace synod::server {
namespace {

TEST(PasswordTest, RightPasswordMatchesWrongOneDoesNot) {
  v1::User user;
  ASSERT_TRUE(HashPassword("s3cret", 1000, &user).ok());
  EXPECT_EQ(user.salt().size(), kSaltBytes);
  EXPECT_EQ(user.hash().size(), kPasswordHashBytes);
  EXPECT_EQ(user.iterations(), 1000u);
  EXPECT_TRUE(CheckPassword(user, "s3cret"));
  EXPECT_FALSE(CheckPassword(user, "s3cret "));
  EXPECT_FALSE(CheckPassword(user, "S3cret"));
  EXPECT_FALSE(CheckPassword(user, ""));
}

TEST(PasswordTest, HashIsPbkdf2HmacSha256) {
  // RFC 7914 section 11, PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1):
  // the first 32 bytes of its 64-byte output.
  v1::User user;
  user.set_salt("salt");
  user.set_iterations(1);
  user.set_hash(absl::HexStringToBytes(
      "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"));
  EXPECT_TRUE(CheckPassword(user, "passwd"));
  EXPECT_FALSE(CheckPassword(user, "passwe"));
}

TEST(PasswordTest, EachHashGetsItsOwnSalt) {
  v1::User a;
  v1::User b;
  ASSERT_TRUE(HashPassword("same", 1000, &a).ok());
  ASSERT_TRUE(HashPassword("same", 1000, &b).ok());
  EXPECT_NE(a.salt(), b.salt());
  EXPECT_NE(a.hash(), b.hash());
}

TEST(PasswordTest, StoredIterationsAreTheOnesUsed) {
  v1::User user;
  ASSERT_TRUE(HashPassword("pw", 1000, &user).ok());
  user.set_iterations(1001);
  EXPECT_FALSE(CheckPassword(user, "pw"));
}

TEST(PasswordTest, RefusesBadInput) {
  v1::User user;
  EXPECT_EQ(HashPassword("", 1000, &user).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashPassword(std::string(kMaxPasswordBytes + 1, 'p'), 1000, &user).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashPassword("pw", 0, &user).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashPassword("pw", kMaxPbkdf2Iterations + 1, &user).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(user.hash().empty());  // nothing was set
}

TEST(PasswordTest, CorruptStoredParametersNeverMatch) {
  v1::User user;
  ASSERT_TRUE(HashPassword("pw", 1000, &user).ok());
  v1::User no_iterations = user;
  no_iterations.set_iterations(0);
  EXPECT_FALSE(CheckPassword(no_iterations, "pw"));
  v1::User huge = user;
  huge.set_iterations(kMaxPbkdf2Iterations + 1);
  EXPECT_FALSE(CheckPassword(huge, "pw"));
  v1::User short_hash = user;
  short_hash.set_hash(user.hash().substr(0, 16));
  EXPECT_FALSE(CheckPassword(short_hash, "pw"));
  EXPECT_FALSE(CheckPassword(v1::User(), ""));
}

TEST(PasswordTest, RandomBytesDiffer) {
  absl::StatusOr<std::string> a = RandomBytes(32);
  absl::StatusOr<std::string> b = RandomBytes(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace synod::server
