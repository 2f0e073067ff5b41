#include "storage/path.h"

#include <algorithm>
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "storage/format.h"

namespace synod::storage {
namespace {

TEST(PathTest, Validity) {
  for (const char* good :
       {"/", "/a", "/a/b", "/a.b", "/...", "/.a", "/a..", "/ü", "/a b", "/zookeeper"}) {
    EXPECT_TRUE(IsValidPath(good)) << good;
  }
  for (const char* bad : {"", "a", "a/b", "//", "/a/", "/a//b", "/.", "/..", "/a/.", "/a/../b",
                          "/a\tb", "/a\x01", "/\x7f"}) {
    EXPECT_FALSE(IsValidPath(bad)) << bad;
    EXPECT_EQ(ValidatePath(bad).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(IsValidPath(std::string("/a\0b", 4)));
  for (const char* utf8 :
       {"/\xc3\xbc", "/\xe2\x82\xac", "/\xf0\x9f\x98\x80", "/\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(IsValidPath(utf8)) << utf8;
  }
  // Bad UTF-8: a stray byte, a cut sequence, overlong forms, a surrogate,
  // above U+10FFFF.
  for (const char* bad : {"/\xff", "/a\xc3", "/\xc3/b", "/\xc0\xaf", "/\xe0\x80\xaf",
                          "/\xed\xa0\x80", "/\xf4\x90\x80\x80", "/\x80"}) {
    EXPECT_FALSE(IsValidPath(bad)) << bad;
    EXPECT_NE(ValidatePath(bad).message().find("UTF-8"), std::string::npos) << bad;
  }
  EXPECT_TRUE(IsValidPath("/" + std::string(kMaxPathBytes - 1, 'x')));
  EXPECT_FALSE(IsValidPath("/" + std::string(kMaxPathBytes, 'x')));
}

TEST(PathTest, Parts) {
  EXPECT_EQ(ParentPath("/a"), "/");
  EXPECT_EQ(ParentPath("/a/b/c"), "/a/b");
  EXPECT_EQ(BaseName("/a/b/c"), "c");
  EXPECT_EQ(ChildPath("/", "a"), "/a");
  EXPECT_EQ(ChildPath("/a", "b"), "/a/b");
  EXPECT_TRUE(InSubtree("/a/b", "/a"));
  EXPECT_TRUE(InSubtree("/a", "/a"));
  EXPECT_TRUE(InSubtree("/a", "/"));
  EXPECT_FALSE(InSubtree("/ab", "/a"));
  EXPECT_FALSE(InSubtree("/a", "/a/b"));
}

// The property the RocksDB layout rests on: in key order, the children of
// each parent are contiguous and ordered by name.
TEST(PathTest, NodeKeysGroupChildrenInNameOrder) {
  std::mt19937_64 rng(1);
  const char* names[] = {"a", "b", "a-", "a0", "a.b", "B", "~", "aa"};
  std::vector<std::string> paths;
  for (int i = 0; i < 400; ++i) {
    std::string p;
    int depth = 1 + rng() % 3;
    for (int d = 0; d < depth; ++d) p += std::string("/") + names[rng() % 8];
    paths.push_back(p);
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  std::vector<std::pair<std::string, std::string>> keyed;
  for (const auto& p : paths) keyed.push_back({keys::NodeKey(p), p});
  std::sort(keyed.begin(), keyed.end());
  std::string prev_parent;
  std::string prev_name;
  std::set<std::string> finished;
  for (const auto& [key, path] : keyed) {
    std::string parent(ParentPath(path));
    std::string name(BaseName(path));
    std::string back;
    ASSERT_TRUE(keys::PathFromNodeKey(key, &back));
    EXPECT_EQ(back, path);
    EXPECT_EQ(key.substr(0, keys::ChildrenPrefix(parent).size()), keys::ChildrenPrefix(parent));
    if (parent == prev_parent) {
      EXPECT_LT(prev_name, name);
    } else {
      EXPECT_FALSE(finished.count(parent)) << parent << " children not contiguous";
      finished.insert(prev_parent);
    }
    prev_parent = parent;
    prev_name = name;
  }
}

}  // namespace
}  // namespace synod::storage
