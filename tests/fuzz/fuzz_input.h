// Helpers shared by the fuzz targets and their seed writer (seed_corpus.cc):
// the byte reader a target uses to split its input into fields, the writer
// the seed program uses to build the same layout, and the one way a target
// stops on a broken promise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace synod::fuzz {

// Reads little-endian fields off the front of a fuzz input. Past the end
// every read yields zeros or an empty string: a target takes whatever
// input it is given.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  ByteReader(const uint8_t* data, size_t size)
      : in_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return in_.empty(); }
  size_t size() const { return in_.size(); }

  uint64_t Le(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes && !in_.empty(); ++i) {
      v |= uint64_t{static_cast<uint8_t>(in_[0])} << (8 * i);
      in_.remove_prefix(1);
    }
    return v;
  }
  uint8_t U8() { return static_cast<uint8_t>(Le(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Le(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  // Up to `n` bytes (fewer at the end of the input).
  std::string_view Bytes(size_t n) {
    const std::string_view out = in_.substr(0, n);
    in_.remove_prefix(out.size());
    return out;
  }
  // A u16 length, then that many bytes.
  std::string_view Field() { return Bytes(U16()); }
  std::string_view Rest() { return Bytes(in_.size()); }

 private:
  std::string_view in_;
};

// Builds inputs in the layout ByteReader reads (seed_corpus.cc).
class ByteWriter {
 public:
  ByteWriter& Le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  ByteWriter& U8(uint8_t v) { return Le(v, 1); }
  ByteWriter& U16(uint16_t v) { return Le(v, 2); }
  ByteWriter& U32(uint32_t v) { return Le(v, 4); }
  ByteWriter& Bytes(std::string_view b) {
    out_.append(b);
    return *this;
  }
  // A u16 length, then the bytes (at most 65535 of them).
  ByteWriter& Field(std::string_view b) {
    U16(static_cast<uint16_t>(b.size()));
    return Bytes(b.substr(0, 0xffff));
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// A promise of the code under test did not hold: print it and abort, so
// that libFuzzer keeps the input as a crash.
[[noreturn]] inline void Broken(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz invariant broken: %s %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void Require(bool holds, const char* what, const std::string& detail = "") {
  if (!holds) Broken(what, detail);
}

// Require that `s` is OK or carries one of the codes a parser of untrusted
// bytes may return for them.
inline void RequireTyped(const absl::Status& s, std::initializer_list<absl::StatusCode> allowed,
                         const char* what) {
  if (s.ok()) return;
  for (absl::StatusCode code : allowed) {
    if (s.code() == code) return;
  }
  Broken(what, s.ToString());
}

}  // namespace synod::fuzz
