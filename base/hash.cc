#include "base/hash.h"

#include <bit>
#include <cstring>

#include "base/endian.h"

namespace synod::base {
namespace {

constexpr uint64_t kMulA = 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio
constexpr uint64_t kMulB = 0xd6e8feb86659fd93ULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

}  // namespace

uint64_t Mix64(uint64_t x) {
  x ^= x >> 32;
  x *= kMulB;
  x ^= x >> 29;
  x *= kMulB;
  x ^= x >> 32;
  return x;
}

StreamHasher::StreamHasher(uint64_t seed) : state_(Mix64(seed ^ kMulA)) {}

void StreamHasher::Absorb(uint64_t word) {
  // Each word is mixed on its own before it enters the state, so a change
  // anywhere in a word changes the whole contribution.
  state_ = Rotl(state_ ^ Mix64(word + kMulA), 23) * kMulA + kMulB;
}

void StreamHasher::Update(std::string_view bytes) {
  length_ += bytes.size();
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0 && pending_bytes_ > 0) {
    pending_ |= static_cast<uint64_t>(static_cast<uint8_t>(*p)) << (8 * pending_bytes_);
    ++p;
    --n;
    if (++pending_bytes_ == 8) {
      Absorb(pending_);
      pending_ = 0;
      pending_bytes_ = 0;
    }
  }
  while (n >= 8) {
    Absorb(LoadLittleEndian64(p));
    p += 8;
    n -= 8;
  }
  for (; n > 0; ++p, --n) {
    pending_ |= static_cast<uint64_t>(static_cast<uint8_t>(*p)) << (8 * pending_bytes_);
    ++pending_bytes_;
  }
}

uint64_t StreamHasher::Finish() const {
  uint64_t h = state_;
  // The length goes in last, so inputs that differ only by trailing zero
  // bytes hash differently.
  h = Rotl(h ^ Mix64(pending_ + kMulB), 23) * kMulA;
  h ^= Mix64(length_);
  return Mix64(h);
}

uint64_t Hash64(std::string_view bytes, uint64_t seed) {
  StreamHasher hasher(seed);
  hasher.Update(bytes);
  return hasher.Finish();
}

}  // namespace synod::base
