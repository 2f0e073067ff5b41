// synodctl end to end: the real binary against a real 3-replica cluster
// (one cluster for the whole suite). Each invocation runs under /bin/sh so
// that stdin, stdout and stderr are separate files: data and results on
// stdout, "Error: CODE: detail" on stderr, the exit status per error class.
//
// Covered: create (--ephemeral, --sequential, --container, --ttl, DATA "-"),
// get (--version, --revision, --consistency, --min_revision, -o json in its
// exact shape, binary data raw and base64), stat, set --version, delete
// (--version, --recursive), ls (--stat, --limit, every page), history,
// watch (--recursive, --from_revision), multi from stdin, elect, lock --
// COMMAND, status (-o json), member list|add|promote|remove, leader
// transfer, and the exit statuses.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod {
namespace {

using synod::testing::WaitUntil;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string ShellQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

std::string StatJson(const Stat& s) {
  return absl::StrCat("{\"czxid\":", s.czxid, ",\"mzxid\":", s.mzxid, ",\"pzxid\":", s.pzxid,
                      ",\"ctime\":", s.ctime, ",\"mtime\":", s.mtime, ",\"version\":", s.version,
                      ",\"cversion\":", s.cversion, ",\"aversion\":", s.aversion,
                      ",\"ephemeral_owner\":", s.ephemeral_owner,
                      ",\"data_length\":", s.data_length, ",\"num_children\":", s.num_children,
                      "}");
}

size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// The first line of `text` that contains `needle` ("" if none).
std::string LineWith(const std::string& text, const std::string& needle) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, needle)) return std::string(line);
  }
  return "";
}

size_t Count(absl::string_view haystack, absl::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != absl::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

struct CtlRun {
  int code = -1;  // exit status; -1 if it did not exit in time
  std::string out;
  std::string err;
};

class SynodctlE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    e2e::TestCluster::Options o;
    // Small pages, so that "ls" must follow several of them.
    o.extra_flags = {"--min_session_timeout_ms=1000", "--max_page_size=5"};
    cluster_ = new e2e::TestCluster(o);
    dir_ = new testing::TempDir("synod-synodctl-e2e-");
  }
  static void TearDownTestSuite() {
    client_.reset();  // closes its session while the cluster still runs
    delete cluster_;
    delete dir_;
    cluster_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(cluster_->StartAll().ok()) << Logs();
    ASSERT_NE(cluster_->WaitForLeader(absl::Seconds(20)), 0) << Logs();
    if (client_ == nullptr) {
      Client::Options o;
      o.endpoints = Endpoints();
      o.request_timeout = absl::Seconds(20);
      absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(o);
      ASSERT_TRUE(c.ok()) << c.status();
      client_ = std::move(*c);
    }
  }

  static std::vector<std::string> Endpoints() {
    std::vector<std::string> out;
    for (int id = 1; id <= cluster_->size(); ++id) out.push_back(cluster_->client_addr(id));
    return out;
  }

  static std::string Logs() {
    std::string out;
    for (int id = 1; id <= cluster_->size(); ++id) out += cluster_->LogTail(id, 2000) + "\n";
    return out;
  }

  // Starts synodctl with `args` (after the endpoint and session flags);
  // stdin from `in`, stdout and stderr to files named in *out / *err.
  testing::Subprocess Start(const std::vector<std::string>& args, const std::string& in,
                            std::string* out, std::string* err, const std::string& endpoints = "") {
    const int n = runs_++;
    const std::string in_path = dir_->Sub(absl::StrCat("in", n));
    *out = dir_->Sub(absl::StrCat("out", n));
    *err = dir_->Sub(absl::StrCat("err", n));
    WriteFile(in_path, in);
    std::string cmd =
        absl::StrCat("exec ", ShellQuote(SYNODCTL_BIN), " ",
                     ShellQuote("--endpoints=" +
                                (endpoints.empty() ? absl::StrJoin(Endpoints(), ",") : endpoints)),
                     " --session_timeout=1s");
    for (const std::string& a : args) absl::StrAppend(&cmd, " ", ShellQuote(a));
    absl::StrAppend(&cmd, " <", ShellQuote(in_path), " >", ShellQuote(*out), " 2>",
                    ShellQuote(*err));
    testing::Subprocess::Options o;
    o.binary = "/bin/sh";
    o.args = {"-c", cmd};
    o.log_path = dir_->Sub("sh.log");
    o.stop_grace = absl::Seconds(5);
    absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(o);
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(p).value();
  }

  // Runs synodctl to completion.
  CtlRun Ctl(const std::vector<std::string>& args, const std::string& in = "",
             const std::string& endpoints = "") {
    std::string out, err;
    testing::Subprocess p = Start(args, in, &out, &err, endpoints);
    CtlRun r;
    absl::StatusOr<int> status = p.Wait(absl::Seconds(60));
    if (status.ok() && WIFEXITED(*status)) r.code = WEXITSTATUS(*status);
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  static e2e::TestCluster* cluster_;
  static testing::TempDir* dir_;
  static std::unique_ptr<Client> client_;
  static int runs_;
};

e2e::TestCluster* SynodctlE2ETest::cluster_ = nullptr;
testing::TempDir* SynodctlE2ETest::dir_ = nullptr;
std::unique_ptr<Client> SynodctlE2ETest::client_;
int SynodctlE2ETest::runs_ = 0;

#define EXPECT_RUN(run, want_code) \
  EXPECT_EQ((run).code, (want_code)) << "stdout: " << (run).out << "\nstderr: " << (run).err

TEST_F(SynodctlE2ETest, CreateGetStatSetDelete) {
  CtlRun r = Ctl({"create", "/cfg", "color=blue"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "/cfg\n");
  EXPECT_THAT(r.err, IsEmpty());

  // get -o json: exactly {"path","data","stat":{...},"revision"}.
  absl::StatusOr<GetResult> now = client_->Get("/cfg");
  ASSERT_TRUE(now.ok()) << now.status();
  r = Ctl({"get", "-o", "json", "/cfg"});
  EXPECT_RUN(r, 0);
  const std::string prefix =
      absl::StrCat("{\"path\":\"/cfg\",\"data\":\"", absl::Base64Escape("color=blue"),
                   "\",\"stat\":", StatJson(now->stat), ",\"revision\":");
  ASSERT_THAT(r.out, StartsWith(prefix));
  uint64_t revision = 0;
  EXPECT_TRUE(absl::SimpleAtoi(absl::StripSuffix(r.out.substr(prefix.size()), "}\n"), &revision))
      << r.out;
  EXPECT_GE(revision, now->stat.mzxid);
  const uint64_t created_at = now->stat.czxid;

  // Text get of a pipe: exactly the bytes.
  r = Ctl({"get", "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "color=blue");

  // set --version: right version, then a stale one (BAD_VERSION, exit 5).
  r = Ctl({"set", "--version=0", "/cfg", "color=green"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "OK version=1\n");
  r = Ctl({"set", "--version=0", "/cfg", "color=red"});
  EXPECT_RUN(r, 5);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, StartsWith("Error: BAD_VERSION: "));
  EXPECT_EQ(Lines(r.err), 1u) << r.err;

  // get --version / --revision read the past; --consistency and
  // --min_revision are accepted and served.
  r = Ctl({"get", "--version=0", "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "color=blue");
  r = Ctl({"get", absl::StrCat("--revision=", created_at), "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "color=blue");
  ASSERT_TRUE(client_->Create("/cfg-bump", "").ok());
  r = Ctl({"get", "--consistency=serializable",
           absl::StrCat("--min_revision=", client_->last_revision()), "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "color=green");
  r = Ctl({"get", "--consistency=linearizable", "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "color=green");
  r = Ctl({"get", "--consistency=sometimes", "/cfg"});
  EXPECT_RUN(r, 2);
  EXPECT_THAT(r.err, StartsWith("Error: USAGE: "));

  // stat, text and JSON.
  r = Ctl({"stat", "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out, HasSubstr("\nversion = 1\n"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("czxid = ", created_at, "\n")));
  EXPECT_THAT(r.out, HasSubstr("data_length = 11\n"));
  absl::StatusOr<GetResult> after = client_->Get("/cfg");
  ASSERT_TRUE(after.ok());
  r = Ctl({"-o", "json", "stat", "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out,
              StartsWith(absl::StrCat("{\"path\":\"/cfg\",\"stat\":", StatJson(after->stat))));

  // history: newest first, both versions.
  r = Ctl({"history", "/cfg"});
  EXPECT_RUN(r, 0);
  ASSERT_EQ(Lines(r.out), 3u) << r.out;  // header + 2 versions
  EXPECT_THAT(r.out, HasSubstr("\"color=green\""));
  EXPECT_LT(r.out.find("color=green"), r.out.find("color=blue")) << r.out;

  // delete --version, then --recursive.
  r = Ctl({"delete", "--version=0", "/cfg"});
  EXPECT_RUN(r, 5);
  EXPECT_THAT(r.err, StartsWith("Error: BAD_VERSION: "));
  r = Ctl({"delete", "--version=1", "/cfg"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "OK deleted=1\n");
  ASSERT_TRUE(client_->Create("/tree", "").ok());
  ASSERT_TRUE(client_->Create("/tree/a", "").ok());
  ASSERT_TRUE(client_->Create("/tree/a/b", "").ok());
  ASSERT_TRUE(client_->Create("/tree/c", "").ok());
  r = Ctl({"delete", "/tree"});
  EXPECT_RUN(r, 6);
  EXPECT_THAT(r.err, StartsWith("Error: NOT_EMPTY: "));
  r = Ctl({"delete", "--recursive", "/tree"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "OK deleted=4\n");
  EXPECT_EQ(ErrorCodeOf(client_->Get("/tree").status()), ErrorCode::kNoNode);
}

TEST_F(SynodctlE2ETest, CreateModesAndData) {
  // --sequential: the 10-digit suffix from the parent's cversion.
  ASSERT_TRUE(client_->Create("/seq", "").ok());
  CtlRun r = Ctl({"create", "--sequential", "/seq/item-", "x"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "/seq/item-0000000000\n");
  r = Ctl({"create", "--sequential", "/seq/item-", "y"});
  EXPECT_EQ(r.out, "/seq/item-0000000001\n");

  // DATA "-": stdin, binary bytes; printed raw, base64 in JSON.
  const std::string binary("\x00\x01\xff\xfe\n\"\\end", 10);
  r = Ctl({"create", "/bin", "-"}, binary);
  EXPECT_RUN(r, 0);
  absl::StatusOr<GetResult> got = client_->Get("/bin");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, binary);
  r = Ctl({"get", "/bin"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, binary);
  r = Ctl({"-o", "json", "get", "/bin"});
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\"data\":\"", absl::Base64Escape(binary), "\"")));
  r = Ctl({"set", "/bin", "-"}, "from stdin");
  EXPECT_RUN(r, 0);
  EXPECT_EQ(client_->Get("/bin").value_or(GetResult{}).data, "from stdin");

  // --container: removed by the server with its last child.
  r = Ctl({"create", "--container", "/box"});
  EXPECT_RUN(r, 0);
  ASSERT_TRUE(client_->Create("/box/x", "").ok());
  ASSERT_TRUE(client_->Delete("/box/x").ok());
  EXPECT_TRUE(
      WaitUntil([&] { return ErrorCodeOf(client_->Get("/box").status()) == ErrorCode::kNoNode; },
                absl::Seconds(10)));

  // --ttl: removed by the server once the TTL passed with no change.
  r = Ctl({"create", "--ttl=1s", "/ttl", "short"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "/ttl\n");
  EXPECT_TRUE(client_->Get("/ttl").ok());
  EXPECT_TRUE(
      WaitUntil([&] { return ErrorCodeOf(client_->Get("/ttl").status()) == ErrorCode::kNoNode; },
                absl::Seconds(15)));
  r = Ctl({"create", "--ttl=1s", "--ephemeral", "/bad"});
  EXPECT_RUN(r, 2);

  // --ephemeral: held while synodctl runs, gone when it is stopped.
  std::string out, err;
  testing::Subprocess eph = Start({"create", "--ephemeral", "/eph", "me"}, "", &out, &err);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(out) == "/eph\n"; }, absl::Seconds(20)))
      << ReadFile(err);
  absl::StatusOr<ExistsResult> e = client_->Exists("/eph");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->exists);
  EXPECT_NE(e->stat.ephemeral_owner, 0u);
  // A child of an ephemeral: a bad request (exit 7).
  r = Ctl({"create", "/eph/child"});
  EXPECT_RUN(r, 7);
  EXPECT_THAT(r.err, StartsWith("Error: NO_CHILDREN_FOR_EPHEMERALS: "));
  eph.Signal(SIGTERM);
  absl::StatusOr<int> status = eph.Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ReadFile(err);
  absl::StatusOr<ExistsResult> gone = client_->Exists("/eph");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->exists);
}

TEST_F(SynodctlE2ETest, LsEveryPageAndLimit) {
  ASSERT_TRUE(client_->Create("/dir", "").ok());
  constexpr int kKids = 12;  // > 2 server pages of 5
  for (int i = 0; i < kKids; ++i) {
    ASSERT_TRUE(client_->Create(absl::StrCat("/dir/k", i < 10 ? "0" : "", i), "abc").ok());
  }
  CtlRun r = Ctl({"ls", "/dir"});
  EXPECT_RUN(r, 0);
  std::vector<std::string> names = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(names.size(), static_cast<size_t>(kKids)) << r.out;
  EXPECT_EQ(names.front(), "k00");
  EXPECT_EQ(names.back(), "k11");
  // A limited listing ends with the token to go on from; following the
  // tokens lists every child once.
  std::vector<std::string> paged;
  std::string token;
  for (int page = 0; page < kKids; ++page) {
    std::vector<std::string> args = {"ls", "--limit=5", "/dir"};
    if (!token.empty()) args.push_back("--page_token=" + token);
    r = Ctl(args);
    EXPECT_RUN(r, 0);
    token.clear();
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      if (absl::ConsumePrefix(&line, "next_page_token: ")) {
        token = std::string(line);
      } else {
        paged.emplace_back(line);
      }
    }
    if (token.empty()) break;
  }
  EXPECT_EQ(paged, names);
  r = Ctl({"ls", "--limit=3", "/dir"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out, StartsWith("k00\nk01\nk02\nnext_page_token: "));
  r = Ctl({"-o", "json", "ls", "--limit=3", "/dir"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out, StartsWith("{\"path\":\"/dir\",\"children\":[\"k00\",\"k01\",\"k02\"],"
                                "\"next_page_token\":"));
  r = Ctl({"ls", "--stat", "/dir"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(Lines(r.out), static_cast<size_t>(kKids));
  EXPECT_THAT(r.out, HasSubstr("k05\tversion=0\tchildren=0\tsize=3\tmzxid="));
  r = Ctl({"ls", "--limit=0", "/dir"});
  EXPECT_RUN(r, 2);
}

TEST_F(SynodctlE2ETest, MultiFromStdin) {
  ASSERT_TRUE(client_->Create("/m", "v0").ok());
  CtlRun r = Ctl({"multi"},
                 "# a comment\n"
                 "create /m/a 'hello world'\n"
                 "set --version=0 /m v1\n"
                 "check --version=1 /m\n"
                 "create --sequential /m/s-\n");
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "create /m/a\nset /m version=1\ncheck /m\ncreate /m/s-0000000001\n");
  EXPECT_EQ(client_->Get("/m/a").value_or(GetResult{}).data, "hello world");
  // One op fails: nothing applies; the failing op's code decides the exit.
  r = Ctl({"multi"}, "create /m/b\nset --version=0 /m stale\n");
  EXPECT_RUN(r, 5);
  EXPECT_THAT(r.err, StartsWith("Error: BAD_VERSION: "));
  EXPECT_EQ(ErrorCodeOf(client_->Get("/m/b").status()), ErrorCode::kNoNode);
  r = Ctl({"multi"}, "frobnicate /m\n");
  EXPECT_RUN(r, 2);
}

TEST_F(SynodctlE2ETest, WatchFromARevisionUntilInterrupted) {
  ASSERT_TRUE(client_->Create("/w", "").ok());
  const uint64_t from = client_->last_revision();
  // Three events before the watch starts (replayed from history), then
  // two after.
  ASSERT_TRUE(client_->Create("/w/a", "").ok());
  ASSERT_TRUE(client_->Set("/w/a", "x").ok());
  ASSERT_TRUE(client_->Create("/w/a/deep", "").ok());
  std::string out, err;
  testing::Subprocess watch =
      Start({"watch", "--recursive", absl::StrCat("--from_revision=", from), "/w"}, "", &out, &err);
  ASSERT_TRUE(WaitUntil([&] { return Lines(ReadFile(out)) >= 3; }, absl::Seconds(20)))
      << ReadFile(out) << ReadFile(err);
  ASSERT_TRUE(client_->Delete("/w/a/deep").ok());
  const uint64_t last = client_->last_revision();
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::StrContains(ReadFile(out), absl::StrCat(last, " NODE_DELETED")); },
      absl::Seconds(20)))
      << ReadFile(out) << ReadFile(err);
  // The bound: it prints until interrupted, then ends cleanly.
  watch.Signal(SIGINT);
  absl::StatusOr<int> ended = watch.Wait(absl::Seconds(10));
  ASSERT_TRUE(ended.ok()) << "watch did not end on SIGINT";
  EXPECT_TRUE(WIFEXITED(*ended) && WEXITSTATUS(*ended) == 0) << ReadFile(err);
  std::vector<std::string> lines = absl::StrSplit(ReadFile(out), '\n', absl::SkipEmpty());
  std::vector<std::string> node_events;
  uint64_t prev = from;
  for (const std::string& line : lines) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    ASSERT_EQ(f.size(), 3u) << line;
    uint64_t rev = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[0], &rev)) << line;
    EXPECT_GE(rev, prev) << "out of order: " << line;
    EXPECT_GT(rev, from) << line;
    prev = rev;
    // Child-list events of the parents may also come; the node events
    // must be exactly these, once each.
    if (f[1] != "NODE_CHILDREN_CHANGED") node_events.push_back(f[1] + " " + f[2]);
  }
  EXPECT_THAT(node_events,
              ::testing::ElementsAre("NODE_CREATED /w/a", "NODE_DATA_CHANGED /w/a",
                                     "NODE_CREATED /w/a/deep", "NODE_DELETED /w/a/deep"));
}

TEST_F(SynodctlE2ETest, ElectAndLockWithACommand) {
  std::string out_a, err_a, out_b, err_b;
  testing::Subprocess alpha = Start({"elect", "svc", "alpha"}, "", &out_a, &err_a);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(out_a) == "alpha\n"; }, absl::Seconds(20)))
      << ReadFile(err_a);
  testing::Subprocess beta = Start({"elect", "svc", "beta"}, "", &out_b, &err_b);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(out_b) == "alpha\n"; }, absl::Seconds(20)))
      << ReadFile(err_b);
  // SIGTERM: alpha resigns at once; both print the new leader.
  alpha.Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(out_b) == "alpha\nbeta\n"; }, absl::Seconds(10)))
      << ReadFile(out_b) << ReadFile(err_b);
  absl::StatusOr<int> a_status = alpha.Wait(absl::Seconds(10));
  ASSERT_TRUE(a_status.ok());
  EXPECT_TRUE(WIFEXITED(*a_status) && WEXITSTATUS(*a_status) == 0) << ReadFile(err_a);
  beta.Signal(SIGTERM);
  ASSERT_TRUE(beta.Wait(absl::Seconds(10)).ok());

  // lock NAME -- COMMAND: the token printed and passed to COMMAND, whose
  // exit status synodctl returns; the lock is free afterwards.
  CtlRun r = Ctl({"lock", "deploy", "--", "sh", "-c", "echo token=$SYNOD_LOCK_TOKEN; exit 7"});
  EXPECT_RUN(r, 7);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << r.out;
  uint64_t token = 0;
  EXPECT_TRUE(absl::SimpleAtoi(lines[0], &token) && token > 0) << r.out;
  EXPECT_EQ(lines[1], absl::StrCat("token=", token));
  r = Ctl({"lock", "deploy", "--", "true"});
  EXPECT_RUN(r, 0);
  uint64_t second = 0;
  EXPECT_TRUE(absl::SimpleAtoi(absl::StripSuffix(r.out, "\n"), &second)) << r.out;
  EXPECT_GT(second, token);
  EXPECT_EQ(client_->GetChildren("/synod/locks/deploy").value_or(ChildrenResult{}).children.size(),
            0u);
}

TEST_F(SynodctlE2ETest, StatusMembersAndErrorExits) {
  const int leader = cluster_->WaitForLeader(absl::Seconds(10));
  CtlRun r = Ctl({"status"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(Lines(r.out), 5u) << r.out;  // header, 3 members, summary
  EXPECT_EQ(Count(r.out, " leader "), 1u) << r.out;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("leader: ", leader, "; digests: agree")));
  r = Ctl({"-o", "json", "status"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out, StartsWith("{\"members\":[{\"id\":"));
  EXPECT_EQ(Count(r.out, "\"reachable\":true"), 3u) << r.out;
  EXPECT_EQ(Count(r.out, "\"role\":\"leader\""), 1u) << r.out;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\"leader_id\":", leader, ",\"digests_agree\":true}")));

  r = Ctl({"member", "list"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(Lines(r.out), 4u) << r.out;
  for (int id = 1; id <= cluster_->size(); ++id) {
    EXPECT_THAT(r.out, HasSubstr(cluster_->client_addr(id)));
  }
  r = Ctl({"-o", "json", "member", "list"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(Count(r.out, "\"learner\":false"), 3u) << r.out;

  // One exit status per error class, "Error: CODE: detail" on stderr, and
  // nothing on stdout.
  ASSERT_TRUE(client_->Create("/e", "").ok());
  ASSERT_TRUE(client_->Create("/e/kid", "").ok());
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"get", "/e/missing"}, 3, "NO_NODE"},
      {{"create", "/e"}, 4, "NODE_EXISTS"},
      {{"set", "--version=9", "/e", "x"}, 5, "BAD_VERSION"},
      {{"delete", "/e"}, 6, "NOT_EMPTY"},
      {{"get", "no/slash"}, 7, "INVALID_PATH"},
      {{"member", "remove", "99"}, 12, "MEMBER_NOT_FOUND"},
      {{"get", "--version=x", "/e"}, 2, "USAGE"},
      {{"frobnicate"}, 2, "USAGE"},
  };
  for (const Case& c : cases) {
    r = Ctl(c.args);
    EXPECT_RUN(r, c.code) << absl::StrJoin(c.args, " ");
    EXPECT_THAT(r.err, StartsWith(absl::StrCat("Error: ", c.error, ": ")))
        << absl::StrJoin(c.args, " ");
    EXPECT_THAT(r.out, IsEmpty()) << absl::StrJoin(c.args, " ");
  }
  // The server sends the code alone; the client names the path.
  r = Ctl({"get", "/e/missing"});
  EXPECT_EQ(r.err, "Error: NO_NODE: /e/missing\n");
  // A version older than the kept history (10 per node by default).
  ASSERT_TRUE(client_->Create("/hist", "v0").ok());
  for (int v = 1; v <= 11; ++v) ASSERT_TRUE(client_->Set("/hist", absl::StrCat("v", v)).ok());
  r = Ctl({"get", "--version=0", "/hist"});
  EXPECT_RUN(r, 11);
  EXPECT_EQ(r.err,
            "Error: COMPACTED: version 0 of /hist is no longer kept: each node keeps its last "
            "--history_per_node versions, the oldest kept is 2\n");
  r = Ctl({"get", "--version=11", "/hist"});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "v11");
  // No replica at the endpoint: UNAVAILABLE (9) once the deadline passes.
  r = Ctl({"--timeout=1s", "get", "/e"}, "", "127.0.0.1:1");
  EXPECT_RUN(r, 9);
  EXPECT_THAT(r.err, StartsWith("Error: UNAVAILABLE: "));
  r = Ctl({"--help"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out, HasSubstr("   5  BAD_VERSION\n"));
}

// What a new user meets first: a listed replica that is down, bad input,
// and the edges of versioned reads, each with its own clear error.
TEST_F(SynodctlE2ETest, DeadEndpointsAndBadInputGetClearErrors) {
  // Three listed endpoints refuse connections, one replica is up: a
  // membership change (not exactly-once) that could not connect is sent
  // to the next endpoint, never reported UNAVAILABLE. The client starts on
  // a random endpoint, so most runs start on a dead one.
  const std::string dead_first =
      absl::StrCat("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,", cluster_->client_addr(1));
  for (int i = 0; i < 6; ++i) {
    CtlRun r = Ctl({"member", "remove", "99"}, "", dead_first);
    EXPECT_RUN(r, 12);
    EXPECT_THAT(r.err, StartsWith("Error: MEMBER_NOT_FOUND: "));
    r = Ctl({"member", "promote", "99"}, "", dead_first);
    EXPECT_RUN(r, 12);
    r = Ctl({"leader", "transfer", "99"}, "", dead_first);
    EXPECT_RUN(r, 12);
  }

  // Nothing reached a replica: the write did not happen (UNAVAILABLE),
  // and status has no replica's digest to judge.
  CtlRun r = Ctl({"--timeout=1s", "create", "/never"}, "", "127.0.0.1:1");
  EXPECT_RUN(r, 9);
  EXPECT_THAT(r.err,
              AllOf(StartsWith("Error: UNAVAILABLE: "), HasSubstr("the request was not sent")));
  r = Ctl({"--timeout=1s", "status"}, "", "127.0.0.1:1");
  EXPECT_RUN(r, 9);
  EXPECT_THAT(r.out, HasSubstr("digests: unknown (no replica answered)"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("agree")));

  // An empty --endpoints= is a mistake, not the defaults.
  r = Ctl({"--endpoints=", "get", "/"});
  EXPECT_RUN(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--endpoints is empty"));

  // A path that is not UTF-8 is refused at once, before it is sent.
  r = Ctl({"get", "/caf\xe9"});
  EXPECT_RUN(r, 7);
  EXPECT_THAT(r.err, AllOf(StartsWith("Error: INVALID_PATH: "), HasSubstr("UTF-8")));

  // Data far above the replica's limits: TOO_LARGE (7) with the reason.
  r = Ctl({"create", "/huge", "-"}, std::string(16 << 20, 'x'));
  EXPECT_RUN(r, 7);
  EXPECT_THAT(r.err, AllOf(StartsWith("Error: TOO_LARGE: "), HasSubstr("--max_request_mb")));
  r = Ctl({"create", "/large", "-"}, std::string(2 << 20, 'x'));
  EXPECT_RUN(r, 7);
  EXPECT_THAT(r.err, StartsWith("Error: TOO_LARGE: "));

  // Versioned reads: each failure says which it is.
  ASSERT_TRUE(client_->Create("/versions", "v0").ok());
  ASSERT_TRUE(client_->Set("/versions", "v1").ok());
  r = Ctl({"get", "--version=99", "/versions"});
  EXPECT_RUN(r, 7);
  EXPECT_EQ(r.err,
            "Error: INVALID_ARGUMENT: version 99 of /versions does not exist: its version is 1\n");
  r = Ctl({"get", "--version=-1", "/versions"});
  EXPECT_RUN(r, 7);
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: version -1 is negative (versions count from 0)\n");

  // A command's --help is its own.
  r = Ctl({"ls", "--help"});
  EXPECT_RUN(r, 0);
  EXPECT_THAT(r.out, AllOf(StartsWith("Usage: synodctl [global flags] ls "),
                           HasSubstr("--page_token")));
}

// Last in the suite: it changes the membership.
TEST_F(SynodctlE2ETest, MemberAddPromoteRemoveAndLeaderTransfer) {
  const int old_leader = cluster_->WaitForLeader(absl::Seconds(10));
  ASSERT_NE(old_leader, 0);
  const int four = cluster_->AddMemberSlot();
  const std::string id = absl::StrCat(four);
  CtlRun r = Ctl({"member", "add", id, cluster_->peer_addr(four), cluster_->client_addr(four)});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(Lines(r.out), 5u) << r.out;  // header + 4 members
  EXPECT_THAT(LineWith(r.out, cluster_->client_addr(four)), ::testing::EndsWith(" yes"));
  r = Ctl({"member", "add", id, cluster_->peer_addr(four), cluster_->client_addr(four)});
  EXPECT_RUN(r, 12);
  EXPECT_THAT(r.err, StartsWith("Error: MEMBER_EXISTS"));
  ASSERT_TRUE(cluster_->Start(four).ok()) << Logs();
  // A learner is promoted once it has caught up (LEARNER_NOT_READY before).
  ASSERT_TRUE(WaitUntil(
      [&] {
        r = Ctl({"member", "promote", id});
        return r.code == 0;
      },
      absl::Seconds(30), absl::Milliseconds(200)))
      << r.err << Logs();
  EXPECT_THAT(LineWith(r.out, cluster_->client_addr(four)), ::testing::EndsWith(" no"));
  r = Ctl({"leader", "transfer", id});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, "OK\n");
  EXPECT_EQ(cluster_->WaitForLeader(absl::Seconds(10)), four) << Logs();
  r = Ctl({"-o", "json", "leader", "transfer", absl::StrCat(old_leader)});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(r.out, absl::StrCat("{\"leader_id\":", old_leader, "}\n"));
  EXPECT_EQ(cluster_->WaitForLeader(absl::Seconds(10)), old_leader) << Logs();
  r = Ctl({"member", "remove", id});
  EXPECT_RUN(r, 0);
  EXPECT_EQ(Lines(r.out), 4u) << r.out;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr(cluster_->client_addr(four))));
  cluster_->Stop(four);
}

}  // namespace
}  // namespace synod
