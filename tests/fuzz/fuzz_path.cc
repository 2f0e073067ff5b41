// Fuzz target: node path validation and splitting (storage/path.h), which
// every client request and every snapshot record passes through.
//
// Input: byte 0 splits the rest into two candidate paths (first = that many
// bytes, the second the remainder). Promises checked beyond "no crash":
// IsValidPath agrees with ValidatePath; a valid path other than "/" splits
// into a valid parent and a base name that rebuild it exactly; InSubtree
// matches its definition (equal, or below at a '/' boundary).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/path.h"
#include "tests/fuzz/fuzz_input.h"

namespace synod::fuzz {
namespace {

// InSubtree as path.h defines it, for valid paths.
bool Below(std::string_view path, std::string_view root) {
  if (path == root || root == "/") return true;
  return path.size() > root.size() && path.substr(0, root.size()) == root &&
         path[root.size()] == '/';
}

void CheckOne(std::string_view path) {
  const bool valid = storage::IsValidPath(path);
  const absl::Status s = storage::ValidatePath(path);
  Require(valid == s.ok(), "IsValidPath and ValidatePath disagree", std::string(path));
  RequireTyped(s, {absl::StatusCode::kInvalidArgument}, "ValidatePath code");
  if (!valid) return;
  Require(path.size() <= storage::kMaxPathBytes, "valid path over the size limit");
  Require(storage::InSubtree(path, path), "a path is not in its own subtree");
  Require(storage::InSubtree(path, "/"), "a path is not below the root");
  if (path == "/") return;
  const std::string_view parent = storage::ParentPath(path);
  const std::string_view base = storage::BaseName(path);
  Require(storage::IsValidPath(parent), "parent of a valid path is invalid", std::string(path));
  Require(!base.empty() && base.find('/') == std::string_view::npos, "bad base name",
          std::string(path));
  Require(storage::ChildPath(parent, base) == path, "ChildPath(ParentPath, BaseName) differs",
          std::string(path));
  Require(storage::InSubtree(path, parent), "a path is not below its parent", std::string(path));
  Require(!storage::InSubtree(parent, path), "a parent is below its child", std::string(path));
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod::fuzz;
  ByteReader in(data, size);
  const std::string_view first = in.Bytes(in.U8());
  const std::string_view second = in.Rest();
  CheckOne(first);
  CheckOne(second);
  if (synod::storage::IsValidPath(first) && synod::storage::IsValidPath(second)) {
    Require(synod::storage::InSubtree(first, second) == Below(first, second),
            "InSubtree differs from its definition",
            std::string(first) + " under " + std::string(second));
  }
  return 0;
}
