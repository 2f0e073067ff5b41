#include "storage/format.h"

#include "storage/path.h"

namespace synod::storage::keys {

void AppendBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

void AppendBigEndian32(std::string* out, uint32_t v) {
  char buf[4];
  for (int i = 3; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 4);
}

uint64_t ReadBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint32_t ReadBigEndian32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string NodeKey(std::string_view path) {
  if (path == "/") return std::string(path);
  std::string_view parent = ParentPath(path);
  std::string_view name = BaseName(path);
  std::string key;
  key.reserve(parent.size() + 1 + name.size());
  key.append(parent);
  key.push_back(kChildSeparator);
  key.append(name);
  return key;
}

std::string ChildrenPrefix(std::string_view parent) {
  std::string key;
  key.reserve(parent.size() + 1);
  key.append(parent);
  key.push_back(kChildSeparator);
  return key;
}

bool PathFromNodeKey(std::string_view key, std::string* path) {
  if (key == "/") {
    path->assign(1, '/');
    return true;
  }
  size_t sep = key.find(kChildSeparator);
  if (sep == std::string_view::npos || sep == 0) return false;
  *path = ChildPath(key.substr(0, sep), key.substr(sep + 1));
  return true;
}

std::string HistoryPrefix(std::string_view path) {
  std::string key;
  key.reserve(path.size() + 2 + 8);
  key.push_back(kHistoryTag);
  key.append(path);
  key.push_back('\0');
  return key;
}

std::string HistoryKey(std::string_view path, uint64_t slot) {
  std::string key = HistoryPrefix(path);
  AppendBigEndian64(&key, slot);
  return key;
}

std::string EventKey(uint64_t last_revision) {
  std::string key(1, kEventTag);
  AppendBigEndian64(&key, last_revision);
  return key;
}

std::string GraveKey(uint64_t revision, std::string_view path) {
  std::string key(1, kGraveTag);
  AppendBigEndian64(&key, revision);
  key.append(path);
  return key;
}

std::string SessionKey(uint64_t session_id) {
  std::string key(1, kSessionTag);
  AppendBigEndian64(&key, session_id);
  return key;
}

std::string EphemeralPrefix(uint64_t session_id) {
  std::string key(1, kEphemeralTag);
  AppendBigEndian64(&key, session_id);
  return key;
}

std::string EphemeralKey(uint64_t session_id, std::string_view path) {
  std::string key = EphemeralPrefix(session_id);
  key.append(path);
  return key;
}

std::string ExpiryKey(std::string_view path) {
  std::string key(1, kExpiryTag);
  key.append(path);
  return key;
}

}  // namespace synod::storage::keys
