// raft_sim: runs seeded Raft cluster histories and reports the seeds that
// break a safety or liveness property, each with the command that replays it.
//
//   raft_sim --seeds=1000 --start_seed=1 --nodes=3   # many seeds
//   raft_sim --seed=42 --nodes=5 --trace             # one seed, its events
//   raft_sim --seeds=300 --inject_bug=commit_prior_term --expect_violation
//
// Exit status: 0 when every seed passed (with --expect_violation: when at
// least one seed reported a violation), 1 otherwise. A core that aborts
// kills the process; the seed it was running is printed first.
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "tests/sim/simulation.h"

ABSL_FLAG(int64_t, seed, -1, "Run this one seed (replay); overrides --seeds/--start_seed");
ABSL_FLAG(int64_t, seeds, 1, "Number of seeds to run");
ABSL_FLAG(int64_t, start_seed, 1, "First seed of --seeds");
ABSL_FLAG(int, nodes, 3, "Initial voters: 3 or 5");
ABSL_FLAG(int, steps, 300, "Ticks of the faulty phase of each history");
ABSL_FLAG(int, liveness_ticks, 0,
          "Ticks allowed after healing for a leader, a commit and catch-up (0: from the "
          "election timeout)");
ABSL_FLAG(bool, trace, false, "Print the event trace (use with --seed)");
ABSL_FLAG(std::string, inject_bug, "",
          "Inject a known bug into the core: commit_prior_term (commit entries of earlier terms "
          "by counting replicas)");
ABSL_FLAG(bool, expect_violation, false,
          "Succeed only if some seed reports a safety violation (proves the checker can fail)");
ABSL_FLAG(bool, stats, false, "Print aggregate statistics before the summary");

namespace {

// What the abort handler prints: the replay command of the running seed.
char crash_line[512];

void OnAbort(int) {
  ssize_t ignored = write(STDOUT_FILENO, crash_line, strlen(crash_line));
  (void)ignored;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  synod::sim::SimOptions base;
  base.nodes = absl::GetFlag(FLAGS_nodes);
  base.steps = absl::GetFlag(FLAGS_steps);
  base.liveness_ticks = absl::GetFlag(FLAGS_liveness_ticks);
  const std::string bug = absl::GetFlag(FLAGS_inject_bug);
  if (bug == "commit_prior_term") {
    base.inject_commit_prior_term = true;
  } else if (!bug.empty()) {
    std::cerr << "unknown --inject_bug=" << bug << "\n";
    return 2;
  }
  if (base.nodes != 3 && base.nodes != 5) {
    std::cerr << "--nodes must be 3 or 5\n";
    return 2;
  }
  int64_t first = absl::GetFlag(FLAGS_start_seed);
  int64_t count = absl::GetFlag(FLAGS_seeds);
  if (absl::GetFlag(FLAGS_seed) >= 0) {
    first = absl::GetFlag(FLAGS_seed);
    count = 1;
  }
  const bool trace = absl::GetFlag(FLAGS_trace);

  // Flags that shape a history; the replay command repeats them.
  std::string shape = absl::StrCat(" --nodes=", base.nodes, " --steps=", base.steps);
  if (base.liveness_ticks > 0) absl::StrAppend(&shape, " --liveness_ticks=", base.liveness_ticks);
  if (!bug.empty()) absl::StrAppend(&shape, " --inject_bug=", bug);

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnAbort;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGABRT, &sa, nullptr);
  sigaction(SIGSEGV, &sa, nullptr);

  int64_t failed = 0;
  int64_t safety_failed = 0;
  synod::sim::SimStats total;
  for (int64_t k = 0; k < count; ++k) {
    synod::sim::SimOptions options = base;
    options.seed = static_cast<uint64_t>(first + k);
    snprintf(crash_line, sizeof(crash_line),
             "seed %lld CRASHED (abort/segfault): replay: %s --seed=%lld%s\n",
             static_cast<long long>(options.seed), "raft_sim", static_cast<long long>(options.seed),
             shape.c_str());
    synod::sim::SimResult r = synod::sim::RunSimulation(options, trace ? &std::cout : nullptr);
    const synod::sim::SimStats& s = r.stats;
    total.events += s.events;
    total.messages += s.messages;
    total.leaders += s.leaders;
    total.writes_acked += s.writes_acked;
    total.reads_served += s.reads_served;
    total.client_timeouts += s.client_timeouts;
    total.crashes += s.crashes;
    total.conf_changes += s.conf_changes;
    total.snapshots_sent += s.snapshots_sent;
    total.final_index += s.final_index;
    total.recovery_ticks = std::max(total.recovery_ticks, s.recovery_ticks);
    if (!r.ok) {
      ++failed;
      if (!r.liveness_failure) ++safety_failed;
      std::cout << "seed " << options.seed << " FAILED: " << r.failure
                << "\n  replay: raft_sim --seed=" << options.seed << shape << " --trace"
                << std::endl;
    }
  }
  if (absl::GetFlag(FLAGS_stats) || trace) {
    std::cout << "stats: events=" << total.events << " messages=" << total.messages
              << " leaders=" << total.leaders << " writes_acked=" << total.writes_acked
              << " reads_served=" << total.reads_served
              << " client_timeouts=" << total.client_timeouts << " crashes=" << total.crashes
              << " conf_changes=" << total.conf_changes
              << " snapshots_sent=" << total.snapshots_sent
              << " committed_entries=" << total.final_index
              << " max_recovery_ticks=" << total.recovery_ticks << "\n";
  }
  const bool expect = absl::GetFlag(FLAGS_expect_violation);
  if (expect) std::cout << safety_failed << " seeds violated safety (expected: at least one)\n";
  std::cout << count << " seeds, " << failed << " failed" << std::endl;
  if (expect) return safety_failed > 0 ? 0 : 1;
  return failed > 0 ? 1 : 0;
}
