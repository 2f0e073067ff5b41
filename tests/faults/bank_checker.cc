#include "tests/faults/bank_checker.h"

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace synod::faults {

std::string EncodeAccount(const AccountData& a) {
  return absl::StrCat(a.balance, " ", a.tag, " ", a.partner, " ", a.partner_version);
}

absl::StatusOr<AccountData> DecodeAccount(const std::string& data) {
  std::vector<std::string> parts = absl::StrSplit(data, ' ');
  AccountData a;
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &a.balance) ||
      !absl::SimpleAtoi(parts[2], &a.partner) || !absl::SimpleAtoi(parts[3], &a.partner_version)) {
    return absl::InvalidArgumentError(absl::StrCat("not an account: '", data, "'"));
  }
  a.tag = parts[1];
  return a;
}

namespace {

std::string Where(const BankSnapshot& s) {
  return absl::StrCat("snapshot #", s.id, " client ", s.client, " on replica ", s.replica,
                      " at revision ", s.revision, " [", Seconds(s.invoke_ns), ", ",
                      Seconds(s.complete_ns), "]");
}

}  // namespace

BankVerdict CheckBank(const BankHistory& h, const BankFinal* final_state) {
  BankVerdict v;
  std::map<std::string, const BankTransfer*> by_tag;
  for (const BankTransfer& t : h.transfers) by_tag[t.tag] = &t;
  // A tag seen anywhere must be of a transfer that may have applied.
  auto check_tag = [&](const AccountData& a, const std::string& where) {
    if (a.tag == "init") return;
    auto it = by_tag.find(a.tag);
    if (it == by_tag.end()) {
      v.violations.push_back(absl::StrCat(where, ": tag ", a.tag, " of no transfer"));
    } else if (it->second->outcome == Outcome::kFail) {
      v.violations.push_back(
          absl::StrCat(where, ": sees transfer ", a.tag, " which failed with ", it->second->error));
    }
  };

  for (const BankSnapshot& s : h.snapshots) {
    if (static_cast<int>(s.accounts.size()) != h.accounts) {
      v.violations.push_back(
          absl::StrCat(Where(s), ": ", s.accounts.size(), " accounts, not ", h.accounts));
      continue;
    }
    std::vector<AccountData> acc;
    int64_t sum = 0;
    bool parsed = true;
    for (const AccountRead& r : s.accounts) {
      absl::StatusOr<AccountData> a = DecodeAccount(r.data);
      if (!a.ok()) {
        v.violations.push_back(absl::StrCat(Where(s), ": ", a.status().message()));
        parsed = false;
        break;
      }
      sum += a->balance;
      acc.push_back(*a);
    }
    if (!parsed) continue;
    ++v.snapshots_checked;
    if (sum != h.total) {
      v.violations.push_back(absl::StrCat(Where(s), ": balances sum to ", sum, ", not ", h.total));
    }
    for (int i = 0; i < h.accounts; ++i) {
      check_tag(acc[i], absl::StrCat(Where(s), " account ", i));
      const int p = acc[i].partner;
      if (acc[i].tag == "init") continue;
      if (p < 0 || p >= h.accounts || p == i) {
        v.violations.push_back(absl::StrCat(Where(s), ": account ", i, " names partner ", p));
        continue;
      }
      if (s.accounts[p].version < acc[i].partner_version) {
        v.violations.push_back(
            absl::StrCat(Where(s), ": partial transfer ", acc[i].tag, ": account ", i, " at v",
                         s.accounts[i].version, " has it, account ", p, " is at v",
                         s.accounts[p].version, " below v", acc[i].partner_version));
      }
    }
  }

  if (final_state == nullptr) return v;
  if (static_cast<int>(final_state->version.size()) != h.accounts ||
      static_cast<int>(final_state->values.size()) != h.accounts) {
    v.violations.push_back("final state: wrong number of accounts");
    return v;
  }
  int64_t sum = 0;
  for (int i = 0; i < h.accounts; ++i) {
    auto it = final_state->values[i].find(final_state->version[i]);
    if (it == final_state->values[i].end()) {
      v.violations.push_back(
          absl::StrCat("final state: account ", i, " v", final_state->version[i], " not read"));
      continue;
    }
    absl::StatusOr<AccountData> a = DecodeAccount(it->second);
    if (!a.ok()) {
      v.violations.push_back(absl::StrCat("final state: account ", i, ": ", a.status().message()));
      continue;
    }
    check_tag(*a, absl::StrCat("final state account ", i));
    sum += a->balance;
  }
  if (sum != h.total) {
    v.violations.push_back(absl::StrCat("final state: balances sum to ", sum, ", not ", h.total));
  }
  for (const BankTransfer& t : h.transfers) {
    if (t.outcome != Outcome::kOk) continue;
    bool found = true;
    for (auto [account, version] :
         {std::pair{t.from, t.from_version + 1}, std::pair{t.to, t.to_version + 1}}) {
      if (account < 0 || account >= h.accounts) {
        v.violations.push_back(absl::StrCat("transfer ", t.tag, ": account ", account));
        found = false;
        continue;
      }
      if (final_state->version[account] < version) {
        v.violations.push_back(absl::StrCat(
            "lost transfer ", t.tag, " (acknowledged at ", Seconds(t.complete_ns), "): account ",
            account, " ends at v", final_state->version[account], " below v", version));
        found = false;
        continue;
      }
      auto it = final_state->values[account].find(version);
      if (it == final_state->values[account].end()) {
        ++v.versions_unchecked;
        found = false;
        continue;
      }
      absl::StatusOr<AccountData> a = DecodeAccount(it->second);
      if (!a.ok() || a->tag != t.tag) {
        v.violations.push_back(absl::StrCat("lost transfer ", t.tag, " (acknowledged at ",
                                            Seconds(t.complete_ns), "): account ", account, " v",
                                            version, " holds '", it->second, "'"));
        found = false;
      }
    }
    if (found) ++v.transfers_checked;
  }
  return v;
}

absl::Status WriteBankHistory(const std::string& path, const BankHistory& h) {
  std::ofstream out(path);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  out << nlohmann::json{{"kind", "bank"}, {"accounts", h.accounts}, {"total", h.total}}.dump()
      << "\n";
  for (const BankTransfer& t : h.transfers) {
    out << nlohmann::json{{"kind", "transfer"},
                          {"id", t.id},
                          {"client", t.client},
                          {"replica", t.replica},
                          {"tag", t.tag},
                          {"from", t.from},
                          {"to", t.to},
                          {"amount", t.amount},
                          {"from_version", t.from_version},
                          {"to_version", t.to_version},
                          {"outcome", OutcomeName(t.outcome)},
                          {"revision", t.revision},
                          {"invoke_ns", t.invoke_ns},
                          {"complete_ns", t.complete_ns},
                          {"error", t.error}}
               .dump()
        << "\n";
  }
  for (const BankSnapshot& s : h.snapshots) {
    nlohmann::json accounts = nlohmann::json::array();
    for (const AccountRead& r : s.accounts) {
      accounts.push_back({{"version", r.version}, {"data", r.data}});
    }
    out << nlohmann::json{{"kind", "snapshot"},       {"id", s.id},
                          {"client", s.client},       {"replica", s.replica},
                          {"revision", s.revision},   {"accounts", accounts},
                          {"invoke_ns", s.invoke_ns}, {"complete_ns", s.complete_ns}}
               .dump()
        << "\n";
  }
  out.flush();
  if (!out) return absl::UnavailableError(absl::StrCat("write to ", path, " failed"));
  return absl::OkStatus();
}

absl::StatusOr<BankHistory> ReadBankHistory(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  BankHistory h;
  std::string line;
  int64_t n = 0;
  try {
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line);
      const std::string kind = j.at("kind");
      if (kind == "bank") {
        h.accounts = j.at("accounts");
        h.total = j.at("total");
      } else if (kind == "transfer") {
        BankTransfer t;
        t.id = j.at("id");
        t.client = j.at("client");
        t.replica = j.at("replica");
        t.tag = j.at("tag");
        t.from = j.at("from");
        t.to = j.at("to");
        t.amount = j.at("amount");
        t.from_version = j.at("from_version");
        t.to_version = j.at("to_version");
        const std::string outcome = j.at("outcome");
        t.outcome = outcome == "ok"     ? Outcome::kOk
                    : outcome == "fail" ? Outcome::kFail
                                        : Outcome::kUnknown;
        t.revision = j.at("revision");
        t.invoke_ns = j.at("invoke_ns");
        t.complete_ns = j.at("complete_ns");
        t.error = j.at("error");
        h.transfers.push_back(t);
      } else if (kind == "snapshot") {
        BankSnapshot s;
        s.id = j.at("id");
        s.client = j.at("client");
        s.replica = j.at("replica");
        s.revision = j.at("revision");
        for (const nlohmann::json& a : j.at("accounts")) {
          s.accounts.push_back({a.at("version").get<int64_t>(), a.at("data").get<std::string>()});
        }
        s.invoke_ns = j.at("invoke_ns");
        s.complete_ns = j.at("complete_ns");
        h.snapshots.push_back(s);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": unknown kind ", kind));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": ", e.what()));
  }
  if (h.accounts <= 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no bank header"));
  return h;
}

}  // namespace synod::faults
