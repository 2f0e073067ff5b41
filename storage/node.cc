#include "storage/node.h"

#include <bit>
#include <cstring>

#include "base/endian.h"
#include "base/hash.h"

namespace synod::storage {
namespace {

// Value tags: a value of the wrong table, or a future format, is caught at
// decode instead of being misread.
constexpr char kNodeTag = 'N';
constexpr char kHistoryTag = 'H';
constexpr char kSessionTag = 'S';

constexpr size_t kStatBytes = 11 * 8;

// Little-endian fixed-width integers (the byte order is part of the format;
// on little-endian hosts this is a plain copy).
void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(buf, &v, 8);
  } else {
    for (int i = 0; i < 8; ++i) {
      buf[i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
  }
  out->append(buf, 8);
}

uint64_t GetFixed64(const char* p) { return base::LoadLittleEndian64(p); }

void PutStat(std::string* out, const NodeStat& s) {
  PutFixed64(out, s.czxid);
  PutFixed64(out, s.mzxid);
  PutFixed64(out, s.pzxid);
  PutFixed64(out, static_cast<uint64_t>(s.ctime));
  PutFixed64(out, static_cast<uint64_t>(s.mtime));
  PutFixed64(out, static_cast<uint64_t>(s.version));
  PutFixed64(out, static_cast<uint64_t>(s.cversion));
  PutFixed64(out, static_cast<uint64_t>(s.aversion));
  PutFixed64(out, s.ephemeral_owner);
  PutFixed64(out, static_cast<uint64_t>(s.data_length));
  PutFixed64(out, static_cast<uint64_t>(s.num_children));
}

void GetStat(const char* p, NodeStat* s) {
  s->czxid = GetFixed64(p);
  s->mzxid = GetFixed64(p + 8);
  s->pzxid = GetFixed64(p + 16);
  s->ctime = static_cast<int64_t>(GetFixed64(p + 24));
  s->mtime = static_cast<int64_t>(GetFixed64(p + 32));
  s->version = static_cast<int64_t>(GetFixed64(p + 40));
  s->cversion = static_cast<int64_t>(GetFixed64(p + 48));
  s->aversion = static_cast<int64_t>(GetFixed64(p + 56));
  s->ephemeral_owner = GetFixed64(p + 64);
  s->data_length = static_cast<int64_t>(GetFixed64(p + 72));
  s->num_children = static_cast<int64_t>(GetFixed64(p + 80));
}

// The part of a node record that the digest covers besides path and data.
void PutNodeHead(std::string* out, const Node& node) {
  out->push_back(static_cast<char>(node.kind));
  PutStat(out, node.stat);
  PutFixed64(out, static_cast<uint64_t>(node.ttl_ms));
}

absl::Status Malformed(const char* what) {
  return absl::DataLossError(std::string("malformed ") + what + " record");
}

}  // namespace

void ToProto(const NodeStat& s, v1::Stat* out) {
  out->set_czxid(s.czxid);
  out->set_mzxid(s.mzxid);
  out->set_pzxid(s.pzxid);
  out->set_ctime(s.ctime);
  out->set_mtime(s.mtime);
  out->set_version(s.version);
  out->set_cversion(s.cversion);
  out->set_aversion(s.aversion);
  out->set_ephemeral_owner(s.ephemeral_owner);
  out->set_data_length(s.data_length);
  out->set_num_children(s.num_children);
}

v1::Stat ToProto(const NodeStat& stat) {
  v1::Stat out;
  ToProto(stat, &out);
  return out;
}

// Node: 'N' | kind | stat | ttl_ms | history_seq | data
void AppendNodeHead(const Node& node, std::string* out) {
  out->push_back(kNodeTag);
  PutNodeHead(out, node);
  PutFixed64(out, node.history_seq);
}

std::string EncodeNode(const Node& node) {
  std::string out;
  out.reserve(2 + kStatBytes + 16 + node.data.size());
  AppendNodeHead(node, &out);
  out.append(node.data);
  return out;
}

absl::Status DecodeNode(std::string_view in, Node* node) {
  constexpr size_t kHead = 2 + kStatBytes + 16;
  if (in.size() < kHead || in[0] != kNodeTag) return Malformed("node");
  uint8_t kind = static_cast<uint8_t>(in[1]);
  if (kind > static_cast<uint8_t>(NodeKind::kTtl)) return Malformed("node");
  node->kind = static_cast<NodeKind>(kind);
  GetStat(in.data() + 2, &node->stat);
  node->ttl_ms = static_cast<int64_t>(GetFixed64(in.data() + 2 + kStatBytes));
  node->history_seq = GetFixed64(in.data() + 2 + kStatBytes + 8);
  node->data.assign(in.data() + kHead, in.size() - kHead);
  return absl::OkStatus();
}

// History entry: 'H' | deleted | revision | stat | data
void AppendHistoryEntryHead(const HistoryEntry& entry, std::string* out) {
  out->push_back(kHistoryTag);
  out->push_back(entry.deleted ? 1 : 0);
  PutFixed64(out, entry.revision);
  PutStat(out, entry.stat);
}

std::string EncodeHistoryEntry(const HistoryEntry& entry) {
  std::string out;
  out.reserve(2 + 8 + kStatBytes + entry.data.size());
  AppendHistoryEntryHead(entry, &out);
  out.append(entry.data);
  return out;
}

absl::Status DecodeHistoryEntry(std::string_view in, HistoryEntry* entry) {
  constexpr size_t kHead = 2 + 8 + kStatBytes;
  if (in.size() < kHead || in[0] != kHistoryTag || static_cast<uint8_t>(in[1]) > 1) {
    return Malformed("history");
  }
  entry->deleted = in[1] == 1;
  entry->revision = GetFixed64(in.data() + 2);
  GetStat(in.data() + 10, &entry->stat);
  entry->data.assign(in.data() + kHead, in.size() - kHead);
  return absl::OkStatus();
}

// Session: 'S' | id | timeout_ms | secret length | secret | last_sequence
//          | last_result
std::string EncodeSession(const Session& s) {
  std::string out;
  out.push_back(kSessionTag);
  PutFixed64(&out, s.id);
  PutFixed64(&out, static_cast<uint64_t>(s.timeout_ms));
  PutFixed64(&out, s.secret.size());
  out.append(s.secret);
  PutFixed64(&out, s.last_sequence);
  out.append(s.last_result);
  return out;
}

absl::Status DecodeSession(std::string_view in, Session* s) {
  if (in.size() < 25 || in[0] != kSessionTag) return Malformed("session");
  s->id = GetFixed64(in.data() + 1);
  s->timeout_ms = static_cast<int64_t>(GetFixed64(in.data() + 9));
  uint64_t secret_len = GetFixed64(in.data() + 17);
  if (secret_len > in.size() - 25 || in.size() - 25 - secret_len < 8) return Malformed("session");
  s->secret.assign(in.data() + 25, secret_len);
  size_t pos = 25 + secret_len;
  s->last_sequence = GetFixed64(in.data() + pos);
  pos += 8;
  s->last_result.assign(in.data() + pos, in.size() - pos);
  return absl::OkStatus();
}

Node InitialRoot() {
  Node root;
  root.history_seq = 1;
  return root;
}

HistoryEntry InitialRootHistory() { return HistoryEntry{}; }

bool ExpiredAt(const Node& node, int64_t now_ms) {
  if (node.stat.num_children != 0) return false;
  if (node.kind == NodeKind::kTtl) return now_ms - node.stat.mtime >= node.ttl_ms;
  return node.kind == NodeKind::kContainer && node.stat.cversion > 0;
}

uint64_t NodeDigestTerm(std::string_view path, const Node& node) {
  std::string head;
  head.reserve(1 + kStatBytes + 8);
  PutNodeHead(&head, node);
  base::StreamHasher hasher(/*seed=*/0x53594e4f44ULL);
  hasher.Update(path);
  // Paths hold no NUL, so this separator makes (path, rest) unambiguous.
  hasher.Update(std::string_view("\0", 1));
  hasher.Update(head);
  hasher.Update(node.data);
  return hasher.Finish();
}

}  // namespace synod::storage
