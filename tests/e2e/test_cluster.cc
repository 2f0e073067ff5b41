#include "tests/e2e/test_cluster.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/testing/free_port.h"
#include "tests/testing/wait.h"

#ifndef SYNOD_BINARY
#error "SYNOD_BINARY must name the synod executable"
#endif

namespace synod::e2e {

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

v1::ResponseHeader HeaderOf(const grpc::Status& status, const v1::ResponseHeader& header) {
  if (status.ok()) return header;
  v1::ResponseHeader details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    return details;
  }
  details.set_code(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                       ? v1::DEADLINE_EXCEEDED
                   : status.error_code() == grpc::StatusCode::UNAVAILABLE ? v1::UNAVAILABLE
                                                                          : v1::INTERNAL);
  details.set_message(status.error_message());
  return details;
}

v1::ErrorCode CodeOf(const grpc::Status& status, const v1::ResponseHeader& header) {
  return HeaderOf(status, header).code();
}

v1::ErrorCode CreateNode(v1::Tree::Stub* tree, const std::string& path, const std::string& data,
                         absl::Duration timeout, uint64_t* revision) {
  v1::CreateRequest req;
  req.mutable_op()->set_path(path);
  req.mutable_op()->set_data(data);
  v1::CreateResponse resp;
  grpc::Status s = tree->Create(Ctx(timeout).get(), req, &resp);
  if (revision != nullptr) *revision = resp.stat().mzxid();
  return CodeOf(s, resp.header());
}

v1::ErrorCode SetNode(v1::Tree::Stub* tree, const std::string& path, const std::string& data,
                      absl::Duration timeout, uint64_t* revision) {
  v1::SetRequest req;
  req.mutable_op()->set_path(path);
  req.mutable_op()->set_data(data);
  v1::SetResponse resp;
  grpc::Status s = tree->Set(Ctx(timeout).get(), req, &resp);
  if (revision != nullptr) *revision = resp.stat().mzxid();
  return CodeOf(s, resp.header());
}

v1::ErrorCode GetNode(v1::Tree::Stub* tree, const std::string& path, std::string* data,
                      v1::Consistency consistency, absl::Duration timeout, uint64_t* revision) {
  v1::GetRequest req;
  req.set_path(path);
  req.mutable_read()->set_consistency(consistency);
  v1::GetResponse resp;
  grpc::Status s = tree->Get(Ctx(timeout).get(), req, &resp);
  if (data != nullptr) *data = resp.data();
  if (revision != nullptr) *revision = HeaderOf(s, resp.header()).revision();
  return CodeOf(s, resp.header());
}

TestCluster::TestCluster(const Options& options) : options_(options), dir_("synod-e2e-") {
  std::vector<std::string> entries;
  for (int id = 1; id <= options_.size; ++id) {
    Member& m = NewMember(id);
    entries.push_back(absl::StrCat(id, "=", m.peer_addr, "/", m.client_addr));
  }
  initial_cluster_ = absl::StrJoin(entries, ",");
}

TestCluster::Member& TestCluster::NewMember(int id) {
  Member& m = members_[id];
  m.client_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  m.peer_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  if (options_.metrics) m.metrics_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  {
    // Members come and go in these tests: reconnect within 100-200 ms, not
    // after gRPC's default backoff of seconds.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    // (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also the connect timeout.)
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    // Re-resolution after a failed connect is rate-limited to 30 s by default.
    args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
    args.SetMaxSendMessageSize(64 << 20);
    m.channel = grpc::CreateCustomChannel(m.client_addr,
                                          options_.credentials != nullptr
                                              ? options_.credentials
                                              : grpc::InsecureChannelCredentials(),
                                          args);
    m.tree = v1::Tree::NewStub(m.channel);
    m.cluster = v1::Cluster::NewStub(m.channel);
    std::ofstream(FaultFile(id), std::ios::trunc);
  }
  return m;
}

int TestCluster::AddMemberSlot() {
  const int id = static_cast<int>(members_.size()) + 1;
  NewMember(id);
  return id;
}

std::string TestCluster::FoundingClientAddrs() const {
  std::vector<std::string> addrs;
  for (int id = 1; id <= options_.size; ++id) addrs.push_back(members_.at(id).client_addr);
  return absl::StrJoin(addrs, ",");
}

TestCluster::~TestCluster() {
  for (auto& [id, m] : members_) {
    if (m.process.has_value()) m.process->Stop();
  }
}

std::string TestCluster::data_dir(int id) const { return dir_.Sub(absl::StrCat("data", id)); }
std::string TestCluster::log_path(int id) const { return dir_.Sub(absl::StrCat("log", id)); }
std::string TestCluster::FaultFile(int id) const { return dir_.Sub(absl::StrCat("faults", id)); }

std::string TestCluster::LogTail(int id, size_t bytes) const {
  std::ifstream in(log_path(id));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > bytes) s = "..." + s.substr(s.size() - bytes);
  return absl::StrCat("---- log of member ", id, " ----\n", s);
}

absl::Status TestCluster::StartAll() {
  for (int id = 1; id <= options_.size; ++id) {
    if (Running(id)) continue;
    if (absl::Status s = Start(id); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status TestCluster::Start(int id) {
  Member& m = members_.at(id);
  if (m.process.has_value() && m.process->Running()) {
    return absl::FailedPreconditionError(absl::StrCat("member ", id, " is running"));
  }
  testing::Subprocess::Options po;
  po.binary = SYNOD_BINARY;
  po.log_path = log_path(id);
  po.args = {absl::StrCat("--id=", id),
             absl::StrCat("--data_dir=", data_dir(id)),
             id <= options_.size ? absl::StrCat("--initial_cluster=", initial_cluster_)
                                 : absl::StrCat("--join=", FoundingClientAddrs()),
             absl::StrCat("--heartbeat_ms=", options_.heartbeat_ms),
             absl::StrCat("--election_ms=", options_.election_ms),
             absl::StrCat("--snapshot_threshold=", options_.snapshot_threshold),
             absl::StrCat("--fault_injection_file=", FaultFile(id)),
             "--cache_mb=16",
             "--digest_check_ms=200",  // exercised under every test's load
             "--log_cache_mb=16"};
  po.args.insert(po.args.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  if (auto own = options_.member_flags.find(id); own != options_.member_flags.end()) {
    po.args.insert(po.args.end(), own->second.begin(), own->second.end());
  }
  if (!m.metrics_addr.empty()) po.args.push_back(absl::StrCat("--metrics_addr=", m.metrics_addr));
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(po);
  if (!p.ok()) return p.status();
  m.process.emplace(*std::move(p));
  // Up once its client port answers a Status call.
  const bool up = testing::WaitUntil(
      [&] { return !m.process->Running() || Status(id, absl::Milliseconds(500)).ok(); },
      absl::Seconds(20));
  if (!up || !m.process->Running()) {
    return absl::UnavailableError(absl::StrCat("member ", id, " did not come up\n", LogTail(id)));
  }
  return absl::OkStatus();
}

void TestCluster::Kill(int id) {
  Member& m = members_.at(id);
  if (m.process.has_value()) m.process->Kill();
}

void TestCluster::Signal(int id, int sig) {
  Member& m = members_.at(id);
  if (m.process.has_value()) m.process->Signal(sig);
}

std::string TestCluster::Stop(int id) {
  Member& m = members_.at(id);
  if (!m.process.has_value()) return "not started";
  std::optional<int> status = m.process->Stop();
  return status.has_value() ? testing::DescribeWaitStatus(*status) : "no process";
}

bool TestCluster::Running(int id) {
  Member& m = members_.at(id);
  return m.process.has_value() && m.process->Running();
}

std::vector<int> TestCluster::RunningIds() {
  std::vector<int> out;
  for (const auto& [id, m] : members_) {
    if (Running(id)) out.push_back(id);
  }
  return out;
}

v1::Tree::Stub* TestCluster::tree(int id) { return members_.at(id).tree.get(); }
v1::Cluster::Stub* TestCluster::cluster(int id) { return members_.at(id).cluster.get(); }

absl::StatusOr<v1::StatusResponse> TestCluster::Status(int id, absl::Duration timeout) {
  v1::StatusResponse resp;
  grpc::Status s = cluster(id)->Status(Ctx(timeout).get(), v1::StatusRequest(), &resp);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return resp;
}

int TestCluster::WaitForLeader(absl::Duration timeout, std::set<int> among) {
  if (among.empty()) {
    for (int id : RunningIds()) among.insert(id);
  }
  int leader = 0;
  testing::WaitUntil(
      [&] {
        std::set<uint64_t> seen;
        for (int id : among) {
          absl::StatusOr<v1::StatusResponse> st = Status(id, absl::Milliseconds(500));
          if (!st.ok()) return false;
          seen.insert(st->leader_id());
        }
        if (seen.size() != 1 || *seen.begin() == 0 ||
            among.count(static_cast<int>(*seen.begin())) == 0) {
          return false;
        }
        // A new cluster's first leader records the cluster settings from
        // its flags first: until then the defaults apply (see
        // docs/operations.md), which a test that sets those flags would
        // not expect.
        v1::SettingsGetRequest req;
        req.mutable_read()->set_consistency(v1::SERIALIZABLE);
        v1::SettingsGetResponse resp;
        const int candidate = static_cast<int>(*seen.begin());
        if (!cluster(candidate)->SettingsGet(Ctx(absl::Milliseconds(500)).get(), req, &resp).ok() ||
            !resp.recorded()) {
          return false;
        }
        leader = candidate;
        return true;
      },
      timeout, absl::Milliseconds(50));
  return leader;
}

bool TestCluster::WaitForApplied(uint64_t index, absl::Duration timeout, std::set<int> among) {
  if (among.empty()) {
    for (int id : RunningIds()) among.insert(id);
  }
  return testing::WaitUntil(
      [&] {
        for (int id : among) {
          absl::StatusOr<v1::StatusResponse> st = Status(id, absl::Milliseconds(500));
          if (!st.ok() || st->applied_index() < index) return false;
        }
        return true;
      },
      timeout, absl::Milliseconds(50));
}

void TestCluster::WriteFaults(int id, const std::set<int>& peers) {
  std::ofstream out(FaultFile(id), std::ios::trunc);
  out << absl::StrJoin(peers, " ") << "\n";
}

void TestCluster::Isolate(int id, const std::set<int>& peers) {
  // Undo the previous isolation of `id` on the other side first.
  for (int p : isolated_[id]) {
    isolated_[p].erase(id);
    WriteFaults(p, isolated_[p]);
  }
  isolated_[id] = peers;
  for (int p : peers) {
    isolated_[p].insert(id);
    WriteFaults(p, isolated_[p]);
  }
  WriteFaults(id, peers);
}

}  // namespace synod::e2e
