// Bank: the history of the bank workload and its checker.
//
// N accounts are nodes /faults/bank/a<i>; each holds
// "<balance> <tag> <partner> <partner_version>": the transfer `tag` that
// last wrote it, and the other account of that transfer at the version the
// same transfer gave it ("init -1 -1" before any transfer). A transfer is
// one Multi of two Sets, each with the expected version the client read, so
// it applies to both accounts or neither. A read is a snapshot: every
// account read at one revision R (GetRequest.revision) on one replica.
//
// The checker promises:
//   - every snapshot sums to the initial total (no money made or lost);
//   - no snapshot sees half a transfer (an account tagged T whose partner
//     is below the version T gave it);
//   - no transfer that Synod said failed is ever seen;
//   - every acknowledged transfer is in the final state: both accounts'
//     data at the versions it created carry its tag, and the final balances
//     sum to the total.
//
// Thread: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/faults/history.h"

namespace synod::faults {

struct AccountData {
  int64_t balance = 0;
  std::string tag = "init";
  int partner = -1;
  int64_t partner_version = -1;
};
std::string EncodeAccount(const AccountData& a);
absl::StatusOr<AccountData> DecodeAccount(const std::string& data);

struct BankTransfer {
  int64_t id = 0;
  int client = 0;
  int replica = 0;
  std::string tag;  // unique per run
  int from = 0;
  int to = 0;
  int64_t amount = 0;
  // The versions the client read; the transfer makes them +1.
  int64_t from_version = 0;
  int64_t to_version = 0;
  Outcome outcome = Outcome::kUnknown;
  uint64_t revision = 0;
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;
  std::string error;
};

struct AccountRead {
  int64_t version = -1;
  std::string data;
};

struct BankSnapshot {
  int64_t id = 0;
  int client = 0;
  int replica = 0;
  uint64_t revision = 0;              // every account read at this revision
  std::vector<AccountRead> accounts;  // index = account
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;
};

struct BankHistory {
  int accounts = 0;
  int64_t total = 0;
  std::vector<BankTransfer> transfers;
  std::vector<BankSnapshot> snapshots;
};

// Per account: the final version and the data at each version still kept.
struct BankFinal {
  std::vector<int64_t> version;
  std::vector<std::map<int64_t, std::string>> values;
};

struct BankVerdict {
  std::vector<std::string> violations;  // empty: the history passes
  int64_t snapshots_checked = 0;
  int64_t transfers_checked = 0;   // acknowledged transfers found in the final state
  int64_t versions_unchecked = 0;  // no longer kept
};

BankVerdict CheckBank(const BankHistory& history, const BankFinal* final_state);

absl::Status WriteBankHistory(const std::string& path, const BankHistory& history);
absl::StatusOr<BankHistory> ReadBankHistory(const std::string& path);

}  // namespace synod::faults
