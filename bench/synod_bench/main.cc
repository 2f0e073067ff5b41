// synod-bench: an asynchronous load generator for Synod, ZooKeeper and etcd
// clusters, so the three can be measured the same way on the same machine.
//
// It opens --clients connections over the --target replicas, keeps
// --inflight operations outstanding on each (closed loop, the client
// libraries' asynchronous APIs, no thread per request), and prints one line
// per run: ops/s, latency p50/p99/p99.9, errors, and CPU per op of the
// servers (--server_pids, from /proc) and of synod-bench itself.
//
// Workloads (keys are /bench/k0 .. /bench/k<keys-1>, preloaded):
//   write              overwrite existing keys (Synod Set, ZooKeeper setData, etcd Put)
//   read_linearizable  Synod LINEARIZABLE Get, etcd Range, ZooKeeper sync + getData
//   read_serializable  Synod SERIALIZABLE Get, etcd serializable Range, ZooKeeper getData
//   mixed              --mixed_write_percent writes, the rest --mixed_read reads
//   create             new keys under /bench (etcd: Put of a new key)
//   preload            create /bench/k0 .. /bench/k<keys-1> (existing ones count as done)
//   watch_fanout       --watchers watches on /bench/watch over --clients connections of
//                      the --target replicas; --count sets of it, one at a time, by a
//                      writer on the leader; latency = set sent -> each watcher's event
//   session_churn      each of --clients loops: open a session, create an ephemeral
//                      under /bench/churn, close the session; then counts what is left
//
// Example (deploy/cluster.sh start 3 first):
//   synod-bench --system=synod --workload=preload --keys=1000
//   synod-bench --system=synod --workload=write --clients=16 --inflight=4
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/load_runner.h"
#include "bench/synod_bench/proc_stats.h"
#include "bench/synod_bench/progress.h"
#include "bench/synod_bench/session_churn.h"
#include "bench/synod_bench/watch_fanout.h"

ABSL_FLAG(std::string, system, "synod", "synod | zookeeper | etcd");
ABSL_FLAG(std::string, workload, "write",
          "write | read_linearizable | read_serializable | mixed | create | preload | "
          "watch_fanout | session_churn");
ABSL_FLAG(std::string, endpoints, "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
          "Client addresses (host:port) of the replicas, comma-separated.");
ABSL_FLAG(std::string, target, "all",
          "all: connections spread over every endpoint; leader: the leader only; follower: "
          "one follower only. watch_fanout: where the watchers are; its writer is always on "
          "the leader.");
ABSL_FLAG(int, clients, 1,
          "Connections (each its own TCP connection / session). watch_fanout: the connections "
          "(Watch streams, ZooKeeper sessions) the watchers are spread over; session_churn: "
          "concurrent open-create-close loops.");
ABSL_FLAG(int, inflight, 1,
          "Outstanding operations per connection (session_churn and watch_fanout: always 1).");
ABSL_FLAG(double, duration_s, 10, "Measured seconds (timed runs; not watch_fanout).");
ABSL_FLAG(double, warmup_s, 2,
          "Seconds of load before the measured window (timed runs; not watch_fanout).");
ABSL_FLAG(uint64_t, count, 0,
          "If > 0: run exactly this many operations (session_churn: cycles) instead of a "
          "duration. watch_fanout: the number of sets of the watched node (0: 200).");
ABSL_FLAG(int, watchers, 1000,
          "watch_fanout: watches on /bench/watch, watcher i on connection i mod --clients.");
ABSL_FLAG(int, value_size, 256, "Bytes per written value.");
ABSL_FLAG(uint64_t, keys, 1000, "Keys the workloads spread over (and preload creates).");
ABSL_FLAG(int, mixed_write_percent, 10, "Share of writes in the mixed workload, percent.");
ABSL_FLAG(std::string, mixed_read, "linearizable",
          "Reads of the mixed workload: linearizable | serializable.");
ABSL_FLAG(std::string, server_pids, "",
          "Comma-separated PIDs of the server processes: their CPU time (/proc/PID/stat) over "
          "the measured window gives server CPU per op, and their RSS is reported after.");
ABSL_FLAG(int, timeout_ms, 10000,
          "Deadline per request (Synod, etcd); session timeout (ZooKeeper). session_churn: "
          "also the session timeout of Synod and the lease TTL (rounded up to s) of etcd. "
          "watch_fanout: also the longest wait for one set's events.");
ABSL_FLAG(std::string, synod_api, "pipeline",
          "How the Synod driver sends tree calls: pipeline (each connection's calls on one "
          "Tree.Pipeline stream, as a client with many requests in flight does), unary (one "
          "gRPC call per request) or library (a synod::Client per connection, with a session "
          "and exactly-once writes; no TLS).");
ABSL_FLAG(std::string, tls_ca, "",
          "Synod: PEM CA certificate to verify the replicas' client-port certificates with; "
          "set, every channel speaks TLS (the replicas run with --tls_cert).");
ABSL_FLAG(std::string, tls_cert, "",
          "Synod with --tls_ca: PEM client certificate to present (for --tls_client_auth).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(int, zk_resolution_delay_ms, 10000,
          "ZooKeeper: zoo_set_servers_resolution_delay of every session. 0 is the library's "
          "default, which resolves the host list again on every poll of the I/O thread; a "
          "tuned client resolves at most once per window.");
ABSL_FLAG(std::string, progress, "auto",
          "Progress on stderr: lines (each phase, then done/total, rate and time left every "
          "--progress_interval_s), phases (one line per phase), none; auto: lines when stderr "
          "is a terminal, else phases.");
ABSL_FLAG(double, progress_interval_s, 5, "Seconds between progress lines (--progress=lines).");
ABSL_FLAG(bool, json, false, "Print the result as one JSON object instead of a text line.");
ABSL_FLAG(std::string, label, "", "Free text copied into the result (e.g. the run's name).");

namespace synod::bench {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "synod-bench: %s\n", message.c_str());
  return 1;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  if (!in || out.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read '", path, "'"));
  }
  return out.str();
}

// The --progress hooks: phase lines always (but with none), tick lines
// when asked for or when stderr is a terminal.
absl::StatusOr<ProgressHooks> MakeProgress() {
  const std::string mode = absl::GetFlag(FLAGS_progress);
  if (mode != "auto" && mode != "lines" && mode != "phases" && mode != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("--progress must be auto, lines, phases or none, not '", mode, "'"));
  }
  ProgressHooks hooks;
  if (mode == "none") return hooks;
  const std::string label = absl::GetFlag(FLAGS_label);
  const std::string who = absl::StrCat("synod-bench ", absl::GetFlag(FLAGS_system), " ",
                                       label.empty() ? absl::GetFlag(FLAGS_workload) : label, ": ");
  hooks.phase = [who](const std::string& phase, double seconds, uint64_t total) {
    if (phase == "done") {
      std::fprintf(stderr, "%sdone, %" PRIu64 " ops in %.1f s\n", who.c_str(), total, seconds);
    } else if (total > 0) {
      std::fprintf(stderr, "%s%s of %" PRIu64 " ops\n", who.c_str(), phase.c_str(), total);
    } else {
      std::fprintf(stderr, "%s%s %.1f s\n", who.c_str(), phase.c_str(), seconds);
    }
    std::fflush(stderr);
  };
  if (mode == "lines" || (mode == "auto" && isatty(STDERR_FILENO))) {
    hooks.tick = [who](const ProgressTick& t) {
      std::fprintf(stderr, "%s%s\n", who.c_str(), ProgressLine(t).c_str());
      std::fflush(stderr);
    };
  }
  hooks.interval_s = absl::GetFlag(FLAGS_progress_interval_s);
  return hooks;
}

int Main() {
  const std::string system = absl::GetFlag(FLAGS_system);
  const int timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  absl::StatusOr<ProgressHooks> progress = MakeProgress();
  if (!progress.ok()) return Fail(std::string(progress.status().message()));
  std::unique_ptr<Driver> driver;
  const bool tls = !absl::GetFlag(FLAGS_tls_ca).empty();
  if (!tls && (!absl::GetFlag(FLAGS_tls_cert).empty() || !absl::GetFlag(FLAGS_tls_key).empty())) {
    return Fail("--tls_cert and --tls_key need --tls_ca");
  }
  if (tls && system != "synod") return Fail("--tls_ca is for --system=synod");
  if (absl::GetFlag(FLAGS_tls_cert).empty() != absl::GetFlag(FLAGS_tls_key).empty()) {
    return Fail("--tls_cert and --tls_key go together");
  }
  if (system == "synod") {
    const std::string api = absl::GetFlag(FLAGS_synod_api);
    if (api != "pipeline" && api != "unary" && api != "library") {
      return Fail(
          absl::StrCat("--synod_api must be pipeline, unary or library, not '", api, "'"));
    }
    if (api == "library" && tls) return Fail("--synod_api=library does not take --tls_ca");
    TlsPems pems;
    if (tls) {
      for (auto [flag, pem] : {std::pair{absl::GetFlag(FLAGS_tls_ca), &pems.ca},
                               std::pair{absl::GetFlag(FLAGS_tls_cert), &pems.cert},
                               std::pair{absl::GetFlag(FLAGS_tls_key), &pems.key}}) {
        if (flag.empty()) continue;
        absl::StatusOr<std::string> text = ReadFile(flag);
        if (!text.ok()) return Fail(std::string(text.status().message()));
        *pem = *std::move(text);
      }
    }
    driver = api == "library" ? NewSynodLibraryDriver(
                                      timeout_ms, std::clamp(absl::GetFlag(FLAGS_inflight), 1, 1024))
                              : NewSynodDriver(timeout_ms, api == "pipeline", pems);
  } else if (system == "etcd") {
    driver = NewEtcdDriver(timeout_ms);
  } else if (system == "zookeeper") {
    const int delay = absl::GetFlag(FLAGS_zk_resolution_delay_ms);
    if (delay < -1) return Fail("--zk_resolution_delay_ms must be -1, 0 or a window in ms");
    driver = NewZooKeeperDriver(timeout_ms, delay);
  } else {
    return Fail(absl::StrCat("unknown --system '", system, "' (synod, zookeeper, etcd)"));
  }

  absl::StatusOr<Workload> workload = ParseWorkload(absl::GetFlag(FLAGS_workload));
  if (!workload.ok()) return Fail(std::string(workload.status().message()));
  RunOptions options;
  options.workload = *workload;
  options.inflight = std::max(1, absl::GetFlag(FLAGS_inflight));
  options.duration_s = absl::GetFlag(FLAGS_duration_s);
  options.warmup_s = absl::GetFlag(FLAGS_warmup_s);
  options.count = absl::GetFlag(FLAGS_count);
  options.keys = std::max<uint64_t>(1, absl::GetFlag(FLAGS_keys));
  options.mixed_write_percent = absl::GetFlag(FLAGS_mixed_write_percent);
  const std::string mixed_read = absl::GetFlag(FLAGS_mixed_read);
  if (mixed_read == "serializable") {
    options.mixed_read = OpKind::kReadSerializable;
  } else if (mixed_read != "linearizable") {
    return Fail("--mixed_read must be linearizable or serializable");
  }
  // Printable, fixed bytes: the same value for every system and run.
  options.value.resize(static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_value_size))));
  for (size_t i = 0; i < options.value.size(); ++i) options.value[i] = 'a' + i % 26;

  std::vector<int> pids;
  for (absl::string_view p :
       absl::StrSplit(absl::GetFlag(FLAGS_server_pids), ',', absl::SkipEmpty())) {
    int pid = 0;
    if (!absl::SimpleAtoi(p, &pid) || pid <= 0) return Fail("bad --server_pids");
    pids.push_back(pid);
  }

  const std::vector<std::string> all_endpoints =
      absl::StrSplit(absl::GetFlag(FLAGS_endpoints), ',', absl::SkipEmpty());
  if (all_endpoints.empty()) return Fail("no --endpoints");
  std::vector<std::string> endpoints = all_endpoints;
  const std::string target = absl::GetFlag(FLAGS_target);
  std::string leader;
  if (target == "leader" || target == "follower" || options.workload == Workload::kWatchFanout) {
    absl::StatusOr<std::string> l = driver->FindLeader(all_endpoints);
    if (!l.ok()) return Fail(std::string(l.status().message()));
    leader = *l;
  }
  if (target == "leader") {
    endpoints = {leader};
  } else if (target == "follower") {
    std::string follower;
    for (const std::string& e : all_endpoints) {
      if (e != leader) {
        follower = e;
        break;
      }
    }
    if (follower.empty()) return Fail("no follower among --endpoints");
    endpoints = {follower};
  } else if (target != "all") {
    return Fail("--target must be all, leader or follower");
  }
  if (absl::Status s = driver->Prepare(endpoints[0]); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  double server_cpu0 = 0, server_cpu1 = 0, self_cpu0 = 0, self_cpu1 = 0;
  bool cpu_ok = !pids.empty();
  WindowHooks hooks;
  hooks.begin = [&] {
    self_cpu0 = SelfCpuSeconds();
    if (!cpu_ok) return;
    absl::StatusOr<double> c = CpuSeconds(pids);
    cpu_ok = c.ok();
    if (cpu_ok) server_cpu0 = *c;
  };
  hooks.end = [&] {
    self_cpu1 = SelfCpuSeconds();
    if (!cpu_ok) return;
    absl::StatusOr<double> c = CpuSeconds(pids);
    cpu_ok = c.ok();
    if (cpu_ok) server_cpu1 = *c;
  };

  const int nclients = std::max(1, absl::GetFlag(FLAGS_clients));
  // What every workload reports; `extra_json` / `extra_text` carry a
  // workload's own figures.
  RunResult r;
  std::string extra_json, extra_text;
  bool run_ok = true;
  if (options.workload == Workload::kWatchFanout) {
    FanoutOptions fo;
    fo.watchers = std::max(1, absl::GetFlag(FLAGS_watchers));
    fo.connections = nclients;
    fo.writes = options.count > 0 ? options.count : 200;
    fo.value = options.value;
    fo.timeout_ms = timeout_ms;
    options.inflight = 1;
    progress->phase("fan-out", 0, fo.writes);
    absl::StatusOr<std::unique_ptr<Connection>> writer = driver->Connect(leader, nclients);
    if (!writer.ok()) return Fail(std::string(writer.status().message()));
    FanoutResult f = RunFanout(fo, driver.get(), endpoints, writer->get(), hooks);
    if (!f.setup_error.empty()) return Fail(f.setup_error);
    const uint64_t missed = f.expected - std::min(f.expected, f.totals.received);
    r.ok = f.totals.received;
    r.errors = missed + f.totals.unexpected + f.write_errors;
    r.seconds = f.seconds;
    r.latencies_us = std::move(f.totals.latencies_us);
    r.first_errors = std::move(f.totals.first_errors);
    extra_json =
        absl::StrFormat(",\"watchers\":%d,\"writes\":%" PRIu64 ",\"expected_events\":%" PRIu64
                        ",\"received_events\":%" PRIu64 ",\"missed_events\":%" PRIu64
                        ",\"unexpected_events\":%" PRIu64 ",\"write_errors\":%" PRIu64
                        ",\"incomplete_writes\":%" PRIu64
                        ",\"lost_watchers\":%d,\"write_ack_p50_ms\":%.3f,\"write_ack_p99_ms\":%.3f,"
                        "\"latency_from\":\"send\"",
                        fo.watchers, f.totals.writes, f.expected, f.totals.received, missed,
                        f.totals.unexpected, f.write_errors, f.incomplete_writes, f.totals.lost,
                        Percentile(f.ack_us, 0.5) / 1000, Percentile(f.ack_us, 0.99) / 1000);
    extra_text = absl::StrFormat("  fan-out: %d watchers, %" PRIu64 " writes, %" PRIu64
                                 " of %" PRIu64 " events (%" PRIu64 " unexpected, %" PRIu64
                                 " writes failed, %d watchers lost), "
                                 "latency from the set's send; set round trip p50 %.3f ms\n",
                                 fo.watchers, f.totals.writes, f.totals.received, f.expected,
                                 f.totals.unexpected, f.write_errors, f.totals.lost,
                                 Percentile(f.ack_us, 0.5) / 1000);
    run_ok = r.ok > 0 && missed == 0 && f.totals.unexpected == 0 && f.write_errors == 0;
  } else {
    std::vector<std::unique_ptr<Connection>> connections;
    std::vector<Connection*> raw;
    for (int i = 0; i < nclients; ++i) {
      const std::string& e = endpoints[static_cast<size_t>(i) % endpoints.size()];
      if (options.workload == Workload::kSessionChurn) {
        absl::StatusOr<std::unique_ptr<SessionClient>> sc = driver->NewSessionClient(e, i);
        if (!sc.ok()) return Fail(std::string(sc.status().message()));
        connections.push_back(std::make_unique<ChurnConnection>(*std::move(sc)));
      } else {
        absl::StatusOr<std::unique_ptr<Connection>> c = driver->Connect(e, i);
        if (!c.ok()) return Fail(std::string(c.status().message()));
        connections.push_back(*std::move(c));
      }
      raw.push_back(connections.back().get());
    }
    if (options.workload == Workload::kSessionChurn) options.inflight = 1;
    r = RunLoad(options, raw, hooks, *progress);
    connections.clear();
    if (options.workload == Workload::kSessionChurn) {
      // Every cycle closed its session (or failed): nothing may be left.
      absl::StatusOr<int64_t> left = driver->CountChildren(endpoints[0], kChurnParent);
      extra_json = absl::StrFormat(",\"ephemerals_left\":%d", left.ok() ? *left : -1);
      extra_text =
          left.ok() ? absl::StrFormat("  ephemerals left under %s: %d\n", kChurnParent, *left)
                    : absl::StrCat("  counting ephemerals failed: ", left.status().message(), "\n");
      if (!left.ok() || *left != 0) run_ok = false;
    }
    run_ok = run_ok && r.ok > 0;
  }

  uint64_t rss = 0;
  if (!pids.empty()) {
    absl::StatusOr<uint64_t> b = RssBytes(pids);
    if (b.ok()) rss = *b;
  }
  const double ops = static_cast<double>(r.ok);
  const double ops_per_s = r.seconds > 0 ? ops / r.seconds : 0;
  const double server_us = cpu_ok && r.ok > 0 ? (server_cpu1 - server_cpu0) * 1e6 / ops : -1;
  const double client_us = r.ok > 0 ? (self_cpu1 - self_cpu0) * 1e6 / ops : -1;
  const double p50 = Percentile(r.latencies_us, 0.5) / 1000;
  const double p99 = Percentile(r.latencies_us, 0.99) / 1000;
  const double p999 = Percentile(r.latencies_us, 0.999) / 1000;
  const std::string workload_name = absl::GetFlag(FLAGS_workload);
  const int value_size = absl::GetFlag(FLAGS_value_size);

  // How Synod was called: the API and whether the channels spoke TLS.
  const std::string call_json =
      system == "synod"
          ? absl::StrFormat(",\"synod_api\":%s,\"tls\":%s",
                            JsonString(absl::GetFlag(FLAGS_synod_api)), tls ? "true" : "false")
          : "";
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"label\":%s,\"system\":%s,\"workload\":%s,\"target\":%s,\"clients\":%d,"
        "\"inflight\":%d,\"value_size\":%d,\"keys\":%" PRIu64 ",\"ok\":%" PRIu64
        ",\"errors\":%" PRIu64
        ",\"seconds\":%.3f,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"p999_ms\":%.3f,\"server_cpu_us_per_op\":%.1f,\"client_cpu_us_per_op\":%.1f,"
        "\"server_rss_bytes\":%" PRIu64 ",\"server_pids\":%zu%s%s,\"first_errors\":[%s]}\n",
        JsonString(absl::GetFlag(FLAGS_label)).c_str(), JsonString(system).c_str(),
        JsonString(workload_name).c_str(), JsonString(target).c_str(), nclients, options.inflight,
        value_size, options.keys, r.ok, r.errors, r.seconds, ops_per_s, p50, p99, p999, server_us,
        client_us, rss, pids.size(), call_json.c_str(), extra_json.c_str(),
        absl::StrJoin(r.first_errors, ",", [](std::string* out, const std::string& e) {
          out->append(JsonString(e));
        }).c_str());
  } else {
    std::printf(
        "%s%s %s target=%s clients=%dx%d value=%dB keys=%" PRIu64
        ": %.0f ops/s, p50 %.3f ms, "
        "p99 %.3f ms, p99.9 %.3f ms, %" PRIu64 " ok, %" PRIu64
        " errors in %.1f s, server cpu %.0f us/op, client cpu %.0f us/op, server rss %.1f MiB\n",
        system.c_str(),
        system == "synod"
            ? absl::StrCat(" (", absl::GetFlag(FLAGS_synod_api), tls ? ", tls" : "", ")").c_str()
            : "",
        workload_name.c_str(), target.c_str(), nclients, options.inflight, value_size, options.keys,
        ops_per_s, p50, p99, p999, r.ok, r.errors, r.seconds, server_us, client_us,
        static_cast<double>(rss) / (1 << 20));
    std::printf("%s", extra_text.c_str());
    for (const std::string& e : r.first_errors) std::printf("  error: %s\n", e.c_str());
  }
  std::fflush(stdout);
  return run_ok ? 0 : 1;
}

}  // namespace
}  // namespace synod::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load generator for Synod, ZooKeeper and etcd clusters.\n"
      "Workloads: write, read_linearizable, read_serializable, mixed, create, preload,\n"
      "watch_fanout (--watchers watches on /bench/watch, --count sets by a writer on the\n"
      "leader, latency from each set's send to each watcher's event), session_churn\n"
      "(--clients loops of open session, create ephemeral, close session; then counts the\n"
      "ephemerals left). See bench/README.md.");
  // abseil's --help lists the flags of files named after the program;
  // synod-bench's are in main.cc.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "synod_bench/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  return synod::bench::Main();
}
