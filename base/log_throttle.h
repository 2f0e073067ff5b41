// LogThrottle: lets one log line of an event through per interval and
// counts the ones it held back, so that a flood of the same event (refused
// connections from one address) cannot flood the log or cost a formatted
// line each.
//
// Thread: not thread-safe; its owner serializes calls (one thread, or the
// owner's mutex).
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace synod::base {

class LogThrottle {
 public:
  explicit LogThrottle(absl::Duration interval) : interval_(interval) {}

  // True when a line may be written at `now`; then `*held_back` is the
  // number of lines held back since the last one let through.
  bool Allow(absl::Time now, uint64_t* held_back) {
    if (now < next_) {
      ++held_back_;
      return false;
    }
    next_ = now + interval_;
    *held_back = held_back_;
    held_back_ = 0;
    return true;
  }

 private:
  const absl::Duration interval_;
  absl::Time next_ = absl::InfinitePast();
  uint64_t held_back_ = 0;
};

}  // namespace synod::base
