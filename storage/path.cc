#include "storage/path.h"

#include "absl/strings/str_cat.h"

namespace synod::storage {
namespace {

// Why a path is invalid, or nullptr if it is valid.
const char* PathProblem(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.size() > kMaxPathBytes) return "longer than 4096 bytes";
  if (path[0] != '/') return "not absolute";
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
  std::string shown(path.substr(0, 256));
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
