// CRC32C (Castagnoli), to check a snapshot stream against the checksum its
// last chunk carries. The server computes it through RocksDB; the client
// library does not link RocksDB, hence this small table-driven version.
//
// Thread: one owner.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace synod::client {

class Crc32c {
 public:
  void Update(absl::string_view bytes);
  uint32_t value() const { return ~state_; }

 private:
  uint32_t state_ = ~0u;
};

}  // namespace synod::client
