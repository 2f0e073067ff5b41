#include "bench/synod_bench/progress.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>

#include "absl/strings/str_format.h"

namespace synod::bench {

std::string HumanSeconds(double seconds) {
  const int64_t s = std::max<int64_t>(0, static_cast<int64_t>(std::llround(seconds)));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

std::string ProgressLine(const ProgressTick& t) {
  if (t.total > 0) {
    // Counted: time left at the phase's average rate, which a slow start or
    // one stalled interval moves less than the last interval's would.
    const double avg = t.elapsed_s > 0 ? static_cast<double>(t.done) / t.elapsed_s : 0;
    const uint64_t left_ops = t.total - std::min(t.total, t.done);
    const std::string left = avg > 0 ? HumanSeconds(static_cast<double>(left_ops) / avg) : "?";
    return absl::StrFormat(
        "%s %" PRIu64 "/%" PRIu64 " (%.0f%%), %.0f ops/s, %s left", t.phase, t.done, t.total,
        100.0 * static_cast<double>(t.done) / static_cast<double>(t.total), t.rate, left);
  }
  return absl::StrFormat("%s %.0f/%.0f s, %" PRIu64 " ops, %.0f ops/s, %s left", t.phase,
                         t.elapsed_s, t.total_s, t.done, t.rate,
                         HumanSeconds(t.total_s - t.elapsed_s));
}

}  // namespace synod::bench
