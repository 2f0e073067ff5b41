// Tracer: the event trace of one simulated run, and the simulated clock's
// units.
//
// Lines are formatted only when tracing is on, so an untraced run pays one
// branch per event. Every line starts with the simulated time, which makes
// two traces of one seed comparable byte for byte (the determinism test).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace synod::sim {

// Simulated time is counted in units; a Raft tick is kTickUnits of them, so
// network and disk delays can be shorter than a tick.
inline constexpr uint64_t kTickUnits = 100;

// "12.34": the time in ticks.
inline std::string FormatTime(uint64_t now) {
  const uint64_t frac = now % kTickUnits;
  return absl::StrCat(now / kTickUnits, frac < 10 ? ".0" : ".", frac);
}

class Tracer {
 public:
  Tracer(const uint64_t* now, std::ostream* out) : now_(now), out_(out) {}

  bool on() const { return out_ != nullptr; }
  void Line(absl::string_view text) {
    if (out_ == nullptr) return;
    *out_ << FormatTime(*now_) << ' ' << text << '\n';
  }

 private:
  const uint64_t* now_;
  std::ostream* out_;
};

}  // namespace synod::sim
