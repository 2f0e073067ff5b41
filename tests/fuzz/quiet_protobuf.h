// Included by the fuzz targets that parse protobuf messages: protobuf logs
// an error for every string field with invalid UTF-8 it refuses, which
// fuzzing produces thousands of times a second. The refusal itself (the
// parse fails) is what the targets check.
#pragma once

#include "google/protobuf/stubs/logging.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
