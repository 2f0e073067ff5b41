#include "base/log.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace synod::base {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

void Write(LogLevel level, const char* format, va_list args) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  char body[2048];
  std::vsnprintf(body, sizeof(body), format, args);
  const std::string when =
      absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::Now(), absl::LocalTimeZone());
  std::fprintf(stderr, "%s %c %s\n", when.c_str(), LogLevelLetter(level), body);
}

}  // namespace

void Log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  Write(LogLevel::kInfo, format, args);
  va_end(args);
}

void Log(LogLevel level, const char* format, ...) {
  va_list args;
  va_start(args, format);
  Write(level, format, args);
  va_end(args);
}

void SetMinLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  const std::string n = absl::AsciiStrToLower(std::string(name));
  if (n == "debug" || n == "d") {
    *level = LogLevel::kDebug;
  } else if (n == "info" || n == "i") {
    *level = LogLevel::kInfo;
  } else if (n == "warning" || n == "warn" || n == "w") {
    *level = LogLevel::kWarning;
  } else if (n == "error" || n == "e") {
    *level = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

char LogLevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 'D';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kWarning:
      return 'W';
    case LogLevel::kError:
      return 'E';
  }
  return '?';
}

std::string LogQuote(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

void NameThread(const char* name) { pthread_setname_np(pthread_self(), name); }

void YieldThreadToForeground() {
  // On Linux the nice value is per thread (a tid is a "process" here).
  // Relative to the current value, so a replica started with `nice` keeps
  // its background work below its own threads. A failure (say, a seccomp
  // policy) only leaves the thread at its priority.
  constexpr int kBackgroundNice = 10;
  const id_t tid = static_cast<id_t>(gettid());
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return;
  if (setpriority(PRIO_PROCESS, tid, std::min(current + kBackgroundNice, 19)) != 0) {
    Log(LogLevel::kDebug, "event=thread_priority_unchanged errno=%d", errno);
  }
}

}  // namespace synod::base
