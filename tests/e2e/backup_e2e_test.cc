// End-to-end backup and restore (issue 8): `synodctl snapshot save` from a
// live 3-replica cluster while a writer runs, `synod --restore` of that file
// into a new 3-replica cluster, and damaged files refused by both tools.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/session_calls.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

#ifndef SYNODCTL_BIN
#error "SYNODCTL_BIN must name the synodctl executable"
#endif
#ifndef SYNOD_BINARY_FOR_TEST
#error "SYNOD_BINARY_FOR_TEST must name the synod executable"
#endif

namespace synod::e2e {
namespace {

using ::synod::testing::Subprocess;
using ::synod::testing::WaitUntil;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct ToolRun {
  std::string status;  // "exit 0", "signal 9", "timeout"
  std::string output;  // stdout and stderr
};

// Runs a binary to completion (at most `timeout`), capturing its output.
ToolRun RunTool(const std::string& binary, const std::vector<std::string>& args,
                const std::string& log_path, absl::Duration timeout = absl::Seconds(60)) {
  std::filesystem::remove(log_path);
  Subprocess::Options o;
  o.binary = binary;
  o.args = args;
  o.log_path = log_path;
  absl::StatusOr<Subprocess> p = Subprocess::Start(o);
  if (!p.ok()) return ToolRun{p.status().ToString(), ""};
  absl::StatusOr<int> status = p->Wait(timeout);
  ToolRun r;
  r.status = status.ok() ? testing::DescribeWaitStatus(*status) : "timeout";
  r.output = ReadAll(log_path);
  return r;
}

// The unsigned value of "key": N in a flat JSON object (0 if absent).
uint64_t JsonUint(const std::string& json, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle);
  if (at == std::string::npos) return 0;
  const size_t start = at + needle.size();
  const size_t end = json.find_first_not_of("0123456789", start);
  uint64_t v = 0;
  return absl::SimpleAtoi(json.substr(start, end - start), &v) ? v : 0;
}

// The string value of "key":"..." in a flat JSON object ("" if absent).
std::string JsonString(const std::string& json, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\":\"");
  const size_t at = json.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  return json.substr(start, json.find('"', start) - start);
}

std::string Logs(TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2000) + "\n";
  return out;
}

// Creates /backup/<n> on the members in turn until told to stop (or it has
// made `max_writes` attempts), recording the revision of every
// acknowledged create.
class Writer {
 public:
  Writer(TestCluster* cluster, int max_writes) : cluster_(cluster), max_writes_(max_writes) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int acked() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(acked_.size());
  }
  std::map<std::string, uint64_t> acked_writes() {
    absl::MutexLock lock(&mu_);
    return acked_;
  }

 private:
  void Loop() {
    for (int n = 0; n < max_writes_ && !stop_; ++n) {
      const std::string path = absl::StrCat("/backup/", n);
      uint64_t revision = 0;
      const v1::ErrorCode code =
          CreateNode(cluster_->tree(1 + n % cluster_->size()), path, std::string(64, 'a' + n % 26),
                     absl::Seconds(3), &revision);
      if (code == v1::OK) {
        absl::MutexLock lock(&mu_);
        acked_[path] = revision;
      }
    }
  }

  TestCluster* const cluster_;
  const int max_writes_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::map<std::string, uint64_t> acked_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Long enough that the restored cluster's digests are read before it
// expires the restored session (which changes the tree).
constexpr int64_t kSessionTimeoutMs = 6000;

TEST(BackupE2E, SaveUnderWritesRestoreIntoNewClusterRefuseDamagedFiles) {
  testing::TempDir dir("synod-backup-e2e-");
  const std::string file = dir.Sub("backup.snap");
  const std::string tool_log = dir.Sub("tool.log");
  uint64_t revision = 0;
  std::string digest_hex;
  std::map<std::string, uint64_t> acked;
  {
    TestCluster::Options options;
    options.size = 3;
    // Small, so the source's Raft log is compacted while the writer runs.
    options.snapshot_threshold = 200;
    TestCluster old_cluster(options);
    ASSERT_TRUE(old_cluster.StartAll().ok()) << Logs(old_cluster);
    ASSERT_NE(old_cluster.WaitForLeader(absl::Seconds(10)), 0) << Logs(old_cluster);
    ASSERT_EQ(CreateNode(old_cluster.tree(1), "/backup", ""), v1::OK);
    // A live session with an ephemeral node: restored as it is, then
    // expired by the new cluster (no client heartbeats it there).
    v1::OpenSessionResponse session = OpenSession(old_cluster.channel(1), kSessionTimeoutMs);
    ASSERT_EQ(session.header().code(), v1::OK) << session.DebugString();
    ASSERT_EQ(session.timeout_ms(), kSessionTimeoutMs);
    Heartbeater heartbeats(old_cluster.channel(1), session.session_id(), session.secret(),
                           absl::Seconds(1));
    {
      v1::CreateRequest create;
      create.mutable_op()->set_path("/backup-ephemeral");
      create.mutable_op()->set_mode(v1::EPHEMERAL);
      create.mutable_write()->set_session_id(session.session_id());
      create.mutable_write()->set_sequence(1);
      create.mutable_write()->set_session_secret(session.secret());
      v1::CreateResponse created;
      grpc::Status s = old_cluster.tree(1)->Create(Ctx().get(), create, &created);
      ASSERT_EQ(CodeOf(s, created.header()), v1::OK) << s.error_message();
    }

    Writer writer(&old_cluster, 5000);
    ASSERT_TRUE(WaitUntil([&] { return writer.acked() >= 150; }, absl::Seconds(30)))
        << Logs(old_cluster);
    // From a follower or the leader, whichever member 2 is, mid-stream.
    ToolRun save = RunTool(SYNODCTL_BIN,
                           {absl::StrCat("--endpoints=", old_cluster.client_addr(2)),
                            "--timeout=30s", "-o", "json", "snapshot", "save", file},
                           tool_log);
    const int acked_at_save = writer.acked();
    // A few more writes after the save: they must not be in the backup.
    WaitUntil([&] { return writer.acked() >= acked_at_save + 30; }, absl::Seconds(10));
    writer.Stop();
    ASSERT_EQ(save.status, "exit 0") << save.output << Logs(old_cluster);
    revision = JsonUint(save.output, "revision");
    digest_hex = JsonString(save.output, "digest");
    ASSERT_GT(revision, 0u) << save.output;
    ASSERT_EQ(digest_hex.size(), 16u) << save.output;
    EXPECT_GE(JsonUint(save.output, "nodes"), 150u) << save.output;
    EXPECT_EQ(JsonUint(save.output, "bytes"), std::filesystem::file_size(file)) << save.output;
    EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
    acked = writer.acked_writes();
    heartbeats.Stop();
  }  // the source cluster stops here: the restore does not need it

  // Offline check of the saved file.
  ToolRun status = RunTool(SYNODCTL_BIN, {"-o", "json", "snapshot", "status", file}, tool_log);
  ASSERT_EQ(status.status, "exit 0") << status.output;
  EXPECT_EQ(JsonUint(status.output, "revision"), revision);
  EXPECT_EQ(JsonString(status.output, "digest"), digest_hex);

  // Damaged copies: refused by snapshot status (exit 13) and by
  // synod --restore (non-zero exit, no data dir created).
  const std::string good = ReadAll(file);
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x20;
  const std::vector<std::pair<std::string, std::string>> damaged = {
      {"flipped", flipped}, {"truncated", good.substr(0, good.size() * 2 / 3)}};
  for (const auto& [name, bytes] : damaged) {
    const std::string bad = dir.Sub(absl::StrCat(name, ".snap"));
    WriteAll(bad, bytes);
    ToolRun check = RunTool(SYNODCTL_BIN, {"snapshot", "status", bad}, tool_log);
    EXPECT_EQ(check.status, "exit 13") << name << ": " << check.output;
    EXPECT_NE(check.output.find("DATA_LOSS"), std::string::npos) << name << ": " << check.output;
    const std::string data_dir = dir.Sub(absl::StrCat("restore-", name));
    ToolRun restore =
        RunTool(SYNOD_BINARY_FOR_TEST,
                {"--id=1", absl::StrCat("--data_dir=", data_dir), absl::StrCat("--restore=", bad),
                 "--initial_cluster=1=127.0.0.1:1/127.0.0.1:2"},
                tool_log, absl::Seconds(30));
    EXPECT_EQ(restore.status, "exit 1") << name << ": " << restore.output;
    EXPECT_NE(restore.output.find("refused"), std::string::npos) << name << ": " << restore.output;
    EXPECT_FALSE(std::filesystem::exists(data_dir)) << name;
  }

  // A new cluster from the file.
  TestCluster::Options options;
  options.size = 3;
  options.extra_flags = {absl::StrCat("--restore=", file)};
  TestCluster restored(options);
  ASSERT_TRUE(restored.StartAll().ok()) << Logs(restored);
  ASSERT_NE(restored.WaitForLeader(absl::Seconds(10)), 0) << Logs(restored);
  // Every member at (or past) the backup's revision, with its digest: the
  // new cluster writes nothing to the tree until a client does.
  for (int id = 1; id <= 3; ++id) {
    absl::StatusOr<v1::StatusResponse> st;
    ASSERT_TRUE(WaitUntil(
        [&] {
          st = restored.Status(id);
          return st.ok() && st->applied_index() > revision;  // the new leader's no-op
        },
        absl::Seconds(10)))
        << Logs(restored);
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(st->digest()));
    EXPECT_EQ(hex, digest_hex) << "member " << id;
    EXPECT_EQ(st->snapshot_index(), revision) << "member " << id;
  }
  // The old session's ephemeral came back with the tree; nobody heartbeats
  // it here, so the new leader expires it after its timeout.
  {
    std::string data;
    EXPECT_EQ(GetNode(restored.tree(1), "/backup-ephemeral", &data), v1::OK);
    EXPECT_TRUE(WaitUntil(
        [&] { return GetNode(restored.tree(1), "/backup-ephemeral", &data) == v1::NO_NODE; },
        absl::Milliseconds(kSessionTimeoutMs) + absl::Seconds(20), absl::Milliseconds(200)))
        << Logs(restored);
  }
  // Exactly the writes up to the backup's revision are there.
  int present = 0;
  int absent = 0;
  for (const auto& [path, rev] : acked) {
    std::string data;
    const v1::ErrorCode code = GetNode(restored.tree(1 + present % 3), path, &data);
    if (rev <= revision) {
      EXPECT_EQ(code, v1::OK) << path << " written at " << rev << ", backup at " << revision;
      ++present;
    } else {
      EXPECT_EQ(code, v1::NO_NODE) << path << " written at " << rev << ", backup at " << revision;
      ++absent;
    }
  }
  EXPECT_GE(present, 150);
  EXPECT_GT(absent, 0) << "no write acknowledged after the backup's revision";

  // The new cluster takes writes past the backup's revision.
  uint64_t new_revision = 0;
  ASSERT_EQ(CreateNode(restored.tree(2), "/after-restore", "x", absl::Seconds(5), &new_revision),
            v1::OK);
  EXPECT_GT(new_revision, revision);

  // A restored member restarted with the same --restore flag starts as it is.
  EXPECT_EQ(restored.Stop(3), "exit 0");
  ASSERT_TRUE(restored.Start(3).ok()) << restored.LogTail(3);
  ASSERT_TRUE(restored.WaitForApplied(new_revision, absl::Seconds(10))) << Logs(restored);
  std::string data;
  EXPECT_EQ(GetNode(restored.tree(3), "/after-restore", &data, v1::SERIALIZABLE), v1::OK);
}

}  // namespace
}  // namespace synod::e2e
