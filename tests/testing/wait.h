// WaitUntil: polls a condition until it holds or a deadline passes. Tests
// use it instead of sleeping for a guessed time.
//
// Thread: any.
#pragma once

#include <functional>

#include "absl/time/time.h"

namespace synod::testing {

// Calls `condition` every `interval` until it returns true (-> true) or
// `timeout` has passed (-> false, after one last try).
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout,
               absl::Duration interval = absl::Milliseconds(20));

}  // namespace synod::testing
