// Progress of a long run, for whoever watches it: RunLoad tells the start of
// each phase and, while a phase runs, ticks every `interval_s` with what is
// done so far; ProgressLine turns a tick into one line (done/total, rate,
// time left). A 10,000,000-node preload runs for half an hour: without
// these, nothing shows that it moves.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace synod::bench {

struct ProgressTick {
  std::string phase;     // "warm-up", "measuring" (timed); "counted", "preload"
  double elapsed_s = 0;  // since the phase began
  double total_s = 0;    // timed phases: their length; counted phases: 0
  uint64_t done = 0;     // operations completed in the phase (ok or not)
  uint64_t total = 0;    // counted phases: operations to do; timed: 0
  double rate = 0;       // operations per second since the previous tick
};

// Called on RunLoad's caller's thread.
struct ProgressHooks {
  // At the start of a phase: its name, its length (timed) or operations (counted).
  std::function<void(const std::string& phase, double seconds, uint64_t total)> phase =
      [](const std::string&, double, uint64_t) {};
  std::function<void(const ProgressTick&)> tick = [](const ProgressTick&) {};
  double interval_s = 5;
};

// "preload 1234567/10000000 (12%), 6738 ops/s, 21m42s left" (counted) or
// "measuring 6/10 s, 23456 ops/s, 4s left" (timed).
std::string ProgressLine(const ProgressTick& t);

// "1h02m", "21m42s", "4s": a duration as a person reads it.
std::string HumanSeconds(double seconds);

}  // namespace synod::bench
