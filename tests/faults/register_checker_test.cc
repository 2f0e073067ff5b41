#include "tests/faults/register_checker.h"

#include <random>

#include "gtest/gtest.h"

namespace synod::faults {
namespace {

// History builders; times in milliseconds.
class Builder {
 public:
  Builder& Read(int client, int64_t t0, int64_t t1, const std::string& value, int64_t version) {
    Op op = Base(client, t0, t1, OpType::kRead, Outcome::kOk);
    op.read_value = value;
    op.version = version;
    ops_.push_back(op);
    return *this;
  }
  Builder& Write(int client, int64_t t0, int64_t t1, const std::string& value, Outcome outcome,
                 int64_t version = -1, const std::string& error = "") {
    Op op = Base(client, t0, t1, OpType::kWrite, outcome);
    op.value = value;
    op.version = version;
    op.error = error;
    ops_.push_back(op);
    return *this;
  }
  Builder& Cas(int client, int64_t t0, int64_t t1, int64_t expected, const std::string& value,
               Outcome outcome, int64_t version = -1, const std::string& error = "") {
    Op op = Base(client, t0, t1, OpType::kCas, outcome);
    op.expected_version = expected;
    op.value = value;
    op.version = version;
    op.error = error;
    ops_.push_back(op);
    return *this;
  }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  Op Base(int client, int64_t t0, int64_t t1, OpType type, Outcome outcome) {
    Op op;
    op.id = static_cast<int64_t>(ops_.size()) + 1;
    op.client = client;
    op.replica = client;
    op.key = "/k";
    op.type = type;
    op.outcome = outcome;
    op.invoke_ns = t0 * 1'000'000;
    op.complete_ns = t1 * 1'000'000;
    return op;
  }
  std::vector<Op> ops_;
};

KeyVerdict Check(const Builder& b, int64_t max_steps = 1'000'000) {
  CheckOptions options;
  options.max_steps = max_steps;
  return CheckRegister("/k", b.ops(), options);
}

TEST(RegisterChecker, EmptyHistoryIsLinearizable) {
  EXPECT_EQ(Check(Builder()).result, KeyVerdict::kLinearizable);
}

TEST(RegisterChecker, SequentialWritesAndReads) {
  Builder b;
  b.Read(1, 0, 1, "init", 0)
      .Write(1, 2, 3, "a", Outcome::kOk, 1)
      .Read(2, 4, 5, "a", 1)
      .Cas(2, 6, 7, 1, "b", Outcome::kOk, 2)
      .Read(1, 8, 9, "b", 2);
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kLinearizable) << v.report;
}

TEST(RegisterChecker, ConcurrentReadMaySeeEitherState) {
  Builder old_value;
  old_value.Write(1, 0, 10, "a", Outcome::kOk, 1).Read(2, 2, 4, "init", 0);
  EXPECT_EQ(Check(old_value).result, KeyVerdict::kLinearizable);
  Builder new_value;
  new_value.Write(1, 0, 10, "a", Outcome::kOk, 1).Read(2, 2, 4, "a", 1);
  EXPECT_EQ(Check(new_value).result, KeyVerdict::kLinearizable);
}

TEST(RegisterChecker, RejectsStaleRead) {
  Builder b;
  b.Write(1, 0, 10, "a", Outcome::kOk, 1).Read(2, 20, 30, "init", 0);
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kNotLinearizable);
  EXPECT_NE(v.report.find("stale read"), std::string::npos) << v.report;
  EXPECT_NE(v.report.find("after v1"), std::string::npos) << v.report;
}

TEST(RegisterChecker, RejectsReadGoingBackInTime) {
  // Two reads in sequence: the second may not see an older state than the
  // first, even though the write that produced it is still in flight.
  Builder b;
  b.Write(1, 0, 100, "a", Outcome::kUnknown).Read(2, 10, 20, "a", 1).Read(3, 30, 40, "init", 0);
  EXPECT_EQ(Check(b).result, KeyVerdict::kNotLinearizable);
}

TEST(RegisterChecker, RejectsLostAcknowledgedWrite) {
  // b was acknowledged at v2, yet a later read sees a (v1): b was lost.
  Builder b;
  b.Write(1, 0, 10, "a", Outcome::kOk, 1)
      .Write(2, 20, 30, "b", Outcome::kOk, 2)
      .Read(3, 40, 50, "a", 1);
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kNotLinearizable);
  EXPECT_NE(v.report.find("stale read"), std::string::npos) << v.report;
}

TEST(RegisterChecker, UnknownWriteMayApplyLateOrNever) {
  Builder late;
  late.Write(1, 0, 5, "x", Outcome::kUnknown)
      .Read(2, 10, 20, "init", 0)
      .Read(2, 30, 40, "x", 1);
  KeyVerdict v = Check(late);
  EXPECT_EQ(v.result, KeyVerdict::kLinearizable) << v.report;
  Builder never;
  never.Write(1, 0, 5, "x", Outcome::kUnknown).Read(2, 10, 20, "init", 0);
  EXPECT_EQ(Check(never).result, KeyVerdict::kLinearizable);
}

TEST(RegisterChecker, UnseenUnknownWriteMayFillAVersion) {
  // x took v1 unseen and b was acknowledged at v2: x must have applied.
  Builder b;
  b.Write(1, 0, 5, "x", Outcome::kUnknown).Write(2, 10, 15, "b", Outcome::kOk, 2).Read(3, 20, 25, "b", 2);
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kLinearizable) << v.report;
}

TEST(RegisterChecker, UnseenUnknownWriteMayExplainBadVersion) {
  // a is at v1; the CAS expecting v1 failed, so x must have applied after a.
  Builder b;
  b.Write(1, 0, 5, "a", Outcome::kOk, 1)
      .Write(2, 6, 8, "x", Outcome::kUnknown)
      .Cas(3, 10, 15, 1, "c", Outcome::kFail, -1, "BAD_VERSION");
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kLinearizable) << v.report;
}

TEST(RegisterChecker, ManyUnseenUnknownWritesStayCheap) {
  // Hundreds of writes that never answered and that nobody saw, between
  // acknowledged writes that account for every version.
  Builder b;
  for (int i = 0; i < 300; ++i) b.Write(i, 0, 1000, "u" + std::to_string(i), Outcome::kUnknown);
  for (int i = 1; i <= 50; ++i) {
    b.Write(1000, 1000 + 10 * i, 1005 + 10 * i, "a" + std::to_string(i), Outcome::kOk, i);
  }
  b.Read(2000, 2000, 2001, "a50", 50);
  KeyVerdict v = Check(b, /*max_steps=*/100000);
  EXPECT_EQ(v.result, KeyVerdict::kLinearizable) << v.report;
  // The same history with a stale read is still caught.
  b.Read(2001, 2010, 2011, "a49", 49);
  EXPECT_EQ(Check(b, 100000).result, KeyVerdict::kNotLinearizable);
}

TEST(RegisterChecker, UnseenUnknownWritesFillOnlyTheGap) {
  // Versions 1..60 are all acknowledged except v30: one of the 40 writes
  // that never answered took it. Each may only go there, so the search
  // stays small.
  Builder b;
  for (int i = 0; i < 40; ++i) b.Write(i, 0, 1000, "u" + std::to_string(i), Outcome::kUnknown);
  for (int i = 1; i <= 60; ++i) {
    if (i == 30) continue;
    b.Write(1000, 1000 + 10 * i, 1005 + 10 * i, "a" + std::to_string(i), Outcome::kOk, i);
  }
  b.Read(2000, 2000, 2001, "a60", 60);
  KeyVerdict v = Check(b, /*max_steps=*/200000);
  EXPECT_EQ(v.result, KeyVerdict::kLinearizable) << v.report;
  // Without any unknown write, v30 cannot be explained.
  Builder none;
  for (int i = 1; i <= 60; ++i) {
    if (i == 30) continue;
    none.Write(1000, 1000 + 10 * i, 1005 + 10 * i, "a" + std::to_string(i), Outcome::kOk, i);
  }
  EXPECT_EQ(Check(none).result, KeyVerdict::kNotLinearizable);
}

TEST(RegisterChecker, UnknownWriteLandsOnTheVersionItWasReadAt) {
  // x was read at v2, so it cannot have been the write that made v1.
  Builder b;
  b.Write(1, 0, 100, "x", Outcome::kUnknown)
      .Read(2, 10, 20, "x", 1)
      .Read(3, 30, 40, "x", 2);
  EXPECT_EQ(Check(b).result, KeyVerdict::kNotLinearizable);
}

TEST(RegisterChecker, RejectsEffectOfFailedWrite) {
  Builder b;
  b.Write(1, 0, 5, "x", Outcome::kFail, -1, "NOT_LEADER").Read(2, 10, 20, "x", 1);
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kNotLinearizable);
  EXPECT_NE(v.report.find("answered as failed"), std::string::npos) << v.report;
}

TEST(RegisterChecker, RejectsReadOfValueNeverWritten) {
  Builder b;
  b.Read(1, 0, 5, "ghost", 1);
  KeyVerdict v = Check(b);
  EXPECT_EQ(v.result, KeyVerdict::kNotLinearizable);
  EXPECT_NE(v.report.find("no write in the history"), std::string::npos) << v.report;
}

TEST(RegisterChecker, CasBadVersionConstrainsTheVersion) {
  Builder ok;
  ok.Write(1, 0, 5, "a", Outcome::kOk, 1).Cas(2, 10, 15, 0, "b", Outcome::kFail, -1, "BAD_VERSION");
  EXPECT_EQ(Check(ok).result, KeyVerdict::kLinearizable);
  // The version was 1 when the CAS expecting 1 ran, so BAD_VERSION is wrong.
  Builder bad;
  bad.Write(1, 0, 5, "a", Outcome::kOk, 1).Cas(2, 10, 15, 1, "b", Outcome::kFail, -1, "BAD_VERSION");
  EXPECT_EQ(Check(bad).result, KeyVerdict::kNotLinearizable);
  // A CAS that failed for another reason never ran: no constraint.
  Builder other;
  other.Write(1, 0, 5, "a", Outcome::kOk, 1).Cas(2, 10, 15, 1, "b", Outcome::kFail, -1, "NOT_LEADER");
  EXPECT_EQ(Check(other).result, KeyVerdict::kLinearizable);
}

TEST(RegisterChecker, RejectsTwoWritesAcknowledgedAtOneVersion) {
  Builder b;
  b.Write(1, 0, 10, "a", Outcome::kOk, 1).Write(2, 0, 10, "b", Outcome::kOk, 1);
  EXPECT_EQ(Check(b).result, KeyVerdict::kNotLinearizable);
}

TEST(RegisterChecker, RejectsSuccessfulCasOnWrongVersion) {
  Builder b;
  b.Write(1, 0, 5, "a", Outcome::kOk, 1).Cas(2, 10, 15, 0, "b", Outcome::kOk, 1);
  EXPECT_EQ(Check(b).result, KeyVerdict::kNotLinearizable);
}

TEST(RegisterChecker, GivesUpAtTheBudgetWithoutPassing) {
  Builder b;
  for (int i = 0; i < 12; ++i) b.Write(i, 0, 1000, "w" + std::to_string(i), Outcome::kUnknown);
  b.Read(99, 2000, 2001, "nobody", 3);
  KeyVerdict v = Check(b, /*max_steps=*/50);
  EXPECT_EQ(v.result, KeyVerdict::kBudgetExceeded);
}

// Generated histories: clients run overlapping operations against a true
// register, each taking effect at a random instant inside its interval, so
// every generated history is linearizable; some outcomes are then hidden
// (unknown) as a lost reply would. Then one read of each history is made
// stale on purpose, which must be caught.
std::vector<Op> Generate(uint64_t seed, int clients, int ops_per_client, bool make_stale,
                         bool* stale = nullptr) {
  std::mt19937_64 rng(seed);
  struct Pending {
    Op op;
    int64_t effect;
  };
  std::vector<Pending> pending;
  int64_t id = 0;
  for (int c = 0; c < clients; ++c) {
    int64_t t = static_cast<int64_t>(rng() % 5);
    for (int i = 0; i < ops_per_client; ++i) {
      Op op;
      op.id = ++id;
      op.client = c;
      op.key = "/k";
      op.invoke_ns = t;
      op.complete_ns = t + 1 + static_cast<int64_t>(rng() % 20);
      const int kind = static_cast<int>(rng() % 3);
      op.type = kind == 0 ? OpType::kRead : kind == 1 ? OpType::kWrite : OpType::kCas;
      op.value = "c" + std::to_string(c) + "-" + std::to_string(i);
      const int64_t effect =
          op.invoke_ns + static_cast<int64_t>(rng() % static_cast<uint64_t>(op.complete_ns - op.invoke_ns + 1));
      pending.push_back({op, effect});
      t = op.complete_ns + 1 + static_cast<int64_t>(rng() % 3);
    }
  }
  std::sort(pending.begin(), pending.end(),
            [](const Pending& a, const Pending& b) { return a.effect < b.effect; });
  std::string value = "init";
  int64_t version = 0;
  std::vector<Op> out;
  for (Pending& p : pending) {
    Op& op = p.op;
    if (op.type == OpType::kRead) {
      op.outcome = Outcome::kOk;
      op.read_value = value;
      op.version = version;
    } else {
      if (op.type == OpType::kCas) {
        op.expected_version = version - static_cast<int64_t>(rng() % 2);
        if (op.expected_version != version) {
          op.outcome = Outcome::kFail;
          op.error = "BAD_VERSION";
          out.push_back(op);
          continue;
        }
      }
      value = op.value;
      version += 1;
      op.version = version;
      op.outcome = rng() % 5 == 0 ? Outcome::kUnknown : Outcome::kOk;
      if (op.outcome == Outcome::kUnknown) op.version = -1;
    }
    out.push_back(op);
  }
  if (make_stale) {
    // A read invoked after an acknowledged write completed now returns the
    // initial state, older than that write: a stale read.
    for (Op& r : out) {
      if (r.type != OpType::kRead) continue;
      for (const Op& w : out) {
        if (w.type != OpType::kRead && w.outcome == Outcome::kOk && w.complete_ns < r.invoke_ns) {
          r.read_value = "init";
          r.version = 0;
          *stale = true;
          return out;
        }
      }
    }
  }
  return out;
}

TEST(RegisterChecker, GeneratedLinearizableHistoriesPass) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::vector<Op> ops = Generate(seed, 4, 15, false);
    KeyVerdict v = CheckRegister("/k", ops, CheckOptions());
    ASSERT_EQ(v.result, KeyVerdict::kLinearizable) << "seed " << seed << "\n" << v.report;
  }
}

TEST(RegisterChecker, GeneratedStaleReadsAreCaught) {
  int made_stale = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    bool stale = false;
    std::vector<Op> ops = Generate(seed, 4, 15, true, &stale);
    if (!stale) continue;
    ++made_stale;
    KeyVerdict v = CheckRegister("/k", ops, CheckOptions());
    ASSERT_EQ(v.result, KeyVerdict::kNotLinearizable) << "seed " << seed;
  }
  EXPECT_GT(made_stale, 150);
}

TEST(AcknowledgedWritesSurvive, PassesWhenEveryAckedVersionHoldsItsValue) {
  Builder b;
  b.Write(1, 0, 5, "a", Outcome::kOk, 1).Write(1, 6, 9, "b", Outcome::kUnknown);
  std::map<std::string, FinalKeyState> final_state;
  final_state["/k"] = FinalKeyState{2, {{1, "a"}, {2, "b"}}};
  int64_t unchecked = 0;
  EXPECT_TRUE(CheckAcknowledgedWritesSurvive(b.ops(), final_state, &unchecked).empty());
  EXPECT_EQ(unchecked, 0);
}

TEST(AcknowledgedWritesSurvive, ReportsLostWrite) {
  Builder b;
  b.Write(1, 0, 5, "a", Outcome::kOk, 1).Write(1, 6, 9, "b", Outcome::kOk, 2);
  int64_t unchecked = 0;
  std::map<std::string, FinalKeyState> shorter;
  shorter["/k"] = FinalKeyState{1, {{1, "a"}}};
  std::vector<std::string> lost = CheckAcknowledgedWritesSurvive(b.ops(), shorter, &unchecked);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("ends at v1"), std::string::npos) << lost[0];
  // Same length, other data at the acknowledged version.
  std::map<std::string, FinalKeyState> replaced;
  replaced["/k"] = FinalKeyState{2, {{1, "a"}, {2, "z"}}};
  lost = CheckAcknowledgedWritesSurvive(b.ops(), replaced, &unchecked);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find("holds 'z'"), std::string::npos) << lost[0];
}

TEST(History, JsonLinesRoundTrip) {
  Builder b;
  b.Cas(3, 1, 2, 4, "v \"q\"", Outcome::kFail, -1, "BAD_VERSION").Read(1, 3, 4, "x", 7);
  for (const Op& op : b.ops()) {
    absl::StatusOr<Op> back = FromJsonLine(ToJsonLine(op));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(ToJsonLine(*back), ToJsonLine(op));
  }
  EXPECT_FALSE(FromJsonLine("{\"id\": 1}").ok());
  EXPECT_FALSE(FromJsonLine("not json").ok());
}

}  // namespace
}  // namespace synod::faults
