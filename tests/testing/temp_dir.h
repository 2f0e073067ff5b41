// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with all its
// contents when the object is destroyed.
//
// Thread: not thread-safe; owned by one test.
#pragma once

#include <string>

namespace synod::testing {

class TempDir {
 public:
  // Creates <tmp>/<prefix>XXXXXX. Aborts the test binary if it cannot.
  explicit TempDir(const std::string& prefix = "synod-test-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace synod::testing
