#include "tests/faults/bank_workload.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/faults/call_outcome.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

BankWorkload::BankWorkload(NetnsCluster* cluster, HistoryRecorder* ids, const Options& options)
    : ClientWorkload(cluster, ids, options.clients), options_(options) {
  history_.accounts = options.accounts;
  history_.total = options.accounts * options.initial_balance;
}


std::string BankWorkload::Account(int i) { return absl::StrCat("/faults/bank/a", i); }

absl::Status BankWorkload::Setup(absl::Duration timeout) {
  std::vector<std::pair<std::string, std::string>> nodes = {{"/faults", ""}, {"/faults/bank", ""}};
  const std::string init = EncodeAccount({options_.initial_balance, "init", -1, -1});
  for (int i = 0; i < options_.accounts; ++i) nodes.push_back({Account(i), init});
  return EnsureNodes(cluster_, nodes, timeout);
}

BankHistory BankWorkload::TakeHistory() {
  absl::MutexLock lock(&mu_);
  BankHistory out = history_;
  history_.transfers.clear();
  history_.snapshots.clear();
  return out;
}

bool BankWorkload::Transfer(int client, int replica, int64_t n, std::mt19937_64* rng) {
  auto tree = v1::Tree::NewStub(cluster_->channel(replica));
  BankTransfer t;
  t.client = client;
  t.replica = replica;
  t.from = static_cast<int>((*rng)() % options_.accounts);
  t.to = (t.from + 1 + static_cast<int>((*rng)() % (options_.accounts - 1))) % options_.accounts;
  t.tag = absl::StrCat("c", client, "-", n);
  AccountData from, to;
  for (auto [account, data, version] :
       {std::tuple{t.from, &from, &t.from_version}, std::tuple{t.to, &to, &t.to_version}}) {
    v1::GetRequest req;
    req.set_path(Account(account));
    v1::GetResponse resp;
    grpc::Status s = tree->Get(CallContext(options_.op_timeout).get(), req, &resp);
    Op probe;
    if (ClassifyCall(s, resp.header(), &probe) != Outcome::kOk) return false;
    absl::StatusOr<AccountData> a = DecodeAccount(resp.data());
    if (!a.ok()) return false;  // the checker's snapshots and final read report bad data
    *data = *a;
    *version = resp.stat().version();
  }
  t.amount = std::min<int64_t>(1 + static_cast<int64_t>((*rng)() % 10), from.balance);
  if (t.amount == 0) return true;
  v1::MultiRequest req;
  v1::SetOp* f = req.add_ops()->mutable_set();
  f->set_path(Account(t.from));
  f->set_data(EncodeAccount({from.balance - t.amount, t.tag, t.to, t.to_version + 1}));
  f->set_expected_version(t.from_version);
  v1::SetOp* g = req.add_ops()->mutable_set();
  g->set_path(Account(t.to));
  g->set_data(EncodeAccount({to.balance + t.amount, t.tag, t.from, t.from_version + 1}));
  g->set_expected_version(t.to_version);
  v1::MultiResponse resp;
  t.id = recorder_->NextId();
  t.invoke_ns = RunClockNs();
  grpc::Status s = tree->Multi(CallContext(options_.op_timeout).get(), req, &resp);
  t.complete_ns = RunClockNs();
  Op probe;
  t.outcome = ClassifyCall(s, resp.header(), &probe);
  t.revision = probe.revision;
  t.error = probe.error;
  if (t.outcome == Outcome::kOk) {
    // An acknowledged multi must report both sets applied at the versions
    // it asked for; anything else is recorded for the checker as is.
    for (const v1::OpResult& r : resp.results()) {
      if (r.code() != v1::OK) t.error = absl::StrCat("op result ", v1::ErrorCode_Name(r.code()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    history_.transfers.push_back(t);
  }
  return t.outcome != Outcome::kUnknown;
}

bool BankWorkload::Snapshot(int client, int replica) {
  auto tree = v1::Tree::NewStub(cluster_->channel(replica));
  BankSnapshot snap;
  snap.client = client;
  snap.replica = replica;
  snap.invoke_ns = RunClockNs();
  {
    v1::GetRequest req;
    req.set_path(Account(0));
    v1::GetResponse resp;
    grpc::Status s = tree->Get(CallContext(options_.op_timeout).get(), req, &resp);
    Op probe;
    if (ClassifyCall(s, resp.header(), &probe) != Outcome::kOk) return false;
    snap.revision = resp.header().revision();
  }
  for (int i = 0; i < options_.accounts; ++i) {
    v1::GetRequest req;
    req.set_path(Account(i));
    req.set_revision(snap.revision);
    // The replica has applied R already (it answered at R): its own state
    // at R is the snapshot, no read index needed.
    req.mutable_read()->set_consistency(v1::SERIALIZABLE);
    req.mutable_read()->set_min_revision(snap.revision);
    v1::GetResponse resp;
    grpc::Status s = tree->Get(CallContext(options_.op_timeout).get(), req, &resp);
    Op probe;
    if (ClassifyCall(s, resp.header(), &probe) != Outcome::kOk) return false;
    snap.accounts.push_back({resp.stat().version(), resp.data()});
  }
  snap.complete_ns = RunClockNs();
  snap.id = recorder_->NextId();
  absl::MutexLock lock(&mu_);
  history_.snapshots.push_back(std::move(snap));
  return true;
}

void BankWorkload::RunClient(int client) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(client));
  for (int64_t i = 0; i < options_.max_ops_per_client && !stopping(); ++i) {
    const int replica = PickReplica(client, &rng);
    const bool ok = rng() % 10 < 6 ? Transfer(client, replica, i, &rng) : Snapshot(client, replica);
    CountOp();
    absl::SleepFor(ok ? options_.think : options_.think + absl::Milliseconds(100));
  }
}

absl::StatusOr<BankFinal> BankWorkload::ReadFinal(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  BankFinal out;
  out.version.assign(options_.accounts, -1);
  out.values.resize(options_.accounts);
  for (int i = 0; i < options_.accounts; ++i) {
    for (int replica = 1; replica <= cluster_->size(); ++replica) {
      auto tree = v1::Tree::NewStub(cluster_->channel(replica));
      for (;;) {
        v1::GetRequest req;
        req.set_path(Account(i));
        v1::GetResponse resp;
        grpc::Status s = tree->Get(CallContext(absl::Seconds(2)).get(), req, &resp);
        Op probe;
        if (ClassifyCall(s, resp.header(), &probe) == Outcome::kOk) {
          if (resp.stat().version() > out.version[i]) {
            out.version[i] = resp.stat().version();
            out.values[i][out.version[i]] = resp.data();
          }
          break;
        }
        if (absl::Now() > deadline) {
          return absl::DeadlineExceededError(absl::StrCat(
              "final read of ", Account(i), " on replica ", replica, ": ", probe.error));
        }
        absl::SleepFor(absl::Milliseconds(200));
      }
    }
    auto tree = v1::Tree::NewStub(cluster_->channel(1));
    for (int64_t v = 1; v < out.version[i]; ++v) {
      for (int attempt = 0; attempt < 5; ++attempt) {
        v1::GetRequest req;
        req.set_path(Account(i));
        req.set_version(v);
        v1::GetResponse resp;
        grpc::Status s = tree->Get(CallContext(absl::Seconds(2)).get(), req, &resp);
        Op probe;
        if (ClassifyCall(s, resp.header(), &probe) == Outcome::kOk) {
          out.values[i][v] = resp.data();
          break;
        }
        if (probe.error == "COMPACTED" || probe.error == "NO_NODE") break;  // not kept
      }
    }
  }
  return out;
}

}  // namespace synod::faults
