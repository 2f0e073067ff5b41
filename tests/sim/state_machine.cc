#include "tests/sim/state_machine.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace synod::sim {
namespace {

uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, 8);
}

uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

uint64_t EntryHash(const raft::Entry& entry) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : entry.data()) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix(h ^ (static_cast<uint64_t>(entry.type()) << 56));
}

std::string EncodeValue(uint64_t id, size_t padding) {
  std::string data;
  data.reserve(8 + padding);
  PutFixed64(&data, id);
  data.append(padding, 'p');
  return data;
}

std::optional<uint64_t> DecodeValue(const std::string& data) {
  if (data.size() < 8) return std::nullopt;
  return GetFixed64(data.data());
}

void ListStateMachine::Apply(const raft::Entry& entry) {
  applied_ = entry.index();
  digest_ = Mix(digest_ ^
                Mix(entry.index() * 0x9e3779b97f4a7c15ULL ^ Mix(entry.term()) ^ EntryHash(entry)));
  if (entry.type() != raftpb::ENTRY_NORMAL) return;
  if (std::optional<uint64_t> id = DecodeValue(entry.data())) {
    values_.push_back({entry.index(), *id});
  }
}

std::string ListStateMachine::Serialize() const {
  std::string out;
  out.reserve(24 + 16 * values_.size());
  PutFixed64(&out, applied_);
  PutFixed64(&out, digest_);
  PutFixed64(&out, values_.size());
  for (const Value& v : values_) {
    PutFixed64(&out, v.index);
    PutFixed64(&out, v.id);
  }
  return out;
}

absl::Status ListStateMachine::Restore(const raft::Snapshot& snapshot) {
  const std::string& data = snapshot.data();
  if (data.size() < 24) return absl::InvalidArgumentError("snapshot data too short");
  const uint64_t n = GetFixed64(data.data() + 16);
  if (data.size() != 24 + 16 * n) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot data has ", data.size(), " bytes for ", n, " values"));
  }
  const raft::LogIndex applied = GetFixed64(data.data());
  if (applied != snapshot.metadata().index()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot data is at ", applied,
                                                   ", metadata at ", snapshot.metadata().index()));
  }
  applied_ = applied;
  digest_ = GetFixed64(data.data() + 8);
  values_.clear();
  values_.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    const char* p = data.data() + 24 + 16 * k;
    values_.push_back({GetFixed64(p), GetFixed64(p + 8)});
  }
  conf_state_ = snapshot.metadata().conf_state();
  return absl::OkStatus();
}

bool ListStateMachine::Contains(raft::LogIndex index, uint64_t id) const {
  auto it = std::lower_bound(values_.begin(), values_.end(), index,
                             [](const Value& v, raft::LogIndex i) { return v.index < i; });
  return it != values_.end() && it->index == index && it->id == id;
}

}  // namespace synod::sim
