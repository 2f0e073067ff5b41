// Node paths: the one place that decides what a legal path is (DESIGN §2).
//
// A legal path is absolute, '/'-separated, has no empty component, no
// trailing '/' (except the root "/"), no "." or ".." component, no control
// character (0x00-0x1f, 0x7f), is valid UTF-8 and is at most kMaxPathBytes
// long. Children are ordered by byte value of their names.
//
// Library synod_path: abseil only, so the client library checks paths with
// these same rules before it sends them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace synod::storage {

inline constexpr size_t kMaxPathBytes = 4096;

bool IsValidPath(std::string_view path);

// OK, or InvalidArgument saying what is wrong with `path` (for messages; the
// Synod code is INVALID_PATH).
absl::Status ValidatePath(std::string_view path);

// Parent of a valid path other than "/" ("/a" -> "/", "/a/b" -> "/a").
std::string_view ParentPath(std::string_view path);
// Last component of a valid path other than "/".
std::string_view BaseName(std::string_view path);
// The path of child `name` under `parent`.
std::string ChildPath(std::string_view parent, std::string_view name);
// True if `path` is `root` or below it.
bool InSubtree(std::string_view path, std::string_view root);

// ZooKeeper's own nodes live here (/zookeeper, /zookeeper/config,
// /zookeeper/quota): the ZooKeeper port serves them, and no create makes a
// node in this subtree (INVALID_PATH), so both APIs see one tree.
inline constexpr std::string_view kZooKeeperSubtree = "/zookeeper";

}  // namespace synod::storage
