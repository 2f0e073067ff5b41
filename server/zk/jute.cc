#include "server/zk/jute.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace synod::zk {

absl::Status MakeJuteError(JuteError kind, std::string_view what) {
  switch (kind) {
    case JuteError::kTruncated:
      return absl::OutOfRangeError(absl::StrCat("jute: truncated: ", std::string(what)));
    case JuteError::kBadLength:
      return absl::InvalidArgumentError(absl::StrCat("jute: bad length: ", std::string(what)));
    case JuteError::kTooLong:
      return absl::InvalidArgumentError(absl::StrCat("jute: too long: ", std::string(what)));
    case JuteError::kTrailingBytes:
      return absl::InvalidArgumentError(absl::StrCat("jute: trailing bytes: ", std::string(what)));
  }
  return absl::InternalError("jute: unknown error kind");
}

absl::Status JuteReader::Need(size_t n, std::string_view what) const {
  if (n > remaining()) {
    return MakeJuteError(JuteError::kTruncated, absl::StrCat(std::string(what), " needs ", n,
                                                             " bytes, ", remaining(), " left"));
  }
  return absl::OkStatus();
}

absl::Status JuteReader::ReadInt(int32_t* out) {
  if (absl::Status s = Need(4, "int"); !s.ok()) return s;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_ + i]);
  pos_ += 4;
  *out = static_cast<int32_t>(v);
  return absl::OkStatus();
}

absl::Status JuteReader::ReadLong(int64_t* out) {
  if (absl::Status s = Need(8, "long"); !s.ok()) return s;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_ + i]);
  pos_ += 8;
  *out = static_cast<int64_t>(v);
  return absl::OkStatus();
}

absl::Status JuteReader::ReadBool(bool* out) {
  if (absl::Status s = Need(1, "bool"); !s.ok()) return s;
  *out = bytes_[pos_] != 0;
  ++pos_;
  return absl::OkStatus();
}

absl::Status JuteReader::ReadBuffer(std::string* out, bool* is_null) {
  int32_t len = 0;
  if (absl::Status s = ReadInt(&len); !s.ok()) return s;
  if (is_null != nullptr) *is_null = len == -1;
  if (len == -1) {
    out->clear();
    return absl::OkStatus();
  }
  if (len < -1) return MakeJuteError(JuteError::kBadLength, absl::StrCat("buffer length ", len));
  if (static_cast<size_t>(len) > remaining()) {
    return MakeJuteError(JuteError::kTruncated,
                         absl::StrCat("buffer of ", len, " bytes, ", remaining(), " left"));
  }
  out->assign(bytes_.data() + pos_, static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return absl::OkStatus();
}

absl::Status JuteReader::ReadCount(int32_t* out, size_t min_element_bytes) {
  int32_t n = 0;
  if (absl::Status s = ReadInt(&n); !s.ok()) return s;
  if (n == -1) {
    *out = 0;
    return absl::OkStatus();
  }
  if (n < -1) return MakeJuteError(JuteError::kBadLength, absl::StrCat("vector count ", n));
  if (min_element_bytes > 0 && static_cast<size_t>(n) > remaining() / min_element_bytes) {
    return MakeJuteError(JuteError::kTooLong,
                         absl::StrCat("vector of ", n, " elements, ", remaining(), " bytes left"));
  }
  *out = n;
  return absl::OkStatus();
}

absl::Status JuteReader::ReadStringVector(std::vector<std::string>* out) {
  int32_t n = 0;
  if (absl::Status s = ReadCount(&n, 4); !s.ok()) return s;
  out->clear();
  out->reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    std::string v;
    if (absl::Status s = ReadString(&v); !s.ok()) return s;
    out->push_back(std::move(v));
  }
  return absl::OkStatus();
}

absl::Status JuteReader::ExpectEnd() const {
  if (remaining() != 0) {
    return MakeJuteError(JuteError::kTrailingBytes, absl::StrCat(remaining(), " bytes"));
  }
  return absl::OkStatus();
}

void JuteWriter::WriteInt(int32_t v) {
  const uint32_t u = static_cast<uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(u >> shift));
}

void JuteWriter::WriteLong(int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(u >> shift));
}

void JuteWriter::WriteBuffer(std::string_view v) {
  WriteInt(static_cast<int32_t>(v.size()));
  out_.append(v);
}

void JuteWriter::WriteStringVector(const std::vector<std::string>& v) {
  WriteInt(static_cast<int32_t>(v.size()));
  for (const std::string& s : v) WriteString(s);
}

}  // namespace synod::zk
