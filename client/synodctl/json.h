// JsonWriter: builds one JSON text (RFC 8259) for synodctl's -o json output.
//
// Commas and nesting are tracked by the writer; strings are escaped. Bytes
// that may not be valid UTF-8 (node data) are written base64-encoded by the
// callers, never as JSON strings.
//
// Thread: one owner.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "synod/client.h"

namespace synod::ctl {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  // Shorthands for a key and its value.
  JsonWriter& Field(absl::string_view key, absl::string_view value) {
    return Key(key).String(value);
  }
  JsonWriter& Field(absl::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(absl::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(absl::string_view key, uint64_t value) { return Key(key).Uint(value); }
  JsonWriter& Field(absl::string_view key, bool value) { return Key(key).Bool(value); }

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open object/array: true until its first element.
  std::vector<bool> first_;
  bool after_key_ = false;
};

// {"czxid":..,"mzxid":..,...} with the Stat's fields in proto order.
void WriteStat(JsonWriter& json, const Stat& stat);

}  // namespace synod::ctl
