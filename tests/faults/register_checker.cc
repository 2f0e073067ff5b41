#include "tests/faults/register_checker.h"

#include <algorithm>
#include <limits>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace synod::faults {
namespace {

struct State {
  int64_t version = 0;
  int value = 0;  // index into the key's value table
  bool operator==(const State& o) const { return version == o.version && value == o.value; }
};

// An operation as the search sees it.
struct SearchOp {
  const Op* op = nullptr;
  enum Kind { kRead, kWrite, kCasOk, kCasBadVersion } kind = kRead;
  int value = 0;           // read: value read; writes: value written
  int64_t version = -1;    // read: version read; writes: resulting version or -1
  int64_t expected = -1;   // CAS
  bool definite = true;    // has a completion the search must respect
  // An unknown write whose value no read returned: it can only have taken a
  // version that nobody saw (see CheckRegister).
  bool unseen = false;
};

// Versions no operation saw or was acknowledged at, below the highest one
// the history shows; an unseen unknown write may only take one of these, or
// one above them all when `above_max` (to explain a BAD_VERSION answer).
struct Gaps {
  int64_t base = 0;
  int64_t max_version = 0;
  std::vector<bool> gap;  // index: version - base
  bool above_max = false;
  bool Allows(int64_t version) const {
    if (version > max_version) return above_max;
    return version > base && gap[static_cast<size_t>(version - base)];
  }
};

bool Step(const State& s, const SearchOp& op, const Gaps& gaps, State* out) {
  if (op.unseen && !gaps.Allows(s.version + 1)) return false;
  switch (op.kind) {
    case SearchOp::kRead:
      *out = s;
      return s.version == op.version && s.value == op.value;
    case SearchOp::kWrite:
      if (op.version >= 0 && op.version != s.version + 1) return false;
      *out = State{s.version + 1, op.value};
      return true;
    case SearchOp::kCasOk:
      if (s.version != op.expected) return false;
      if (op.version >= 0 && op.version != s.version + 1) return false;
      *out = State{s.version + 1, op.value};
      return true;
    case SearchOp::kCasBadVersion:
      *out = s;
      return s.version != op.expected;
  }
  return false;
}

// A call or completion in the doubly linked event list.
struct Event {
  int op = 0;
  bool is_call = true;
  int64_t time = 0;
  Event* prev = nullptr;
  Event* next = nullptr;
  Event* match = nullptr;  // call <-> completion
};

// The memo key: the set of linearized operations, as two independent
// 64-bit Zobrist hashes (XOR of a random word per operation, updated in
// O(1) when an operation is linearized or undone), and the state. Two sets
// colliding on 128 bits would only prune a branch, that is, could report a
// violation that is not one, never hide one; at 2^-128 per pair it does not
// happen in practice. Full bitsets cost O(n) per step and n/8 bytes per
// entry, which long histories cannot afford.
struct CacheEntry {
  uint64_t h1;
  uint64_t h2;
  State state;
  bool operator==(const CacheEntry& o) const {
    return h1 == o.h1 && h2 == o.h2 && state == o.state;
  }
};
struct CacheHash {
  size_t operator()(const CacheEntry& e) const {
    return absl::HashOf(e.h1, e.h2, e.state.version, e.state.value);
  }
};

std::string StateText(const State& s, const std::vector<std::string>& values) {
  return absl::StrCat("v", s.version, " '", values[s.value], "'");
}

// Words for why `blocked` could not be linearized: a read older than an
// acknowledged write, or a value no successful write produced.
std::string Explain(const Op& blocked, const std::vector<Op>& ops) {
  if (blocked.type != OpType::kRead) {
    return absl::StrCat("acknowledged ", OpTypeName(blocked.type),
                        " fits no order of the operations around it");
  }
  const Op* newest_acked = nullptr;
  const Op* writer = nullptr;
  for (const Op& o : ops) {
    if (o.type == OpType::kRead) continue;
    if (o.value == blocked.read_value) writer = &o;
    if (o.outcome == Outcome::kOk && o.complete_ns < blocked.invoke_ns &&
        (newest_acked == nullptr || o.version > newest_acked->version)) {
      newest_acked = &o;
    }
  }
  if (newest_acked != nullptr && newest_acked->version > blocked.version) {
    return absl::StrCat("stale read: client ", blocked.client, " on replica ", blocked.replica,
                        " read v", blocked.version, " at t=", Seconds(blocked.complete_ns),
                        " after v", newest_acked->version, " ('", newest_acked->value,
                        "') was acknowledged at t=", Seconds(newest_acked->complete_ns));
  }
  if (writer != nullptr && writer->outcome == Outcome::kFail) {
    return absl::StrCat("read '", blocked.read_value, "', written by #", writer->id,
                        " which was answered as failed (", writer->error, ")");
  }
  if (writer == nullptr) {
    return absl::StrCat("read '", blocked.read_value, "', a value no write in the history wrote");
  }
  return "read fits no order of the operations around it";
}

}  // namespace

KeyVerdict CheckRegister(const std::string& key, const std::vector<Op>& ops,
                         const CheckOptions& options) {
  KeyVerdict verdict;
  verdict.key = key;
  std::vector<std::string> values = {options.initial_value};
  std::unordered_map<std::string, int> value_ids = {{options.initial_value, 0}};
  auto value_id = [&](const std::string& v) {
    auto [it, inserted] = value_ids.emplace(v, static_cast<int>(values.size()));
    if (inserted) values.push_back(v);
    return it->second;
  };
  std::vector<SearchOp> sops;
  for (const Op& op : ops) {
    SearchOp s;
    s.op = &op;
    s.definite = op.outcome == Outcome::kOk;
    if (op.type == OpType::kRead) {
      if (op.outcome != Outcome::kOk) continue;  // a read that did not return constrains nothing
      s.kind = SearchOp::kRead;
      s.value = value_id(op.read_value);
      s.version = op.version;
    } else if (op.outcome == Outcome::kFail) {
      if (op.type != OpType::kCas || op.error != "BAD_VERSION") continue;  // never took effect
      s.kind = SearchOp::kCasBadVersion;
      s.expected = op.expected_version;
      s.definite = true;
    } else {
      s.kind = op.type == OpType::kWrite ? SearchOp::kWrite : SearchOp::kCasOk;
      s.value = value_id(op.value);
      s.version = op.outcome == Outcome::kOk ? op.version : -1;
      s.expected = op.expected_version;
    }
    sops.push_back(s);
  }
  Gaps gaps;
  // Unknown writes whose value no read returned. Such a write W can matter
  // only by taking a version nobody saw (a gap g below the highest version
  // the history shows), which it can do only if it was invoked before some
  // operation completed having seen a version above g; or by taking a
  // version above all of them to explain a BAD_VERSION answer that
  // expected the highest one, invoked before that answer. Any other such
  // write took no version inside the history, and one that took effect
  // after it all constrains nothing: leave it out. Leaving out options
  // never hides a violation; it keeps histories with many timeouts cheap.
  {
    std::unordered_set<int> observed;
    std::unordered_map<int, int64_t> version_of_value;
    int64_t max_version = options.initial_version;
    for (const SearchOp& s : sops) {
      if (s.kind == SearchOp::kRead) {
        observed.insert(s.value);
        version_of_value[s.value] = s.version;
      }
      if (s.kind != SearchOp::kCasBadVersion) max_version = std::max(max_version, s.version);
    }
    const int64_t base = options.initial_version;
    const size_t span = static_cast<size_t>(std::max<int64_t>(max_version - base, 0)) + 2;
    std::vector<bool> accounted(span, false);
    // seen_above[i]: earliest completion of a definite operation that saw or
    // wrote a version >= base + i.
    std::vector<int64_t> seen_above(span, std::numeric_limits<int64_t>::max());
    auto account = [&](int64_t version, int64_t complete) {
      if (version <= base || version > max_version) return;
      const size_t i = static_cast<size_t>(version - base);
      accounted[i] = true;
      seen_above[i] = std::min(seen_above[i], complete);
    };
    for (const SearchOp& s : sops) {
      if (s.kind == SearchOp::kRead) {
        account(s.version, s.op->complete_ns);
      } else if (s.kind != SearchOp::kCasBadVersion) {
        if (s.definite && s.version >= 0) account(s.version, s.op->complete_ns);
        auto it = version_of_value.find(s.value);
        if (it != version_of_value.end() && s.value != 0) {
          account(it->second, std::numeric_limits<int64_t>::max());
        }
      }
    }
    for (size_t i = span - 1; i-- > 0;) seen_above[i] = std::min(seen_above[i], seen_above[i + 1]);
    int64_t keep_before = std::numeric_limits<int64_t>::min();
    for (size_t i = 1; i + 1 < span; ++i) {
      if (!accounted[i]) keep_before = std::max(keep_before, seen_above[i + 1]);
    }
    for (const SearchOp& s : sops) {
      if (s.kind == SearchOp::kCasBadVersion && s.expected >= max_version) {
        keep_before = std::max(keep_before, s.op->complete_ns);
      }
    }
    std::erase_if(sops, [&](const SearchOp& s) {
      return !s.definite && (s.kind == SearchOp::kWrite || s.kind == SearchOp::kCasOk) &&
             observed.count(s.value) == 0 && s.op->invoke_ns >= keep_before;
    });
    // The ones kept may only fill a gap; an unknown write whose value was
    // read must land on the version it was read at.
    gaps.base = base;
    gaps.max_version = max_version;
    gaps.gap.assign(span, false);
    for (size_t i = 1; i + 1 < span; ++i) gaps.gap[i] = !accounted[i];
    for (const SearchOp& s : sops) {
      if (s.kind == SearchOp::kCasBadVersion && s.expected >= max_version) gaps.above_max = true;
    }
    for (SearchOp& s : sops) {
      if (s.definite || (s.kind != SearchOp::kWrite && s.kind != SearchOp::kCasOk)) continue;
      auto it = version_of_value.find(s.value);
      if (it == version_of_value.end()) {
        s.unseen = true;
      } else {
        s.version = it->second;
      }
    }
  }
  verdict.ops = sops.size();
  const int n = static_cast<int>(sops.size());

  // Events in real-time order; at equal times calls come first (the two
  // operations overlap). Unknown outcomes complete at +infinity.
  std::vector<Event> events(2 * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Event& call = events[2 * i];
    Event& ret = events[2 * i + 1];
    call = Event{i, true, sops[i].op->invoke_ns};
    ret = Event{i, false,
                sops[i].definite ? sops[i].op->complete_ns : std::numeric_limits<int64_t>::max()};
    call.match = &ret;
    ret.match = &call;
  }
  std::vector<Event*> order;
  for (Event& e : events) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Event* a, const Event* b) {
    if (a->time != b->time) return a->time < b->time;
    return a->is_call && !b->is_call;
  });
  Event head;  // sentinel
  Event* tail = &head;
  for (Event* e : order) {
    tail->next = e;
    e->prev = tail;
    tail = e;
  }

  auto lift = [](Event* call) {
    call->prev->next = call->next;
    if (call->next != nullptr) call->next->prev = call->prev;
    Event* ret = call->match;
    ret->prev->next = ret->next;
    if (ret->next != nullptr) ret->next->prev = ret->prev;
  };
  auto unlift = [](Event* call) {
    Event* ret = call->match;
    ret->prev->next = ret;
    if (ret->next != nullptr) ret->next->prev = ret;
    call->prev->next = call;
    if (call->next != nullptr) call->next->prev = call;
  };

  struct Frame {
    Event* call;
    State before;
  };
  std::vector<Frame> stack;
  std::unordered_set<CacheEntry, CacheHash> cache;
  std::vector<std::pair<uint64_t, uint64_t>> zobrist(static_cast<size_t>(n));
  std::mt19937_64 zrng(0x5eed5eed);  // fixed: the search is deterministic
  for (auto& z : zobrist) z = {zrng(), zrng()};
  uint64_t h1 = 0;
  uint64_t h2 = 0;
  State state{options.initial_version, 0};
  // The deepest point the search reached, for the report.
  size_t best_depth = 0;
  int best_blocked = -1;
  std::vector<State> best_states;

  Event* entry = head.next;
  while (entry != nullptr) {
    if (++verdict.steps > options.max_steps) {
      verdict.result = KeyVerdict::kBudgetExceeded;
      verdict.report = absl::StrCat(key, ": gave up after ", options.max_steps,
                                    " search steps (", n, " operations); not a pass");
      return verdict;
    }
    if (entry->is_call) {
      const SearchOp& op = sops[entry->op];
      State next;
      if (Step(state, op, gaps, &next)) {
        const uint64_t n1 = h1 ^ zobrist[entry->op].first;
        const uint64_t n2 = h2 ^ zobrist[entry->op].second;
        if (cache.insert(CacheEntry{n1, n2, next}).second) {
          stack.push_back(Frame{entry, state});
          state = next;
          h1 = n1;
          h2 = n2;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry->next;
      continue;
    }
    // A completion: its operation was not linearized before it returned.
    if (!sops[entry->op].definite) break;  // only unknown outcomes remain: done
    if (stack.size() > best_depth || best_blocked < 0) {
      best_depth = stack.size();
      best_blocked = entry->op;
      best_states.clear();
    }
    if (stack.size() == best_depth && entry->op == best_blocked && best_states.size() < 6 &&
        std::find(best_states.begin(), best_states.end(), state) == best_states.end()) {
      best_states.push_back(state);
    }
    if (stack.empty()) {
      verdict.result = KeyVerdict::kNotLinearizable;
      break;
    }
    Frame f = stack.back();
    stack.pop_back();
    state = f.before;
    h1 ^= zobrist[f.call->op].first;
    h2 ^= zobrist[f.call->op].second;
    unlift(f.call);
    entry = f.call->next;
  }
  if (verdict.result != KeyVerdict::kNotLinearizable) return verdict;

  const Op& blocked = *sops[best_blocked].op;
  std::string report =
      absl::StrCat(key, ": not linearizable. ", Explain(blocked, ops), "\n  cannot place ",
                   Describe(blocked), "\n  the register could only be:");
  for (const State& s : best_states) absl::StrAppend(&report, " ", StateText(s, values), ";");
  absl::StrAppend(&report, "\n  operations around it:");
  // The window: what overlapped the blocked operation, and the last few
  // acknowledged operations that completed before it began.
  std::vector<const Op*> before;
  for (const SearchOp& s : sops) {
    const Op& o = *s.op;
    if (o.complete_ns < blocked.invoke_ns && s.definite) before.push_back(&o);
  }
  std::sort(before.begin(), before.end(),
            [](const Op* a, const Op* b) { return a->complete_ns < b->complete_ns; });
  if (before.size() > 4) before.erase(before.begin(), before.end() - 4);
  for (const Op* o : before) absl::StrAppend(&report, "\n    before:     ", Describe(*o));
  for (const SearchOp& s : sops) {
    const Op& o = *s.op;
    const int64_t end = s.definite ? o.complete_ns : std::numeric_limits<int64_t>::max();
    if (&o != &blocked && o.invoke_ns <= blocked.complete_ns && end >= blocked.invoke_ns) {
      absl::StrAppend(&report, "\n    concurrent: ", Describe(o));
    }
  }
  verdict.report = std::move(report);
  return verdict;
}

std::vector<KeyVerdict> CheckRegisters(const std::vector<Op>& ops, const CheckOptions& options) {
  std::map<std::string, std::vector<Op>> by_key;
  for (const Op& op : ops) by_key[op.key].push_back(op);
  std::vector<KeyVerdict> out;
  for (const auto& [key, key_ops] : by_key) out.push_back(CheckRegister(key, key_ops, options));
  return out;
}

std::vector<std::string> CheckAcknowledgedWritesSurvive(
    const std::vector<Op>& ops, const std::map<std::string, FinalKeyState>& final_state,
    int64_t* unchecked) {
  std::vector<std::string> lost;
  *unchecked = 0;
  for (const Op& op : ops) {
    if (op.type == OpType::kRead || op.outcome != Outcome::kOk) continue;
    auto it = final_state.find(op.key);
    if (it == final_state.end() || it->second.version < 0) {
      lost.push_back(absl::StrCat("no final state of ", op.key, " to check ", Describe(op)));
      continue;
    }
    const FinalKeyState& fs = it->second;
    if (fs.version < op.version) {
      lost.push_back(absl::StrCat("lost write: ", op.key, " ends at v", fs.version,
                                  " but this was acknowledged at v", op.version, ": ",
                                  Describe(op)));
      continue;
    }
    auto at = fs.values.find(op.version);
    if (at == fs.values.end()) {
      ++*unchecked;
    } else if (at->second != op.value) {
      lost.push_back(absl::StrCat("lost write: ", op.key, " v", op.version, " holds '", at->second,
                                  "' but this was acknowledged there: ", Describe(op)));
    }
  }
  return lost;
}

}  // namespace synod::faults
