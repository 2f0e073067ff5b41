// Jute: the binary encoding of ZooKeeper's client protocol records
// (zookeeper.jute). Integers are big-endian two's complement (int: 4 bytes,
// long: 8), a bool is one byte, a buffer or string is an int length followed
// by that many bytes (-1: null, read back as empty), a vector is an int count
// followed by its elements (-1: null, read back as empty).
//
// JuteReader never reads outside the bytes it was given: every read checks
// the remaining length first and fails with a typed error instead. Input
// comes from the network and is fuzzed.
//
// Thread: none of its own; one object per frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace synod::zk {

// Why a frame could not be decoded. Carried in the absl::Status message as
// "jute: <kind>: ..." and returned as InvalidArgument (kTruncated:
// OutOfRange), so callers can tell a short frame from a malformed one.
enum class JuteError {
  kTruncated,      // the record goes past the end of the frame
  kBadLength,      // a length or count below -1
  kTooLong,        // a length or count beyond what the frame could hold
  kTrailingBytes,  // bytes left after the last field of a record
};

absl::Status MakeJuteError(JuteError kind, std::string_view what);

class JuteReader {
 public:
  explicit JuteReader(std::string_view bytes) : bytes_(bytes) {}

  // Errors: OutOfRange (kTruncated), InvalidArgument (kBadLength, kTooLong).
  absl::Status ReadInt(int32_t* out);
  absl::Status ReadLong(int64_t* out);
  absl::Status ReadBool(bool* out);
  // Null (-1) reads as empty; `is_null` (may be null) says which.
  absl::Status ReadBuffer(std::string* out, bool* is_null = nullptr);
  absl::Status ReadString(std::string* out) { return ReadBuffer(out); }
  absl::Status ReadStringVector(std::vector<std::string>* out);
  // A vector's element count; each element is then read by the caller.
  // Null reads as 0. Every element takes at least `min_element_bytes` bytes,
  // so a count beyond what the remaining bytes could hold is kTooLong.
  absl::Status ReadCount(int32_t* out, size_t min_element_bytes);

  // InvalidArgument (kTrailingBytes) unless everything was read.
  absl::Status ExpectEnd() const;

  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  absl::Status Need(size_t n, std::string_view what) const;

  std::string_view bytes_;
  size_t pos_ = 0;  // invariant: pos_ <= bytes_.size()
};

class JuteWriter {
 public:
  void WriteInt(int32_t v);
  void WriteLong(int64_t v);
  void WriteBool(bool v) { out_.push_back(v ? 1 : 0); }
  void WriteBuffer(std::string_view v);
  void WriteNullBuffer() { WriteInt(-1); }
  void WriteString(std::string_view v) { WriteBuffer(v); }
  void WriteStringVector(const std::vector<std::string>& v);

  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace synod::zk
