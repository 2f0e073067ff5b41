// Fatal checks for the whole project (this abseil has no absl/log).
//
// SYNOD_CHECK(cond) << "message": if cond is false, prints file:line, the
//   condition and the streamed message to stderr and aborts. On in every
//   build type: use it where going on would corrupt data (a failed fsync,
//   a committed entry about to be overwritten).
// SYNOD_CHECK_OK(status) << "message": the same for an absl::Status.
// SYNOD_DCHECK(cond) << "message": an invariant check. On when NDEBUG is not
//   defined, or when SYNOD_RAFT_INVARIANTS is defined (CMake option of the
//   same name, default ON, so RelWithDebInfo builds, CI and the simulator
//   check invariants too). When off, neither cond nor the message is
//   evaluated.
#pragma once

#include <sstream>
#include <string_view>

#include "absl/status/status.h"

namespace synod::internal {

// Collects the message of a failed check and aborts in its destructor, so
// that `SYNOD_CHECK(x) << a << b` prints everything before dying.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, std::string_view what);
  [[noreturn]] ~CheckFailure();
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;

  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets the check macros be used as expressions of type void in both arms of
// a conditional ("cond ? (void)0 : Voidify() & CheckFailure(...) << msg").
struct Voidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace synod::internal

#define SYNOD_CHECK(cond)                 \
  (cond) ? (void)0                        \
         : ::synod::internal::Voidify() & \
               ::synod::internal::CheckFailure(__FILE__, __LINE__, "CHECK(" #cond ") failed: ")

#define SYNOD_CHECK_OK(expr)                                                          \
  for (::absl::Status synod_check_status_ = (expr); !synod_check_status_.ok();)       \
  ::synod::internal::CheckFailure(__FILE__, __LINE__, "CHECK_OK(" #expr ") failed: ") \
      << synod_check_status_.ToString() << " "

#if !defined(NDEBUG) || defined(SYNOD_RAFT_INVARIANTS)
#define SYNOD_DCHECK_IS_ON 1
#define SYNOD_DCHECK(cond) SYNOD_CHECK(cond)
#else
#define SYNOD_DCHECK_IS_ON 0
#define SYNOD_DCHECK(cond) \
  while (false) SYNOD_CHECK(cond)
#endif
