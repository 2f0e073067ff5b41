#include "tests/faults/netns_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "grpcpp/create_channel.h"
#include "tests/faults/command.h"
#include "tests/testing/wait.h"

namespace synod::faults {
namespace {

constexpr char kPrefix[] = "synf";
constexpr int kClientPort = 7000;
constexpr int kPeerPort = 7100;

std::string NewRunId() {
  std::random_device rd;
  const uint32_t r = (rd() ^ static_cast<uint32_t>(getpid() << 8)) & 0xffffff;
  char buf[8];
  snprintf(buf, sizeof(buf), "%06x", r);
  return buf;
}

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

}  // namespace

NetnsCluster::NetnsCluster(const Options& options) : options_(options), run_id_(NewRunId()) {}

NetnsCluster::~NetnsCluster() {
  if (absl::Status s = Teardown(); !s.ok()) {
    fprintf(stderr, "synod-faults: teardown of run %s: %s\n", run_id_.c_str(),
            std::string(s.message()).c_str());
  }
}

std::string NetnsCluster::namespace_name(int id) const {
  return absl::StrCat(kPrefix, "-", run_id_, "-", id);
}
std::string NetnsCluster::peer_ip(int id) const {
  return absl::StrCat("10.213.", subnet_, ".", 10 + id);
}
std::string NetnsCluster::client_addr(int id) const {
  return absl::StrCat(peer_ip(id), ":", kClientPort);
}
std::string NetnsCluster::log_path(int id) const {
  return absl::StrCat(options_.run_dir, "/replica", id, ".log");
}
std::string NetnsCluster::ip(int id) const { return peer_ip(id); }

absl::StatusOr<std::unique_ptr<NetnsCluster>> NetnsCluster::Create(const Options& options) {
  if (options.size < 1 || options.size > 9) {
    return absl::InvalidArgumentError("cluster size must be 1..9");
  }
  std::unique_ptr<NetnsCluster> c(new NetnsCluster(options));
  SYNOD_ASSIGN_OR_RETURN(c->ip_binary_, FindProgram("ip"));
  SYNOD_ASSIGN_OR_RETURN(c->tc_binary_, FindProgram("tc"));
  if (absl::Status s = c->Build(); !s.ok()) {
    c->Teardown().IgnoreError();  // the build error is the one to report
    return s;
  }
  return c;
}

absl::Status NetnsCluster::Build() {
  built_ = true;  // from here on, Teardown has something to remove
  // A /24 no address on this host uses yet (a parallel run holds its own).
  SYNOD_ASSIGN_OR_RETURN(std::string addrs, RunCommand({ip_binary_, "-o", "-4", "addr", "show"}));
  subnet_ = static_cast<int>(std::stoul(run_id_, nullptr, 16) % 250);
  for (int tries = 0; absl::StrContains(addrs, absl::StrCat("10.213.", subnet_, ".")); ++tries) {
    if (tries == 250) return absl::ResourceExhaustedError("no free 10.213.N.0/24 subnet");
    subnet_ = (subnet_ + 1) % 250;
  }
  const std::string bridge = absl::StrCat(kPrefix, run_id_, "b");
  SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "link", "add", bridge, "type", "bridge"}).status());
  SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "link", "set", "dev", bridge, "alias",
                                    absl::StrCat("synod-faults owner=", getpid())})
                            .status());
  SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "addr", "add",
                                    absl::StrCat("10.213.", subnet_, ".1/24"), "dev", bridge})
                            .status());
  SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "link", "set", bridge, "up"}).status());
  std::vector<std::string> entries;
  for (int id = 1; id <= options_.size; ++id) {
    const std::string ns = namespace_name(id);
    const std::string host_if = absl::StrCat(kPrefix, run_id_, "h", id);
    const std::string ns_if = absl::StrCat(kPrefix, run_id_, "r", id);
    SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "netns", "add", ns}).status());
    SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "link", "add", host_if, "type", "veth", "peer",
                                      "name", ns_if, "netns", ns})
                              .status());
    SYNOD_RETURN_IF_ERROR(
        RunCommand({ip_binary_, "link", "set", host_if, "master", bridge, "up"}).status());
    SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "-n", ns, "addr", "add",
                                      absl::StrCat(ip(id), "/24"), "dev", ns_if})
                              .status());
    SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "-n", ns, "link", "set", ns_if, "up"}).status());
    SYNOD_RETURN_IF_ERROR(RunCommand({ip_binary_, "-n", ns, "link", "set", "lo", "up"}).status());
    entries.push_back(absl::StrCat(id, "=", ip(id), ":", kPeerPort, "/", ip(id), ":", kClientPort));

    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 300);
    // Re-resolution after a failed connect is rate-limited to 30 s by
    // default, which would keep a channel to a restarted replica down.
    args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
    channels_[id] = grpc::CreateCustomChannel(client_addr(id), grpc::InsecureChannelCredentials(), args);
    cluster_stubs_[id] = v1::Cluster::NewStub(channels_[id]);
  }
  initial_cluster_ = absl::StrJoin(entries, ",");
  // netem where the kernel has it; a tbf rate limit (queueing delay and
  // tail drops) where it does not.
  const std::string probe_if = absl::StrCat(kPrefix, run_id_, "r1");
  const std::vector<std::string> netem = {"netem", "delay", "60ms", "40ms", "loss", "5%"};
  std::vector<std::string> probe = {tc_binary_, "-n", namespace_name(1), "qdisc", "add", "dev",
                                    probe_if, "root"};
  probe.insert(probe.end(), netem.begin(), netem.end());
  if (RunCommand(probe).ok()) {
    degrade_qdisc_ = netem;
    SYNOD_RETURN_IF_ERROR(
        RunCommand({tc_binary_, "-n", namespace_name(1), "qdisc", "del", "dev", probe_if, "root"})
            .status());
  } else {
    degrade_qdisc_ = {"tbf", "rate", "256kbit", "burst", "8kb", "latency", "400ms"};
  }
  return absl::OkStatus();
}

absl::Status NetnsCluster::Teardown() {
  for (auto& [id, p] : processes_) {
    if (!p.has_value()) continue;
    if (paused_.count(id) > 0) p->Signal(SIGCONT);
    p->Stop();
  }
  processes_.clear();
  paused_.clear();
  if (!built_) return absl::OkStatus();
  built_ = false;
  absl::StatusOr<std::vector<std::string>> removed = CleanupLeftovers(run_id_, /*force=*/true);
  return removed.status();
}

absl::Status NetnsCluster::Start(int id) {
  std::optional<testing::Subprocess>& p = processes_[id];
  if (p.has_value() && p->Running()) return absl::OkStatus();
  paused_.erase(id);
  testing::Subprocess::Options po;
  po.binary = ip_binary_;
  po.log_path = log_path(id);
  po.stop_grace = absl::Seconds(5);
  // `ip netns exec` enters the namespace and execs synod: the PID is the
  // replica's own.
  po.args = {"netns",
             "exec",
             namespace_name(id),
             options_.synod_binary,
             absl::StrCat("--id=", id),
             absl::StrCat("--data_dir=", options_.run_dir, "/data", id),
             absl::StrCat("--initial_cluster=", initial_cluster_),
             absl::StrCat("--heartbeat_ms=", options_.heartbeat_ms),
             absl::StrCat("--election_ms=", options_.election_ms),
             "--cache_mb=16",
             "--log_cache_mb=16",
             "--digest_check_ms=1000"};
  po.args.insert(po.args.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  absl::StatusOr<testing::Subprocess> started = testing::Subprocess::Start(po);
  if (!started.ok()) return started.status();
  p.emplace(*std::move(started));
  const bool up = testing::WaitUntil(
      [&] { return !p->Running() || Status(id, absl::Milliseconds(500)).ok(); }, absl::Seconds(20),
      absl::Milliseconds(50));
  if (!up || !p->Running()) {
    return absl::UnavailableError(
        absl::StrCat("replica ", id, " did not come up; see ", log_path(id)));
  }
  return absl::OkStatus();
}

absl::Status NetnsCluster::StartAll() {
  for (int id = 1; id <= options_.size; ++id) SYNOD_RETURN_IF_ERROR(Start(id));
  return absl::OkStatus();
}

void NetnsCluster::Kill(int id) {
  auto it = processes_.find(id);
  if (it == processes_.end() || !it->second.has_value()) return;
  it->second->Kill();
  paused_.erase(id);
}

void NetnsCluster::Pause(int id) {
  auto it = processes_.find(id);
  if (it == processes_.end() || !it->second.has_value()) return;
  it->second->Signal(SIGSTOP);
  paused_.insert(id);
}

void NetnsCluster::Resume(int id) {
  auto it = processes_.find(id);
  if (it == processes_.end() || !it->second.has_value()) return;
  it->second->Signal(SIGCONT);
  paused_.erase(id);
}

bool NetnsCluster::Running(int id) {
  auto it = processes_.find(id);
  return it != processes_.end() && it->second.has_value() && it->second->Running();
}

absl::Status NetnsCluster::Block(int from, int to) {
  if (!blocked_.insert({from, to}).second) return absl::OkStatus();
  return RunCommand({ip_binary_, "-n", namespace_name(from), "route", "add", "blackhole",
                     absl::StrCat(ip(to), "/32")})
      .status();
}

absl::Status NetnsCluster::Partition(const std::set<int>& a, const std::set<int>& b) {
  for (int x : a) {
    for (int y : b) {
      SYNOD_RETURN_IF_ERROR(Block(x, y));
      SYNOD_RETURN_IF_ERROR(Block(y, x));
    }
  }
  return absl::OkStatus();
}

absl::Status NetnsCluster::Degrade(int id) {
  if (!degraded_.insert(id).second) return absl::OkStatus();
  std::vector<std::string> cmd = {tc_binary_, "-n", namespace_name(id), "qdisc", "add", "dev",
                                  absl::StrCat(kPrefix, run_id_, "r", id), "root"};
  cmd.insert(cmd.end(), degrade_qdisc_.begin(), degrade_qdisc_.end());
  return RunCommand(cmd).status();
}

absl::Status NetnsCluster::HealNetwork() {
  absl::Status first;
  for (const auto& [from, to] : blocked_) {
    absl::Status s = RunCommand({ip_binary_, "-n", namespace_name(from), "route", "del",
                                 "blackhole", absl::StrCat(ip(to), "/32")})
                         .status();
    if (first.ok()) first = s;
  }
  blocked_.clear();
  for (int id : degraded_) {
    absl::Status s = RunCommand({tc_binary_, "-n", namespace_name(id), "qdisc", "del", "dev",
                                 absl::StrCat(kPrefix, run_id_, "r", id), "root"})
                         .status();
    if (first.ok()) first = s;
  }
  degraded_.clear();
  return first;
}

absl::StatusOr<v1::StatusResponse> NetnsCluster::Status(int id, absl::Duration timeout) {
  v1::StatusResponse resp;
  grpc::Status s = cluster_stubs_.at(id)->Status(Ctx(timeout).get(), v1::StatusRequest(), &resp);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return resp;
}

int NetnsCluster::Leader(absl::Duration timeout) {
  std::map<uint64_t, int> votes;
  for (int id = 1; id <= options_.size; ++id) {
    if (!Running(id) || Paused(id)) continue;
    absl::StatusOr<v1::StatusResponse> st = Status(id, timeout);
    if (st.ok() && st->leader_id() != 0) ++votes[st->leader_id()];
  }
  for (const auto& [leader, n] : votes) {
    if (n > options_.size / 2) return static_cast<int>(leader);
  }
  return 0;
}

absl::StatusOr<std::vector<std::string>> CleanupLeftovers(const std::string& run_id, bool force) {
  SYNOD_ASSIGN_OR_RETURN(const std::string ip_binary, FindProgram("ip"));
  std::vector<std::string> removed;
  // Runs to remove: by bridge, whose alias names the owner.
  SYNOD_ASSIGN_OR_RETURN(std::string links, RunCommand({ip_binary, "-o", "link", "show"}));
  std::set<std::string> runs;
  std::set<std::string> live_runs;
  std::vector<std::string> link_names;
  for (absl::string_view line : absl::StrSplit(links, '\n', absl::SkipEmpty())) {
    // "12: synfab12cdb: <BROADCAST,...> ... alias synod-faults owner=123"
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(": ", 2));
    if (parts.size() < 2) continue;
    std::string name(parts[1].substr(0, parts[1].find('@')));
    if (!absl::StartsWith(name, kPrefix) || name.size() < 11) continue;
    link_names.push_back(name);
    const std::string id = name.substr(4, 6);
    runs.insert(id);
    const size_t owner_at = line.find("owner=");
    int owner = 0;
    if (owner_at != absl::string_view::npos &&
        absl::SimpleAtoi(line.substr(owner_at + 6, line.find_first_not_of("0123456789", owner_at + 6) -
                                                        (owner_at + 6)),
                         &owner) &&
        owner > 0 && owner != getpid() && kill(owner, 0) == 0) {
      live_runs.insert(id);
    }
  }
  SYNOD_ASSIGN_OR_RETURN(std::string namespaces, RunCommand({ip_binary, "netns", "list"}));
  std::vector<std::string> ns_names;
  for (absl::string_view line : absl::StrSplit(namespaces, '\n', absl::SkipEmpty())) {
    std::string name(line.substr(0, line.find(' ')));
    if (!absl::StartsWith(name, absl::StrCat(kPrefix, "-")) || name.size() < 11) continue;
    ns_names.push_back(name);
    runs.insert(name.substr(5, 6));
  }
  auto wanted = [&](const std::string& id) {
    if (!run_id.empty()) return id == run_id;
    return force || live_runs.count(id) == 0;
  };
  absl::Status first;
  for (const std::string& ns : ns_names) {
    if (!wanted(ns.substr(5, 6))) continue;
    // The processes inside one of our namespaces are replicas we started.
    absl::StatusOr<std::string> pids = RunCommand({ip_binary, "netns", "pids", ns});
    if (pids.ok()) {
      for (absl::string_view p : absl::StrSplit(*pids, '\n', absl::SkipEmpty())) {
        int pid = 0;
        if (absl::SimpleAtoi(p, &pid) && pid > 1 && pid != getpid()) {
          kill(pid, SIGKILL);
          removed.push_back(absl::StrCat("killed pid ", pid, " in ", ns));
        }
      }
    }
    absl::Status s = RunCommand({ip_binary, "netns", "del", ns}).status();
    if (s.ok()) {
      removed.push_back(absl::StrCat("deleted namespace ", ns));
    } else if (first.ok()) {
      first = s;
    }
  }
  for (const std::string& link : link_names) {
    if (!wanted(link.substr(4, 6))) continue;
    // A veth may already be gone with its peer's namespace.
    absl::StatusOr<std::string> still = RunCommand({ip_binary, "link", "show", "dev", link});
    if (!still.ok()) continue;
    absl::Status s = RunCommand({ip_binary, "link", "del", link}).status();
    if (s.ok()) {
      removed.push_back(absl::StrCat("deleted link ", link));
    } else if (first.ok()) {
      first = s;
    }
  }
  if (!first.ok()) return first;
  return removed;
}

}  // namespace synod::faults
