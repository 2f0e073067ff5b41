// synod-faults: the fault-test tool. `run` starts replicas in network
// namespaces, drives a workload (--workload) under a seeded nemesis and
// checks the history; `check` re-checks a recorded history; `cleanup`
// removes what a killed run left behind. See tests/faults/README.md.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "tests/faults/bank_workload.h"
#include "tests/faults/exactly_once_workload.h"
#include "tests/faults/history.h"
#include "tests/faults/nemesis.h"
#include "tests/faults/netns_cluster.h"
#include "tests/faults/register_workload.h"
#include "tests/faults/sequential_workload.h"
#include "tests/faults/session_workload.h"
#include "tests/faults/verdicts.h"

#ifndef SYNOD_BINARY
#error "SYNOD_BINARY must name the synod executable"
#endif

namespace synod::faults {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

void InstallSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

struct RunFlags {
  std::string workload = "register";
  int nodes = 3;
  int duration_s = 60;
  uint64_t seed = 0;
  std::string nemesis = "all";
  int clients = 5;
  int keys = 3;
  int think_ms = 20;
  std::string out = "/tmp";
  std::string synod = SYNOD_BINARY;
  bool keep_data = false;
  bool serializable_reads = false;
  bool expect_anomaly = false;
};

std::string ReplayCommand(const RunFlags& f) {
  return absl::StrCat("synod-faults run --workload ", f.workload, " --nodes ", f.nodes, " --duration ", f.duration_s,
                      " --seed ", f.seed, " --nemesis ", f.nemesis, " --clients ", f.clients,
                      " --keys ", f.keys, " --think_ms ", f.think_ms,
                      f.serializable_reads ? " --serializable_reads" : "",
                      f.expect_anomaly ? " --expect_anomaly" : "");
}

// Sets `workload` up, runs it under the nemesis for --duration, then
// (unless interrupted) `read_final`: the end every workload shares.
template <typename Workload, typename ReadFinal>
absl::Status Drive(Workload& workload, Nemesis& nemesis, const RunFlags& flags,
                   const std::string& what, ReadFinal read_final) {
  SYNOD_RETURN_IF_ERROR(workload.Setup(absl::Seconds(20)));
  nemesis.Log(absl::StrCat("workload ", flags.workload, ": ", flags.clients, " clients on ", what,
                           " for ", flags.duration_s, " s"));
  workload.Start();
  absl::Status s = nemesis.Run(absl::Now() + absl::Seconds(flags.duration_s), g_stop);
  workload.Stop();
  nemesis.Log(absl::StrCat("workload stopped after ", workload.ops_done(), " operations"));
  if (!s.ok() || g_stop.load()) return s;
  return read_final();
}

// A workload's options with the flags every workload takes.
template <typename Options>
Options CommonOptions(const RunFlags& flags) {
  Options o;
  o.clients = flags.clients;
  o.seed = flags.seed;
  o.think = absl::Milliseconds(flags.think_ms);
  return o;
}

// Drive for a create-based workload, whose final listings go into the
// history itself.
template <typename Workload>
absl::Status DriveCreates(NetnsCluster* cluster, HistoryRecorder* history, Nemesis& nemesis,
                          const RunFlags& flags, const typename Workload::Options& options,
                          const std::string& what) {
  Workload workload(cluster, history, options);
  return Drive(workload, nemesis, flags, what,
               [&] { return workload.ReadFinal(absl::Seconds(60)); });
}

int Run(const RunFlags& f) {
  if (geteuid() != 0) {
    fprintf(stderr, "synod-faults run: needs root (network namespaces); skipped\n");
    return kSkip;
  }
  if (f.workload != "register" && f.serializable_reads) {
    fprintf(stderr, "synod-faults run: --serializable_reads is for the register workload\n");
    return kError;
  }
  if (access(f.synod.c_str(), X_OK) != 0) {
    fprintf(stderr, "synod-faults run: no synod binary at %s\n", f.synod.c_str());
    return kError;
  }
  absl::StatusOr<std::vector<Fault>> faults = ParseFaults(f.nemesis);
  if (!faults.ok()) {
    fprintf(stderr, "synod-faults run: --nemesis: %s\n", std::string(faults.status().message()).c_str());
    return kError;
  }
  RunFlags flags = f;
  if (flags.seed == 0) flags.seed = std::random_device()() | 1;
  InstallSignalHandlers();
  RunClockNs();  // the run clock starts here

  // Leftovers of runs whose owner died (a live parallel run is left alone).
  absl::StatusOr<std::vector<std::string>> removed = CleanupLeftovers("", /*force=*/false);
  if (removed.ok()) {
    for (const std::string& line : *removed) fprintf(stderr, "cleanup: %s\n", line.c_str());
  }

  NetnsCluster::Options co;
  co.size = flags.nodes;
  co.synod_binary = flags.synod;
  co.extra_flags = {"--history_per_node=100000"};
  // The run folder: named after the seed and this process.
  const std::string dir = absl::StrCat(flags.out, "/synod-faults-s", flags.seed, "-", getpid());
  if (mkdir(dir.c_str(), 0755) != 0) {
    fprintf(stderr, "synod-faults run: cannot create %s\n", dir.c_str());
    return kError;
  }
  co.run_dir = dir;
  absl::StatusOr<std::unique_ptr<NetnsCluster>> made = NetnsCluster::Create(co);
  if (!made.ok()) {
    fprintf(stderr, "synod-faults run: network: %s\n", std::string(made.status().message()).c_str());
    rmdir(dir.c_str());
    return absl::IsNotFound(made.status()) ? kSkip : kError;
  }
  std::unique_ptr<NetnsCluster> cluster = *std::move(made);
  std::FILE* log = fopen((dir + "/nemesis.log").c_str(), "w");
  if (log == nullptr) {
    fprintf(stderr, "synod-faults run: cannot write %s/nemesis.log\n", dir.c_str());
    return kError;
  }
  Nemesis nemesis(cluster.get(), *faults, flags.seed, log);
  nemesis.Log(absl::StrCat("run ", cluster->run_id(), " seed ", flags.seed, ": ", flags.nodes,
                           " replicas at ", cluster->peer_ip(1), "-", 10 + flags.nodes, ", namespaces synf-", cluster->run_id(),
                           "-*, faults ", flags.nemesis, ", degrade = ",
                           absl::StrJoin(cluster->degrade_qdisc(), " ")));
  nemesis.Log(absl::StrCat("replay: ", ReplayCommand(flags)));

  int code = kPass;
  HistoryRecorder history;
  std::map<std::string, FinalKeyState> final_state;
  BankHistory bank_history;
  BankFinal bank_final;
  bool have_final = false;
  {
    absl::Status s = cluster->StartAll();
    if (s.ok() && cluster->Leader(absl::Seconds(1)) == 0) {
      const bool led = [&] {
        for (int i = 0; i < 100 && !g_stop.load(); ++i) {
          if (cluster->Leader(absl::Milliseconds(500)) != 0) return true;
          absl::SleepFor(absl::Milliseconds(100));
        }
        return false;
      }();
      if (!led) s = absl::UnavailableError("no leader elected within 10 s of start");
    }
    const absl::Duration final_timeout = absl::Seconds(60);
    if (!s.ok()) {
      // No workload: the cluster did not come up.
    } else if (flags.workload == "bank") {
      auto o = CommonOptions<BankWorkload::Options>(flags);
      o.accounts = std::max(2, flags.keys);
      BankWorkload workload(cluster.get(), &history, o);
      s = Drive(workload, nemesis, flags, absl::StrCat(o.accounts, " accounts"), [&] {
        SYNOD_ASSIGN_OR_RETURN(bank_final, workload.ReadFinal(final_timeout));
        have_final = true;
        return absl::OkStatus();
      });
      bank_history = workload.TakeHistory();
    } else if (flags.workload == "sequential") {
      s = DriveCreates<SequentialWorkload>(cluster.get(), &history, nemesis, flags,
                                           CommonOptions<SequentialWorkload::Options>(flags),
                                           SequentialWorkload::kParent);
    } else if (flags.workload == "session") {
      s = DriveCreates<SessionWorkload>(cluster.get(), &history, nemesis, flags,
                                        CommonOptions<SessionWorkload::Options>(flags),
                                        SessionWorkload::kParent);
    } else if (flags.workload == "exactly-once") {
      auto o = CommonOptions<ExactlyOnceWorkload::Options>(flags);
      o.counters = flags.keys;
      s = DriveCreates<ExactlyOnceWorkload>(cluster.get(), &history, nemesis, flags, o,
                                            absl::StrCat(o.counters, " counters"));
    } else {
      auto o = CommonOptions<RegisterWorkload::Options>(flags);
      o.keys = flags.keys;
      o.serializable_reads = flags.serializable_reads;
      RegisterWorkload workload(cluster.get(), &history, o);
      s = Drive(workload, nemesis, flags, absl::StrCat(flags.keys, " keys"), [&] {
        SYNOD_ASSIGN_OR_RETURN(final_state, workload.ReadFinal(final_timeout));
        have_final = true;
        return absl::OkStatus();
      });
    }
    if (!s.ok()) {
      nemesis.Log(absl::StrCat("ERROR: ", s.message()));
      code = kError;
    }
  }
  absl::Status torn = cluster->Teardown();
  if (!torn.ok()) nemesis.Log(absl::StrCat("ERROR: teardown: ", torn.message()));
  const int unexpected_exits = nemesis.unexpected_exits();
  nemesis.Log("network and replicas removed");
  fclose(log);

  std::vector<Op> ops = history.Take();
  const bool bank = flags.workload == "bank";
  if (absl::Status s = bank ? WriteBankHistory(dir + "/history.jsonl", bank_history)
                            : WriteHistory(dir + "/history.jsonl", ops);
      !s.ok()) {
    fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    code = kError;
  }
  if (g_stop.load()) {
    fprintf(stderr, "interrupted; history so far in %s\n", dir.c_str());
    return kInterrupted;
  }
  std::ofstream verdict(dir + "/verdict.txt");
  std::ostringstream text;
  text << "run " << cluster->run_id() << " seed " << flags.seed << ", folder " << dir << "\n";
  text << "faults injected: " << nemesis.faults_injected() << "\n";
  const int checked =
      bank ? CheckBankAndReport(bank_history, have_final ? &bank_final : nullptr, text)
      : IsCreateWorkload(flags.workload)
          ? CheckCreatesAndReport(flags.workload, ops, text)
          : CheckAndReport(ops, have_final ? &final_state : nullptr, text);
  if (unexpected_exits > 0) {
    text << "replicas that exited on their own: " << unexpected_exits << " (see nemesis.log)\n";
  }
  size_t ok_reads = 0, ok_writes = 0;
  for (const Op& op : ops) {
    if (op.outcome != Outcome::kOk) continue;
    if (op.type == OpType::kRead || op.type == OpType::kList) ++ok_reads;
    if (op.type == OpType::kWrite || op.type == OpType::kCas || op.type == OpType::kCreate) {
      ++ok_writes;
    }
  }
  if (bank) {
    ok_reads = bank_history.snapshots.size();
    for (const BankTransfer& t : bank_history.transfers) ok_writes += t.outcome == Outcome::kOk;
  }
  if (code == kPass) {
    code = checked != kPass ? checked : unexpected_exits > 0 ? kAnomaly : kPass;
  } else if (checked == kAnomaly) {
    code = kAnomaly;
  }
  if (code == kPass && (ok_reads == 0 || ok_writes == 0)) {
    text << "no successful read or write: the run tested nothing\n";
    code = kError;
  }
  text << "verdict: "
       << (code == kPass          ? "PASS"
           : code == kAnomaly     ? "ANOMALY"
           : code == kInconclusive ? "INCONCLUSIVE"
                                   : "ERROR")
       << "\nreplay: " << ReplayCommand(flags) << "\n";
  if (flags.expect_anomaly) {
    // The negative control passes when the checker caught what it must.
    const bool caught = checked == kAnomaly;
    text << "negative control: " << (caught ? "anomaly found, as it must be" : "NOT CAUGHT")
         << "\n";
    code = caught ? kPass : code == kPass ? kAnomaly : code;
  }
  verdict << text.str();
  fputs(text.str().c_str(), stdout);
  if (code == kPass && !flags.keep_data) {
    for (int id = 1; id <= flags.nodes; ++id) {
      std::string data = absl::StrCat(dir, "/data", id);
      std::error_code ec;
      std::filesystem::remove_all(data, ec);
    }
  }
  return code;
}

}  // namespace
}  // namespace synod::faults

int main(int argc, char** argv) {
  using synod::faults::RunFlags;
  CLI::App app{
      "synod-faults: real synod replicas in network namespaces under a seeded nemesis, with the "
      "clients' history checked against what Synod promises.\n"
      "Exit codes: 0 pass, 1 anomaly found (a violation, a lost write, a replica that exited on "
      "its own), 2 harness error, 3 inconclusive (checker budget), 77 skipped (not root, no "
      "`ip`), 130 interrupted; a usage error exits with CLI11's non-zero code."};
  app.require_subcommand(1);
  RunFlags f;
  CLI::App* run = app.add_subcommand(
      "run",
      "Build the network, start the replicas, run --workload under the nemesis for "
      "--duration seconds, heal, read the final state, check. Needs root. Writes history.jsonl, "
      "nemesis.log, replica<i>.log and verdict.txt to <out>/synod-faults-s<seed>-<pid>/; removes "
      "the replicas' data dirs when the run passes (--keep_data keeps them).");
  run->option_defaults()->always_capture_default();
  const std::vector<std::string> workloads = {"register", "bank", "sequential", "session",
                                              "exactly-once"};
  run->add_option("--workload", f.workload,
                  "register (linearizable registers), bank (transfers by Multi, snapshot reads "
                  "at one revision; --keys accounts), sequential (sequential creates under one "
                  "parent), session (ephemerals held by sessions) or exactly-once (counters "
                  "incremented with retried session writes; --keys counters)")
      ->check(CLI::IsMember(workloads));
  run->add_option("--nodes", f.nodes, "Replicas (3 or 5)")->check(CLI::Range(1, 9));
  run->add_option("--duration", f.duration_s, "Seconds of workload under faults")
      ->check(CLI::Range(1, 86400));
  run->add_option("--seed", f.seed, "Seed of the nemesis schedule and the clients (0: random)");
  run->add_option("--nemesis", f.nemesis,
                  "Comma-separated faults or groups: " + synod::faults::FaultNamesHelp());
  run->add_option("--clients", f.clients, "Client threads")->check(CLI::Range(1, 64));
  run->add_option("--keys", f.keys, "Registers (nodes /faults/r<k>)")->check(CLI::Range(1, 100));
  run->add_option("--think_ms", f.think_ms, "Pause between one client's operations, ms")
      ->check(CLI::Range(0, 10000));
  run->add_option("--out", f.out, "Folder for the run's folder")->check(CLI::ExistingDirectory);
  run->add_option("--synod", f.synod, "The synod binary");
  run->add_flag("--keep_data", f.keep_data, "Keep the replicas' data dirs after a passing run");
  run->add_flag("--serializable_reads", f.serializable_reads,
                "Negative control: the clients read SERIALIZABLE (local state) but the history "
                "is checked as linearizable, so stale reads must be reported");
  run->add_flag("--expect_anomaly", f.expect_anomaly,
                "Exit 0 only if the checker reports a linearizability violation (for the "
                "negative control), 1 if the run passes");

  std::string history_path;
  CLI::App* check = app.add_subcommand(
      "check", "Re-check a recorded history.jsonl (register and bank: without the final-state "
               "check, which needs the live cluster; the other workloads record their final "
               "listings in the history and are checked in full).");
  check->add_option("history", history_path, "history.jsonl of a run")->required();
  std::string check_workload = "register";
  check->add_option("--workload", check_workload, "The run's workload")
      ->check(CLI::IsMember(workloads))
      ->capture_default_str();

  std::string run_id;
  bool force = false;
  CLI::App* cleanup = app.add_subcommand(
      "cleanup",
      "Remove namespaces synf-*, their processes, and links synf* left by runs whose owner "
      "process is gone (or of --run, or of every run with --force). Needs root.");
  cleanup->add_option("--run", run_id, "Only this run id (6 hex digits)");
  cleanup->add_flag("--force", force, "Also runs whose owner is still alive");
  CLI11_PARSE(app, argc, argv);

  if (run->parsed()) return synod::faults::Run(f);
  if (check->parsed() && check_workload == "bank") {
    absl::StatusOr<synod::faults::BankHistory> h = synod::faults::ReadBankHistory(history_path);
    if (!h.ok()) {
      fprintf(stderr, "%s\n", std::string(h.status().message()).c_str());
      return 2;
    }
    std::ostringstream text;
    const int code = synod::faults::CheckBankAndReport(*h, nullptr, text);
    fputs(text.str().c_str(), stdout);
    return code;
  }
  if (check->parsed()) {
    absl::StatusOr<std::vector<synod::faults::Op>> ops = synod::faults::ReadHistory(history_path);
    if (!ops.ok()) {
      fprintf(stderr, "%s\n", std::string(ops.status().message()).c_str());
      return 2;
    }
    std::ostringstream text;
    const int code = synod::faults::IsCreateWorkload(check_workload)
                         ? synod::faults::CheckCreatesAndReport(check_workload, *ops, text)
                         : synod::faults::CheckAndReport(*ops, nullptr, text);
    fputs(text.str().c_str(), stdout);
    return code;
  }
  absl::StatusOr<std::vector<std::string>> removed = synod::faults::CleanupLeftovers(run_id, force);
  if (!removed.ok()) {
    fprintf(stderr, "cleanup: %s\n", std::string(removed.status().message()).c_str());
    return 2;
  }
  for (const std::string& line : *removed) printf("%s\n", line.c_str());
  printf("cleanup: %zu removed\n", removed->size());
  return 0;
}
