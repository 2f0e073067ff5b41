// raft_sim: runs seeded Raft cluster histories and reports the seeds that
// break a safety or liveness property, each with the command that replays it.
//
//   raft_sim --seeds=1000 --start_seed=1 --nodes=3   # many seeds
//   raft_sim --seed=42 --nodes=5 --trace             # one seed, its events
//   raft_sim --seeds=300 --inject_bug=commit_prior_term --expect_violation
//
// Exit status: 0 when every seed passed (with --expect_violation: when at
// least one seed reported a safety violation), 1 otherwise. With several
// seeds each runs in a child process: a core that aborts on its own
// invariant check fails that seed only.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
ABSL_FLAG(bool, forge_messages, false,
          "Step forged messages (no honest member sends them) into live replicas; each must be "
          "refused");
ABSL_FLAG(bool, stats, false, "Print aggregate statistics before the summary");

namespace {

using synod::sim::SimOptions;
using synod::sim::SimResult;
using synod::sim::SimStats;

// How one seed ended, as the child process reports it to the parent.
struct Outcome {
  bool ok = true;
  bool liveness_failure = false;
  bool crashed = false;  // the core aborted (or the process died otherwise)
  SimStats stats;
};

void Report(uint64_t seed, const std::string& shape, const SimResult& r) {
  if (r.ok) return;
  std::cout << "seed " << seed << " FAILED: " << r.failure << "\n  replay: raft_sim --seed=" << seed
            << shape << " --trace" << std::endl;
}

// Runs one seed in a child process, so that a core that aborts on one of its
// own invariant checks costs that seed only and the run goes on.
Outcome RunIsolated(const SimOptions& options, const std::string& shape) {
  int fds[2];
  if (pipe(fds) != 0) {
    perror("pipe");
    exit(2);
  }
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  if (pid == 0) {
    close(fds[0]);
    SimResult r = synod::sim::RunSimulation(options, nullptr);
    Report(options.seed, shape, r);
    Outcome out;
    out.ok = r.ok;
    out.liveness_failure = r.liveness_failure;
    out.stats = r.stats;
    ssize_t n = write(fds[1], &out, sizeof(out));
    _exit(n == static_cast<ssize_t>(sizeof(out)) ? 0 : 3);
  }
  close(fds[1]);
  Outcome out;
  ssize_t n = read(fds[0], &out, sizeof(out));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != static_cast<ssize_t>(sizeof(out)) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    out = Outcome();
    out.ok = false;
    out.crashed = true;
    std::cout << "seed " << options.seed << " FAILED: the process died ("
              << (WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no result")
              << "; a core invariant check aborts: see stderr)\n  replay: raft_sim --seed="
              << options.seed << shape << std::endl;
  }
  return out;
}

void Add(SimStats* total, const SimStats& s) {
  total->events += s.events;
  total->messages += s.messages;
  total->leaders += s.leaders;
  total->writes_acked += s.writes_acked;
  total->reads_served += s.reads_served;
  total->client_timeouts += s.client_timeouts;
  total->client_retries += s.client_retries;
  total->crashes += s.crashes;
  total->conf_changes += s.conf_changes;
  total->snapshots_sent += s.snapshots_sent;
  total->final_index += s.final_index;
  total->recovery_ticks = std::max(total->recovery_ticks, s.recovery_ticks);
  total->forged += s.forged;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  SimOptions base;
  base.nodes = absl::GetFlag(FLAGS_nodes);
  base.steps = absl::GetFlag(FLAGS_steps);
  base.liveness_ticks = absl::GetFlag(FLAGS_liveness_ticks);
  base.forge_messages = absl::GetFlag(FLAGS_forge_messages);
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
  if (base.forge_messages) absl::StrAppend(&shape, " --forge_messages");

  int64_t failed = 0;
  int64_t safety_failed = 0;
  SimStats total;
  for (int64_t k = 0; k < count; ++k) {
    SimOptions options = base;
    options.seed = static_cast<uint64_t>(first + k);
    Outcome out;
    if (count == 1) {
      // Replay in this process (debuggers, --trace).
      SimResult r = synod::sim::RunSimulation(options, trace ? &std::cout : nullptr);
      Report(options.seed, shape, r);
      out.ok = r.ok;
      out.liveness_failure = r.liveness_failure;
      out.stats = r.stats;
    } else {
      out = RunIsolated(options, shape);
    }
    Add(&total, out.stats);
    if (!out.ok) {
      ++failed;
      if (!out.liveness_failure && !out.crashed) ++safety_failed;
    }
  }
  if (absl::GetFlag(FLAGS_stats) || trace) {
    std::cout << "stats: events=" << total.events << " messages=" << total.messages
              << " leaders=" << total.leaders << " writes_acked=" << total.writes_acked
              << " reads_served=" << total.reads_served
              << " client_timeouts=" << total.client_timeouts
              << " client_retries=" << total.client_retries << " crashes=" << total.crashes
              << " conf_changes=" << total.conf_changes
              << " snapshots_sent=" << total.snapshots_sent
              << " committed_entries=" << total.final_index
              << " max_recovery_ticks=" << total.recovery_ticks << " forged=" << total.forged
              << "\n";
  }
  const bool expect = absl::GetFlag(FLAGS_expect_violation);
  if (expect) std::cout << safety_failed << " seeds violated safety (expected: at least one)\n";
  std::cout << count << " seeds, " << failed << " failed" << std::endl;
  if (expect) return safety_failed > 0 ? 0 : 1;
  return failed > 0 ? 1 : 0;
}
