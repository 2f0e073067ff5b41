#include "base/crc32c.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "rocksdb/file_checksum.h"

namespace synod::base {
namespace {

TEST(Crc32cTest, MatchesTheStandardAndRocksDB) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  const std::string data(1000, 'q');
  auto gen = rocksdb::GetFileChecksumGenCrc32cFactory()->CreateFileChecksumGenerator(
      rocksdb::FileChecksumGenContext{});
  gen->Update(data.data(), data.size());
  gen->Finalize();
  uint32_t rocks = 0;
  for (char c : gen->GetChecksum()) rocks = (rocks << 8) | static_cast<uint8_t>(c);
  EXPECT_EQ(Crc32c(data), rocks);
  EXPECT_EQ(Crc32cExtend(Crc32c(data.substr(0, 3)), data.data() + 3, data.size() - 3),
            Crc32c(data));
}

}  // namespace
}  // namespace synod::base
