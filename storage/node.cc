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
// The kind byte's top bit: the node's data is null (Node::data_null).
constexpr uint8_t kNullDataBit = 0x80;

void PutNodeHead(std::string* out, const Node& node) {
  out->push_back(static_cast<char>(static_cast<uint8_t>(node.kind) |
                                   (node.data_null ? kNullDataBit : 0)));
  PutStat(out, node.stat);
  PutFixed64(out, static_cast<uint64_t>(node.ttl_ms));
}

absl::Status Malformed(const char* what) {
  return absl::DataLossError(std::string("malformed ") + what + " record");
}

// Unsigned LEB128: the ACL's counts and lengths are small, so the common
// open ACL costs one byte (a count of 0).
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    // Only the shortest form: a value has one encoding, so a decoded record
    // encodes back to the same bytes.
    if ((b & 0x80) == 0) return (b != 0 || shift == 0) && (shift < 63 || b <= 1);
  }
  return false;
}

bool GetBytes(std::string_view* in, std::string* out) {
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  out->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

void PutBytes(std::string* out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out->append(bytes);
}

// ACL: varint count | per entry: varint perms | scheme | id (each a varint
// length and bytes).
void PutAcl(std::string* out, const Acl& acl) {
  PutVarint(out, acl.size());
  for (const AclEntry& e : acl) {
    PutVarint(out, e.perms);
    PutBytes(out, e.scheme);
    PutBytes(out, e.id);
  }
}

bool GetAcl(std::string_view* in, Acl* acl) {
  uint64_t count = 0;
  // Each entry takes at least 3 bytes: a count beyond that is damage.
  if (!GetVarint(in, &count) || count > in->size() / 3) return false;
  acl->clear();
  acl->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    AclEntry& e = acl->emplace_back();
    uint64_t perms = 0;
    if (!GetVarint(in, &perms) || perms > UINT32_MAX) return false;
    e.perms = static_cast<uint32_t>(perms);
    if (!GetBytes(in, &e.scheme) || !GetBytes(in, &e.id)) return false;
  }
  return true;
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

// Node: 'N' | kind (top bit: null data) | stat | ttl_ms | history_seq | acl | data
void AppendNodeHead(const Node& node, std::string* out) {
  out->push_back(kNodeTag);
  PutNodeHead(out, node);
  PutFixed64(out, node.history_seq);
  PutAcl(out, node.acl);
}

std::string EncodeNode(const Node& node) {
  std::string out;
  out.reserve(3 + kStatBytes + 16 + node.data.size());
  AppendNodeHead(node, &out);
  out.append(node.data);
  return out;
}

absl::Status DecodeNode(std::string_view in, Node* node) {
  constexpr size_t kFixed = 2 + kStatBytes + 16;
  if (in.size() < kFixed || in[0] != kNodeTag) return Malformed("node");
  const uint8_t head = static_cast<uint8_t>(in[1]);
  const uint8_t kind = head & static_cast<uint8_t>(~kNullDataBit);
  if (kind > static_cast<uint8_t>(NodeKind::kTtl)) return Malformed("node");
  node->kind = static_cast<NodeKind>(kind);
  node->data_null = (head & kNullDataBit) != 0;
  GetStat(in.data() + 2, &node->stat);
  node->ttl_ms = static_cast<int64_t>(GetFixed64(in.data() + 2 + kStatBytes));
  node->history_seq = GetFixed64(in.data() + 2 + kStatBytes + 8);
  in.remove_prefix(kFixed);
  if (!GetAcl(&in, &node->acl)) return Malformed("node");
  if (node->data_null && !in.empty()) return Malformed("node");
  node->data.assign(in.data(), in.size());
  return absl::OkStatus();
}

// History entry: 'H' | deleted | revision | stat | acl | data
void AppendHistoryEntryHead(const HistoryEntry& entry, std::string* out) {
  out->push_back(kHistoryTag);
  out->push_back(entry.deleted ? 1 : 0);
  PutFixed64(out, entry.revision);
  PutStat(out, entry.stat);
  PutAcl(out, entry.acl);
}

std::string EncodeHistoryEntry(const HistoryEntry& entry) {
  std::string out;
  out.reserve(3 + 8 + kStatBytes + entry.data.size());
  AppendHistoryEntryHead(entry, &out);
  out.append(entry.data);
  return out;
}

absl::Status DecodeHistoryEntry(std::string_view in, HistoryEntry* entry) {
  constexpr size_t kFixed = 2 + 8 + kStatBytes;
  if (in.size() < kFixed || in[0] != kHistoryTag || static_cast<uint8_t>(in[1]) > 1) {
    return Malformed("history");
  }
  entry->deleted = in[1] == 1;
  entry->revision = GetFixed64(in.data() + 2);
  GetStat(in.data() + 10, &entry->stat);
  in.remove_prefix(kFixed);
  if (!GetAcl(&in, &entry->acl)) return Malformed("history");
  entry->data.assign(in.data(), in.size());
  return absl::OkStatus();
}

// Session: 'S' | id | timeout_ms | secret | owner | varint ephemerals
//          | varint acked_below | varint count | (varint sequence | result)*,
//          where secret and each result are a varint length and bytes and
//          owner a varint count of (scheme, id) pairs, each as the secret.
std::string EncodeSession(const Session& s) {
  std::string out;
  out.push_back(kSessionTag);
  PutFixed64(&out, s.id);
  PutFixed64(&out, static_cast<uint64_t>(s.timeout_ms));
  PutBytes(&out, s.secret);
  PutVarint(&out, s.owner.size());
  for (const SessionOwnerId& o : s.owner) {
    PutBytes(&out, o.scheme);
    PutBytes(&out, o.id);
  }
  PutVarint(&out, s.ephemerals);
  PutVarint(&out, s.acked_below);
  PutVarint(&out, s.results.size());
  for (const WriteResult& r : s.results) {
    PutVarint(&out, r.sequence);
    PutBytes(&out, r.result);
  }
  return out;
}

absl::Status DecodeSession(std::string_view in, Session* s) {
  if (in.size() < 17 || in[0] != kSessionTag) return Malformed("session");
  s->id = GetFixed64(in.data() + 1);
  s->timeout_ms = static_cast<int64_t>(GetFixed64(in.data() + 9));
  in.remove_prefix(17);
  uint64_t owners = 0;
  if (!GetBytes(&in, &s->secret) || !GetVarint(&in, &owners) || owners > in.size() / 2) {
    return Malformed("session");
  }
  s->owner.clear();
  for (uint64_t i = 0; i < owners; ++i) {
    SessionOwnerId& o = s->owner.emplace_back();
    if (!GetBytes(&in, &o.scheme) || !GetBytes(&in, &o.id)) return Malformed("session");
  }
  uint64_t results = 0;
  if (!GetVarint(&in, &s->ephemerals) || !GetVarint(&in, &s->acked_below) ||
      !GetVarint(&in, &results) || results > in.size() / 2) {
    return Malformed("session");
  }
  s->results.clear();
  for (uint64_t i = 0; i < results; ++i) {
    WriteResult& r = s->results.emplace_back();
    // Strictly increasing, none below acked_below: the order apply keeps.
    const uint64_t floor = i == 0 ? s->acked_below : s->results[i - 1].sequence + 1;
    if (!GetVarint(&in, &r.sequence) || r.sequence < floor || !GetBytes(&in, &r.result)) {
      return Malformed("session");
    }
  }
  if (!in.empty()) return Malformed("session");
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
  head.reserve(2 + kStatBytes + 8);
  PutNodeHead(&head, node);
  PutAcl(&head, node.acl);
  base::StreamHasher hasher(/*seed=*/0x53594e4f44ULL);
  hasher.Update(path);
  // Paths hold no NUL, so this separator makes (path, rest) unambiguous.
  hasher.Update(std::string_view("\0", 1));
  hasher.Update(head);
  hasher.Update(node.data);
  return hasher.Finish();
}

}  // namespace synod::storage
