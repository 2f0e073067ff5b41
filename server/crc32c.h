// Crc32c: CRC32C over a byte stream (snapshot transfers). Uses RocksDB's
// implementation through its public checksum-generator interface. Debian's
// RocksDB 7.8 build takes its portable software path here (Slow_CRC32 in
// profiles), not the CPU's CRC instruction.
//
// Thread: one owner.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"

namespace rocksdb {
class FileChecksumGenerator;
}

namespace synod::server {

class Crc32c {
 public:
  Crc32c();
  ~Crc32c();
  void Update(absl::string_view bytes);
  // Ends the stream and returns the CRC of everything passed to Update.
  // Call once.
  uint32_t Finish();

 private:
  std::unique_ptr<rocksdb::FileChecksumGenerator> gen_;
};

}  // namespace synod::server
