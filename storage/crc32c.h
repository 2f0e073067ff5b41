// Crc32c: CRC-32C (Castagnoli) of byte ranges, for the Raft log's records.
//
// Uses the CPU's CRC32 instruction when it has one (SSE 4.2), else a table.
// RocksDB's own CRC in Debian's build is the portable one, several times
// slower; the log checksums every record it writes and reads.
//
// Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace synod::storage {

// Continues a CRC-32C: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::string_view bytes) {
  return Crc32cExtend(0, bytes.data(), bytes.size());
}

}  // namespace synod::storage
