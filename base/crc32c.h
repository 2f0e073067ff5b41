// Crc32c: CRC-32C (Castagnoli), the one implementation of the project: the
// Raft log's records, snapshot transfers between replicas and to clients.
// It depends on nothing, so the client library links it too.
//
// Uses the CPU's CRC32 instruction when it has one (SSE 4.2), else a table.
// RocksDB's own CRC in Debian's build is the portable one, several times
// slower.
//
// Thread-safe (pure functions); a Crc32cStream has one owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace synod::base {

// Continues a CRC-32C: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::string_view bytes) {
  return Crc32cExtend(0, bytes.data(), bytes.size());
}

// The CRC of a stream given in pieces (snapshot chunks).
class Crc32cStream {
 public:
  void Update(std::string_view bytes) { crc_ = Crc32cExtend(crc_, bytes.data(), bytes.size()); }
  uint32_t value() const { return crc_; }

 private:
  uint32_t crc_ = 0;
};

}  // namespace synod::base
