#include "tests/faults/nemesis.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "tests/faults/history.h"

namespace synod::faults {
namespace {

const std::vector<std::pair<std::string, std::vector<Fault>>>& Names() {
  static const auto* names = new std::vector<std::pair<std::string, std::vector<Fault>>>{
      {"kill-one", {Fault::kKillOne}},
      {"kill-leader", {Fault::kKillLeader}},
      {"kill-all", {Fault::kKillAll}},
      {"pause-leader", {Fault::kPauseLeader}},
      {"isolate-leader", {Fault::kIsolateLeader}},
      {"partition-halves", {Fault::kPartitionHalves}},
      {"one-way", {Fault::kOneWay}},
      {"degrade", {Fault::kDegrade}},
      {"kill", {Fault::kKillOne, Fault::kKillLeader, Fault::kKillAll}},
      {"pause", {Fault::kPauseLeader}},
      {"partition", {Fault::kIsolateLeader, Fault::kPartitionHalves, Fault::kOneWay}},
      {"net", {Fault::kDegrade}},
      {"all",
       {Fault::kKillOne, Fault::kKillLeader, Fault::kKillAll, Fault::kPauseLeader,
        Fault::kIsolateLeader, Fault::kPartitionHalves, Fault::kOneWay, Fault::kDegrade}},
  };
  return *names;
}

std::string Members(const std::set<int>& ids) { return absl::StrJoin(ids, ","); }

}  // namespace

const char* FaultName(Fault fault) {
  for (const auto& [name, faults] : Names()) {
    if (faults.size() == 1 && faults[0] == fault) return name.c_str();
  }
  return "?";
}

std::string FaultNamesHelp() {
  std::vector<std::string> names;
  for (const auto& [name, faults] : Names()) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::vector<Fault>> ParseFaults(const std::string& spec) {
  std::vector<Fault> out;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    bool found = false;
    for (const auto& [name, faults] : Names()) {
      if (name != part) continue;
      found = true;
      for (Fault f : faults) {
        if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown fault '", part, "'; known: ", FaultNamesHelp()));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("no fault named");
  return out;
}

Nemesis::Nemesis(NetnsCluster* cluster, std::vector<Fault> faults, uint64_t seed, std::FILE* log)
    : cluster_(cluster), faults_(std::move(faults)), rng_(seed), log_(log) {}

void Nemesis::Log(const std::string& line) {
  const std::string text =
      absl::StrCat(Seconds(RunClockNs()), " ",
                   absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::UTCTimeZone()), " ", line);
  fprintf(log_, "%s\n", text.c_str());
  fflush(log_);
  fprintf(stderr, "nemesis %s\n", text.c_str());
}

void Nemesis::Sleep(absl::Duration d, absl::Time until, const std::atomic<bool>& stop) {
  const absl::Time end = std::min(absl::Now() + d, until);
  while (!stop.load() && absl::Now() < end) {
    absl::SleepFor(std::min(absl::Milliseconds(100), end - absl::Now()));
  }
}

int Nemesis::Leader() { return cluster_->Leader(absl::Milliseconds(500)); }

int Nemesis::RandomMember() {
  return 1 + static_cast<int>(rng_() % static_cast<uint64_t>(cluster_->size()));
}

absl::Status Nemesis::Run(absl::Time until, const std::atomic<bool>& stop) {
  absl::Status result;
  while (!stop.load() && absl::Now() < until) {
    const absl::Duration calm = absl::Milliseconds(2000 + static_cast<int64_t>(rng_() % 2000));
    const absl::Duration hold = absl::Milliseconds(3000 + static_cast<int64_t>(rng_() % 5000));
    const Fault fault = faults_[rng_() % faults_.size()];
    Sleep(calm, until, stop);
    if (stop.load() || absl::Now() >= until) break;
    result = Apply(fault);
    ++faults_injected_;
    if (!result.ok()) break;
    Sleep(hold, until, stop);
    result = HealAll();
    if (!result.ok()) break;
  }
  absl::Status healed = HealAll();
  return result.ok() ? healed : result;
}

absl::Status Nemesis::Apply(Fault fault) {
  const int n = cluster_->size();
  std::set<int> all;
  for (int id = 1; id <= n; ++id) all.insert(id);
  // Every random draw happens whatever the cluster looks like, so a seed's
  // sequence of choices does not depend on timing.
  const int random_member = RandomMember();
  const bool flag = rng_() % 2 == 0;
  std::vector<int> shuffled(all.begin(), all.end());
  std::shuffle(shuffled.begin(), shuffled.end(), rng_);
  int leader = 0;
  if (fault == Fault::kKillLeader || fault == Fault::kPauseLeader ||
      fault == Fault::kIsolateLeader || fault == Fault::kOneWay) {
    leader = Leader();
    if (leader == 0) {
      leader = random_member;
      Log(absl::StrCat("no leader agreed on; targeting replica ", leader));
    }
  }
  switch (fault) {
    case Fault::kKillOne:
    case Fault::kKillLeader: {
      const int target = fault == Fault::kKillOne ? random_member : leader;
      Log(absl::StrCat(FaultName(fault), ": kill -9 replica ", target));
      cluster_->Kill(target);
      killed_.push_back(target);
      return absl::OkStatus();
    }
    case Fault::kKillAll:
      Log(absl::StrCat("kill-all: kill -9 replicas ", Members(all)));
      for (int id : all) {
        cluster_->Kill(id);
        killed_.push_back(id);
      }
      return absl::OkStatus();
    case Fault::kPauseLeader:
      Log(absl::StrCat("pause-leader: SIGSTOP replica ", leader));
      cluster_->Pause(leader);
      return absl::OkStatus();
    case Fault::kIsolateLeader: {
      std::set<int> rest = all;
      rest.erase(leader);
      Log(absl::StrCat("isolate-leader: partition {", leader, "} | {", Members(rest), "}"));
      return cluster_->Partition({leader}, rest);
    }
    case Fault::kPartitionHalves: {
      std::set<int> minority(shuffled.begin(), shuffled.begin() + n / 2);
      std::set<int> majority(shuffled.begin() + n / 2, shuffled.end());
      Log(absl::StrCat("partition-halves: partition {", Members(minority), "} | {",
                       Members(majority), "}"));
      return cluster_->Partition(minority, majority);
    }
    case Fault::kOneWay: {
      std::set<int> rest = all;
      rest.erase(leader);
      if (flag) {
        Log(absl::StrCat("one-way: drop packets from leader ", leader, " to {", Members(rest), "}"));
        for (int to : rest) SYNOD_RETURN_IF_ERROR(cluster_->Block(leader, to));
      } else {
        Log(absl::StrCat("one-way: drop packets from {", Members(rest), "} to leader ", leader));
        for (int from : rest) SYNOD_RETURN_IF_ERROR(cluster_->Block(from, leader));
      }
      return absl::OkStatus();
    }
    case Fault::kDegrade: {
      std::set<int> targets = flag ? all : std::set<int>{random_member};
      Log(absl::StrCat("degrade: ", absl::StrJoin(cluster_->degrade_qdisc(), " "),
                       " on what replica(s) {", Members(targets), "} send"));
      for (int id : targets) SYNOD_RETURN_IF_ERROR(cluster_->Degrade(id));
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown fault");
}

absl::Status Nemesis::HealAll() {
  absl::Status first;
  for (int id = 1; id <= cluster_->size(); ++id) {
    if (cluster_->Paused(id)) {
      Log(absl::StrCat("heal: SIGCONT replica ", id));
      cluster_->Resume(id);
    }
  }
  std::vector<int> killed;
  killed.swap(killed_);
  std::sort(killed.begin(), killed.end());
  killed.erase(std::unique(killed.begin(), killed.end()), killed.end());
  if (absl::Status s = cluster_->HealNetwork(); !s.ok()) first = s;
  for (int id = 1; id <= cluster_->size(); ++id) {
    if (cluster_->Running(id)) continue;
    if (!std::binary_search(killed.begin(), killed.end(), id)) {
      // Nothing here killed it: it crashed or stopped itself.
      ++unexpected_exits_;
      Log(absl::StrCat("ANOMALY: replica ", id, " exited on its own; see ",
                       cluster_->log_path(id)));
    }
    Log(absl::StrCat("heal: restart replica ", id));
    if (absl::Status s = cluster_->Start(id); !s.ok() && first.ok()) first = s;
  }
  Log("heal: network healed, every replica running");
  return first;
}

}  // namespace synod::faults
