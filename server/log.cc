#include "server/log.h"

#include <pthread.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace synod::server {

void Log(const char* format, ...) {
  char body[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(body, sizeof(body), format, args);
  va_end(args);
  const std::string when =
      absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::Now(), absl::LocalTimeZone());
  std::fprintf(stderr, "%s %s\n", when.c_str(), body);
}

void NameThread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace synod::server
