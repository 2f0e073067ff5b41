#include "tests/testing/wait.h"

#include "absl/time/clock.h"

namespace synod::testing {

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout,
               absl::Duration interval) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(interval, deadline - absl::Now()));
  }
}

}  // namespace synod::testing
