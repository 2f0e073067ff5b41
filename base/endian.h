// Little-endian 64-bit loads for on-disk formats and hashing: the byte order
// is part of the format, so every host reads the same value (a plain copy
// on little-endian hosts).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace synod::base {

// Reads 8 bytes at `p` (no alignment needed) as a little-endian integer.
inline uint64_t LoadLittleEndian64(const char* p) {
  uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, 8);
  } else {
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

}  // namespace synod::base
