// Cluster settings end to end: three real replicas started with different
// --max_data_bytes, --max_multi_ops and --history_per_node. The log records
// one set of settings (the first leader's flags); the same commands sent
// through each replica get the same results, every replica reaches the
// same digest, the replicas whose flags differ say so in their log, and a
// change through synodctl (and through the RPC) applies everywhere.
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using synod::testing::WaitUntil;

struct Flags {
  int64_t max_data_bytes;
  int32_t max_multi_ops;
  int32_t history_per_node;
};
const Flags kFlags[] = {{100, 2, 2}, {200, 3, 3}, {300, 4, 4}};

TestCluster::Options DifferentFlags() {
  TestCluster::Options o;
  o.size = 3;
  for (int id = 1; id <= 3; ++id) {
    const Flags& f = kFlags[id - 1];
    o.member_flags[id] = {absl::StrCat("--max_data_bytes=", f.max_data_bytes),
                          absl::StrCat("--max_multi_ops=", f.max_multi_ops),
                          absl::StrCat("--history_per_node=", f.history_per_node)};
  }
  return o;
}

// The settings member `id` applied (SERIALIZABLE: its own state).
absl::StatusOr<v1::SettingsGetResponse> SettingsOf(TestCluster& c, int id) {
  v1::SettingsGetRequest req;
  req.mutable_read()->set_consistency(v1::SERIALIZABLE);
  v1::SettingsGetResponse resp;
  grpc::Status s = c.cluster(id)->SettingsGet(Ctx().get(), req, &resp);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return resp;
}

// Waits until every member applied the highest commit index any reports.
bool AllCaughtUp(TestCluster& c) {
  uint64_t commit = 0;
  for (int id = 1; id <= c.size(); ++id) {
    absl::StatusOr<v1::StatusResponse> st = c.Status(id);
    if (!st.ok()) return false;
    commit = std::max(commit, st->commit_index());
  }
  return c.WaitForApplied(commit, absl::Seconds(20));
}

// The tree digests the members report (Cluster.Status). The leader's
// digest checks keep the applied index moving but change no node, so once
// every member applied the last client write they report one digest.
std::set<uint64_t> Digests(TestCluster& c) {
  std::set<uint64_t> out;
  for (int id = 1; id <= c.size(); ++id) {
    absl::StatusOr<v1::StatusResponse> st = c.Status(id);
    EXPECT_TRUE(st.ok()) << st.status();
    if (st.ok()) out.insert(st->digest());
  }
  return out;
}

v1::ErrorCode Multi(v1::Tree::Stub* tree, int ops) {
  v1::MultiRequest req;
  for (int i = 0; i < ops; ++i) req.add_ops()->mutable_check()->set_path("/");
  v1::MultiResponse resp;
  grpc::Status s = tree->Multi(Ctx().get(), req, &resp);
  return CodeOf(s, resp.header());
}

int Versions(v1::Tree::Stub* tree, const std::string& path) {
  v1::HistoryRequest req;
  req.set_path(path);
  v1::HistoryResponse resp;
  grpc::Status s = tree->History(Ctx().get(), req, &resp);
  if (CodeOf(s, resp.header()) != v1::OK) return -1;
  return resp.versions_size();
}

// The same commands through member `id`, under /m<id>: what each returned.
std::vector<std::string> SendThrough(TestCluster& c, int id) {
  v1::Tree::Stub* tree = c.tree(id);
  const std::string base = absl::StrCat("/m", id);
  std::vector<std::string> out;
  auto code = [&out](const std::string& what, v1::ErrorCode code) {
    out.push_back(absl::StrCat(what, "=", v1::ErrorCode_Name(code)));
  };
  code("base", CreateNode(tree, base, ""));
  // Sizes around each replica's flag: only the log's limit decides.
  for (int64_t size : {int64_t{100}, int64_t{101}, int64_t{150}, int64_t{200}, int64_t{201},
                       int64_t{250}, int64_t{300}, int64_t{301}}) {
    code(absl::StrCat("create", size),
         CreateNode(tree, absl::StrCat(base, "/d", size), std::string(size, 'x')));
  }
  for (int ops = 1; ops <= 5; ++ops) code(absl::StrCat("multi", ops), Multi(tree, ops));
  code("node", CreateNode(tree, base + "/h", "v0"));
  for (int i = 1; i <= 6; ++i) code(absl::StrCat("set", i), SetNode(tree, base + "/h", "v"));
  out.push_back(absl::StrCat("versions=", Versions(tree, base + "/h")));
  return out;
}

std::string RunShell(const std::string& command, const std::string& out_path) {
  const int status = std::system((command + " >" + out_path + " 2>&1").c_str());
  std::ifstream in(out_path);
  std::stringstream s;
  s << in.rdbuf();
  return absl::StrCat("exit=", status, "\n", s.str());
}

TEST(SettingsE2ETest, ReplicasWithDifferentFlagsDecideAlike) {
  TestCluster c(DifferentFlags());
  ASSERT_TRUE(c.StartAll().ok());
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20)), 0);

  // The first leader records its flags; every replica applies them.
  v1::ClusterSettings recorded;
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<v1::SettingsGetResponse> r = SettingsOf(c, 1);
        if (!r.ok() || !r->recorded()) return false;
        recorded = r->settings();
        return true;
      },
      absl::Seconds(20)));
  ASSERT_TRUE(AllCaughtUp(c));
  bool from_some_member = false;
  for (const Flags& f : kFlags) {
    from_some_member |= recorded.max_data_bytes() == f.max_data_bytes &&
                        recorded.max_multi_ops() == f.max_multi_ops &&
                        recorded.history_per_node() == f.history_per_node;
  }
  EXPECT_TRUE(from_some_member) << recorded.ShortDebugString();
  for (int id = 1; id <= 3; ++id) {
    absl::StatusOr<v1::SettingsGetResponse> r = SettingsOf(c, id);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->recorded());
    EXPECT_EQ(r->settings().SerializeAsString(), recorded.SerializeAsString()) << id;
  }

  // The same commands through each replica: the same results.
  std::vector<std::string> first = SendThrough(c, 1);
  for (int id = 2; id <= 3; ++id) EXPECT_EQ(SendThrough(c, id), first) << "through member " << id;
  EXPECT_NE(std::find(first.begin(), first.end(),
                      absl::StrCat("create", recorded.max_data_bytes() + 1, "=TOO_LARGE")),
            first.end());
  EXPECT_NE(std::find(first.begin(), first.end(),
                      absl::StrCat("versions=", recorded.history_per_node())),
            first.end());
  ASSERT_TRUE(AllCaughtUp(c));
  EXPECT_EQ(Digests(c).size(), 1u);

  // Two of the three replicas' flags differ from the log: each says so.
  auto told = [&c] {
    int n = 0;
    for (int id = 1; id <= 3; ++id) {
      n += absl::StrContains(c.LogTail(id, 100000), "flags differ from the settings the log");
    }
    return n;
  };
  EXPECT_TRUE(WaitUntil([&] { return told() == 2; }, absl::Seconds(10))) << told();

  // A change through synodctl, sent to one replica, applies on all.
  synod::testing::TempDir dir("synod-settings-e2e-");
  const std::string ctl =
      absl::StrCat(SYNODCTL_BIN, " --endpoints=", c.client_addr(3), " -o json ");
  std::string set =
      RunShell(ctl + "settings set --max_data_bytes=250 --max_multi_ops=5", dir.Sub("set"));
  EXPECT_TRUE(absl::StartsWith(set, "exit=0\n")) << set;
  EXPECT_TRUE(absl::StrContains(set, "\"max_data_bytes\":250")) << set;
  std::string refused = RunShell(ctl + "settings set --history_per_node=7", dir.Sub("refused"));
  EXPECT_FALSE(absl::StartsWith(refused, "exit=0\n")) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "INVALID_ARGUMENT")) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "history_per_node is fixed")) << refused;
  ASSERT_TRUE(AllCaughtUp(c));
  for (int id = 1; id <= 3; ++id) {
    absl::StatusOr<v1::SettingsGetResponse> r = SettingsOf(c, id);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->settings().max_data_bytes(), 250) << id;
    EXPECT_EQ(r->settings().max_multi_ops(), 5) << id;
    EXPECT_EQ(r->settings().history_per_node(), recorded.history_per_node()) << id;
  }
  std::string get = RunShell(ctl + "settings get", dir.Sub("get"));
  EXPECT_TRUE(absl::StrContains(get, "\"max_data_bytes\":250")) << get;
  EXPECT_TRUE(absl::StrContains(get, "\"recorded\":true")) << get;

  // Through the RPC: a bad value is refused with a typed error.
  v1::SettingsSetRequest bad;
  bad.mutable_settings()->set_min_session_timeout_ms(100000);  // above the max
  v1::SettingsSetResponse bad_resp;
  grpc::Status s = c.cluster(2)->SettingsSet(Ctx().get(), bad, &bad_resp);
  EXPECT_EQ(CodeOf(s, bad_resp.header()), v1::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Under the new limits, the commands again decide alike everywhere.
  std::vector<std::string> again;
  for (int id = 1; id <= 3; ++id) {
    v1::Tree::Stub* tree = c.tree(id);
    const std::string base = absl::StrCat("/m", id);
    again.push_back(
        absl::StrCat(v1::ErrorCode_Name(CreateNode(tree, base + "/e250", std::string(250, 'x'))),
                     v1::ErrorCode_Name(CreateNode(tree, base + "/e251", std::string(251, 'x'))),
                     v1::ErrorCode_Name(Multi(tree, 5)), v1::ErrorCode_Name(Multi(tree, 6))));
  }
  EXPECT_EQ(again, std::vector<std::string>(3, "OKTOO_LARGEOKTOO_MANY_OPS"));

  // A replica restarted (with its own flags, which differ) keeps the log's
  // settings.
  EXPECT_EQ(c.Stop(1), "exit 0");
  ASSERT_TRUE(c.Start(1).ok());
  ASSERT_TRUE(AllCaughtUp(c));
  absl::StatusOr<v1::SettingsGetResponse> after = SettingsOf(c, 1);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->settings().max_data_bytes(), 250);
  EXPECT_EQ(CreateNode(c.tree(1), "/m1/after", std::string(251, 'x')), v1::TOO_LARGE);
  ASSERT_TRUE(AllCaughtUp(c));
  EXPECT_EQ(Digests(c).size(), 1u);
}

}  // namespace
}  // namespace synod::e2e
