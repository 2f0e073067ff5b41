#include "base/check.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace synod::internal {

CheckFailure::CheckFailure(const char* file, int line, std::string_view what) {
  stream_ << file << ":" << line << ": " << what;
}

CheckFailure::~CheckFailure() {
  std::string text = stream_.str();
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace synod::internal
