#include "raft/inflights.h"

#include "base/check.h"

namespace synod::raft {

Inflights::Inflights(size_t capacity, uint64_t max_bytes)
    : capacity_(capacity), max_bytes_(max_bytes) {}

void Inflights::Add(LogIndex index, uint64_t bytes) {
  SYNOD_CHECK(count_ < capacity_) << "inflights window overflow";
  size_t next = start_ + count_;
  if (next >= capacity_) next -= capacity_;
  if (next >= buffer_.size()) {
    // Grow lazily: most followers never fill a large window.
    size_t size = buffer_.empty() ? 4 : buffer_.size() * 2;
    if (size > capacity_) size = capacity_;
    buffer_.resize(size);
  }
  SYNOD_DCHECK(count_ == 0 || buffer_[(start_ + count_ - 1) % capacity_].index < index)
      << "inflight indexes must increase, got " << index;
  buffer_[next] = Slot{index, bytes};
  ++count_;
  bytes_ += bytes;
}

void Inflights::FreeLE(LogIndex index) {
  while (count_ > 0 && buffer_[start_].index <= index) {
    bytes_ -= buffer_[start_].bytes;
    ++start_;
    if (start_ >= capacity_) start_ = 0;
    --count_;
  }
  if (count_ == 0) start_ = 0;  // keeps the buffer compact from the front
}

void Inflights::FreeFirstOne() {
  if (count_ > 0) FreeLE(buffer_[start_].index);
}

bool Inflights::Full() const {
  return count_ == capacity_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

void Inflights::Reset() {
  start_ = 0;
  count_ = 0;
  bytes_ = 0;
}

}  // namespace synod::raft
