// The page token of a child listing (GetChildren): the last name a page
// returned, hex-encoded so that any byte of a name survives the API. The
// next page starts after that name. Opaque to clients; any thread.
#pragma once

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace synod::storage {

inline std::string ChildPageToken(const std::string& last_name) {
  return absl::BytesToHexString(last_name);
}

// False (and `*start_after` untouched) if `token` is not one ChildPageToken
// made.
inline bool ParseChildPageToken(const std::string& token, std::string* start_after) {
  if (token.size() % 2 != 0) return false;
  for (char c : token) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  *start_after = absl::HexStringToBytes(token);
  return true;
}

}  // namespace synod::storage
