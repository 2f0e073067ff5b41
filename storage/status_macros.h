// Early return on a failed absl::Status (this abseil has no status macros).
#pragma once

#include "absl/status/status.h"

#define STORAGE_RETURN_IF_ERROR(expr)                                                           \
  do {                                                                                          \
    if (::absl::Status storage_status_ = (expr); !storage_status_.ok()) return storage_status_; \
  } while (0)
