#include "tests/faults/bank_checker.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace synod::faults {
namespace {

// Three accounts of 100. Versions: every account starts at v0 ("init").
class Bank {
 public:
  Bank() {
    h_.accounts = 3;
    h_.total = 300;
    for (int i = 0; i < 3; ++i) {
      data_.push_back({{0, EncodeAccount({100, "init", -1, -1})}});
    }
  }
  // Applies a transfer to the model (when `applied`) and records it.
  Bank& Transfer(const std::string& tag, int from, int to, int64_t amount, Outcome outcome,
                 bool applied) {
    BankTransfer t;
    t.id = static_cast<int64_t>(h_.transfers.size()) + 1;
    t.tag = tag;
    t.from = from;
    t.to = to;
    t.amount = amount;
    t.from_version = Version(from);
    t.to_version = Version(to);
    t.outcome = outcome;
    if (applied) {
      AccountData f = *DecodeAccount(data_[from].rbegin()->second);
      AccountData g = *DecodeAccount(data_[to].rbegin()->second);
      data_[from][t.from_version + 1] =
          EncodeAccount({f.balance - amount, tag, to, t.to_version + 1});
      data_[to][t.to_version + 1] =
          EncodeAccount({g.balance + amount, tag, from, t.from_version + 1});
    }
    h_.transfers.push_back(t);
    return *this;
  }
  // A snapshot of the model's current state.
  Bank& Snapshot() {
    BankSnapshot s;
    s.id = 1000 + static_cast<int64_t>(h_.snapshots.size());
    for (int i = 0; i < 3; ++i) s.accounts.push_back({Version(i), data_[i].rbegin()->second});
    h_.snapshots.push_back(s);
    return *this;
  }
  int64_t Version(int i) const { return data_[i].rbegin()->first; }
  BankHistory& history() { return h_; }
  std::vector<std::map<int64_t, std::string>>& data() { return data_; }
  BankFinal Final() const {
    BankFinal f;
    for (int i = 0; i < 3; ++i) {
      f.version.push_back(Version(i));
      f.values.push_back(data_[i]);
    }
    return f;
  }

 private:
  BankHistory h_;
  std::vector<std::map<int64_t, std::string>> data_;
};

TEST(BankChecker, AccountDataRoundTrips) {
  AccountData a{42, "c1-7", 2, 9};
  absl::StatusOr<AccountData> b = DecodeAccount(EncodeAccount(a));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->balance, 42);
  EXPECT_EQ(b->tag, "c1-7");
  EXPECT_EQ(b->partner, 2);
  EXPECT_EQ(b->partner_version, 9);
  EXPECT_FALSE(DecodeAccount("12 x").ok());
}

TEST(BankChecker, GoodHistoryPasses) {
  Bank b;
  b.Snapshot()
      .Transfer("t1", 0, 1, 30, Outcome::kOk, true)
      .Snapshot()
      .Transfer("t2", 1, 2, 5, Outcome::kUnknown, true)
      .Transfer("t3", 2, 0, 7, Outcome::kUnknown, false)
      .Transfer("t4", 0, 2, 9, Outcome::kFail, false)
      .Snapshot()
      .Transfer("t5", 2, 0, 1, Outcome::kOk, true)
      .Snapshot();
  BankFinal f = b.Final();
  BankVerdict v = CheckBank(b.history(), &f);
  EXPECT_TRUE(v.violations.empty()) << v.violations[0];
  EXPECT_EQ(v.snapshots_checked, 4);
  EXPECT_EQ(v.transfers_checked, 2);
}

TEST(BankChecker, SnapshotWithWrongTotalFails) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, true).Snapshot();
  // The reader saw account 1 one transfer behind but still named by t1's
  // partner version: money vanished.
  b.history().snapshots[0].accounts[1].data = EncodeAccount({100, "init", -1, -1});
  BankVerdict v = CheckBank(b.history(), nullptr);
  ASSERT_FALSE(v.violations.empty());
  EXPECT_NE(v.violations[0].find("sum to 270"), std::string::npos) << v.violations[0];
}

TEST(BankChecker, PartialTransferFailsEvenWhenTheSumHolds) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, true).Snapshot();
  // Account 1 read at v0 although account 0 carries t1, which gave it v1.
  b.history().snapshots[0].accounts[1].version = 0;
  BankVerdict v = CheckBank(b.history(), nullptr);
  ASSERT_EQ(v.violations.size(), 1u);
  EXPECT_NE(v.violations[0].find("partial transfer t1"), std::string::npos) << v.violations[0];
}

TEST(BankChecker, FailedTransferSeenFails) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kFail, true).Snapshot();
  BankVerdict v = CheckBank(b.history(), nullptr);
  ASSERT_FALSE(v.violations.empty());
  EXPECT_NE(v.violations[0].find("which failed"), std::string::npos) << v.violations[0];
}

TEST(BankChecker, LostAcknowledgedTransferFails) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, false).Snapshot();
  BankFinal f = b.Final();
  BankVerdict v = CheckBank(b.history(), &f);
  ASSERT_EQ(v.violations.size(), 2u);  // both accounts
  EXPECT_NE(v.violations[0].find("lost transfer t1"), std::string::npos) << v.violations[0];
}

TEST(BankChecker, AcknowledgedTransferOverwrittenAtItsVersionFails) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, true);
  // Another transfer landed on t1's versions (t1's acknowledgement was a lie).
  b.data()[0][1] = EncodeAccount({90, "t9", 1, 1});
  b.data()[1][1] = EncodeAccount({110, "t9", 0, 1});
  b.Transfer("t9", 0, 1, 10, Outcome::kUnknown, false);
  BankFinal f = b.Final();
  BankVerdict v = CheckBank(b.history(), &f);
  ASSERT_EQ(v.violations.size(), 2u);
  EXPECT_NE(v.violations[0].find("v1 holds"), std::string::npos) << v.violations[0];
}

TEST(BankChecker, FinalStateWithWrongTotalFails) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, true);
  b.data()[2][0] = EncodeAccount({99, "init", -1, -1});
  BankFinal f = b.Final();
  BankVerdict v = CheckBank(b.history(), &f);
  ASSERT_EQ(v.violations.size(), 1u);
  EXPECT_NE(v.violations[0].find("final state: balances sum to 299"), std::string::npos)
      << v.violations[0];
}

TEST(BankChecker, VersionNoLongerKeptIsCountedNotPassed) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, true).Transfer("t2", 0, 1, 1, Outcome::kOk, true);
  BankFinal f = b.Final();
  f.values[0].erase(1);
  BankVerdict v = CheckBank(b.history(), &f);
  EXPECT_TRUE(v.violations.empty());
  EXPECT_EQ(v.versions_unchecked, 1);
  EXPECT_EQ(v.transfers_checked, 1);
}

TEST(BankChecker, HistoryFileRoundTrips) {
  Bank b;
  b.Transfer("t1", 0, 1, 30, Outcome::kOk, true).Transfer("t2", 1, 2, 3, Outcome::kUnknown, false);
  b.Snapshot();
  const std::string path = absl::StrCat(testing::TempDir(), "/bank-", getpid(), ".jsonl");
  ASSERT_TRUE(WriteBankHistory(path, b.history()).ok());
  absl::StatusOr<BankHistory> read = ReadBankHistory(path);
  std::remove(path.c_str());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->accounts, 3);
  EXPECT_EQ(read->total, 300);
  ASSERT_EQ(read->transfers.size(), 2u);
  EXPECT_EQ(read->transfers[1].outcome, Outcome::kUnknown);
  ASSERT_EQ(read->snapshots.size(), 1u);
  EXPECT_EQ(read->snapshots[0].accounts[1].data, b.history().snapshots[0].accounts[1].data);
  EXPECT_TRUE(CheckBank(*read, nullptr).violations.empty());
}

}  // namespace
}  // namespace synod::faults
