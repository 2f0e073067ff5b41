// A fixed, portable 64-bit hash: the same bytes give the same value on every
// replica, build and run (unlike absl::Hash, which is seeded per process).
// Used for the tree digest and snapshot checksums; not for hash tables.
#pragma once

#include <cstdint>
#include <string_view>

namespace synod::base {

uint64_t Hash64(std::string_view bytes, uint64_t seed = 0);

// Mixes a 64-bit value so that nearby inputs give unrelated outputs.
uint64_t Mix64(uint64_t x);

// Incremental form for long inputs (snapshot files): any split of the input
// into Update calls gives the same Finish(), equal to Hash64 of the whole.
class StreamHasher {
 public:
  explicit StreamHasher(uint64_t seed = 0);
  void Update(std::string_view bytes);
  uint64_t Finish() const;

 private:
  void Absorb(uint64_t word);
  uint64_t state_;
  uint64_t length_ = 0;
  uint64_t pending_ = 0;  // bytes not yet forming a whole word
  int pending_bytes_ = 0;
};

}  // namespace synod::base
