#include "server/crc32c.h"

#include <string>

#include "rocksdb/file_checksum.h"

namespace synod::server {

Crc32c::Crc32c()
    : gen_(rocksdb::GetFileChecksumGenCrc32cFactory()->CreateFileChecksumGenerator(
          rocksdb::FileChecksumGenContext{})) {}

Crc32c::~Crc32c() = default;

void Crc32c::Update(absl::string_view bytes) { gen_->Update(bytes.data(), bytes.size()); }

uint32_t Crc32c::Finish() {
  gen_->Finalize();
  const std::string sum = gen_->GetChecksum();
  uint32_t v = 0;
  for (char c : sum) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

}  // namespace synod::server
