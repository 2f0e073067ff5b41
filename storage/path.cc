#include "storage/path.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace synod::storage {
namespace {

// True if `s` is well-formed UTF-8 (RFC 3629: shortest form, no
// surrogates, nothing above U+10FFFF). Paths travel in protobuf `string`
// fields, which a receiver refuses to parse otherwise.
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    const unsigned char second = static_cast<unsigned char>(s[i + 1]);
    if (second < lo || second > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

// Why a path is invalid, or nullptr if it is valid.
const char* PathProblem(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.size() > kMaxPathBytes) return "longer than 4096 bytes";
  if (path[0] != '/') return "not absolute";
  if (!IsUtf8(path)) return "not valid UTF-8";
  if (path.size() == 1) return nullptr;
  if (path.back() == '/') return "trailing '/'";
  size_t start = 1;  // first byte of the current component
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size()) {
      unsigned char c = static_cast<unsigned char>(path[i]);
      if (c < 0x20 || c == 0x7f) return "control character";
      if (c != '/') continue;
    }
    std::string_view component = path.substr(start, i - start);
    if (component.empty()) return "empty component";
    if (component == "." || component == "..") return "'.' or '..' component";
    start = i + 1;
  }
  return nullptr;
}

}  // namespace

bool IsValidPath(std::string_view path) { return PathProblem(path) == nullptr; }

absl::Status ValidatePath(std::string_view path) {
  const char* problem = PathProblem(path);
  if (problem == nullptr) return absl::OkStatus();
  // Escaped: the message itself travels in a protobuf string.
  const std::string_view head = path.substr(0, 256);
  const std::string shown = absl::CHexEscape(absl::string_view(head.data(), head.size()));
  return absl::InvalidArgumentError(absl::StrCat("invalid path \"", shown, "\": ", problem));
}

std::string_view ParentPath(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == 0) return path.substr(0, 1);
  return path.substr(0, slash);
}

std::string_view BaseName(std::string_view path) { return path.substr(path.rfind('/') + 1); }

std::string ChildPath(std::string_view parent, std::string_view name) {
  std::string path;
  path.reserve(parent.size() + 1 + name.size());
  path.append(parent);
  if (parent.size() != 1) path.push_back('/');
  path.append(name);
  return path;
}

bool InSubtree(std::string_view path, std::string_view root) {
  if (root == "/") return true;
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

}  // namespace synod::storage
