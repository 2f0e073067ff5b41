#include "base/secret.h"

#include <string>

#include "gtest/gtest.h"

namespace synod::base {
namespace {

TEST(SecretsEqualTest, EqualOnlyForTheSameBytes) {
  EXPECT_TRUE(SecretsEqual("", ""));
  EXPECT_TRUE(SecretsEqual("0123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(SecretsEqual("0123456789abcdef", "0123456789abcdeF"));
  EXPECT_FALSE(SecretsEqual("X123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(SecretsEqual("0123456789abcdef", "0123456789abcde"));
  EXPECT_FALSE(SecretsEqual("", std::string(16, '\0')));
  EXPECT_FALSE(SecretsEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace synod::base
