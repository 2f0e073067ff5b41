// synodctl against FakeCluster: each command's text and JSON output, its
// error lines and exit statuses, stdin data, the long-running commands
// (watch, elect, lock, create --ephemeral) ended by an interrupt, and the
// real binary run as a child process.
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <streambuf>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "client/synodctl/commands.h"
#include "client/synodctl/ctl.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::ctl {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// An ostream whose contents can be read while another thread writes.
class SyncBuf : public std::streambuf {
 public:
  std::string contents() const {
    absl::MutexLock lock(&mu_);
    return data_;
  }

 protected:
  int overflow(int c) override {
    if (c != EOF) {
      absl::MutexLock lock(&mu_);
      data_ += static_cast<char>(c);
    }
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    absl::MutexLock lock(&mu_);
    data_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  mutable absl::Mutex mu_;
  std::string data_;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

// One synodctl invocation, in-process.
class Invocation {
 public:
  explicit Invocation(std::string stdin_data = "") : in_(std::move(stdin_data)) {
    io_.in = &in_;
    io_.out = &out_stream_;
    io_.err = &err_stream_;
    io_.interrupt = &interrupt_;
    io_.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  Result Run(const std::vector<std::string>& args) {
    const int code = RunSynodctl(args, io_);
    return Result{code, out_.contents(), err_.contents()};
  }
  // Runs in a thread, for commands that hold until interrupted.
  void Start(std::vector<std::string> args) {
    thread_ = std::thread([this, args] { code_ = RunSynodctl(args, io_); });
  }
  Result Interrupt() {
    interrupt_.Notify();
    thread_.join();
    return Result{code_, out_.contents(), err_.contents()};
  }
  std::string out() const { return out_.contents(); }
  void SetEnv(const std::string& k, const std::string& v) { env_[k] = v; }

 private:
  std::istringstream in_;
  SyncBuf out_, err_;
  std::ostream out_stream_{&out_};
  std::ostream err_stream_{&err_};
  absl::Notification interrupt_;
  std::map<std::string, std::string> env_;
  Io io_;
  std::thread thread_;
  int code_ = -1;
};

class SynodctlTest : public ::testing::Test {
 protected:
  std::vector<std::string> Args(std::vector<std::string> args) {
    args.insert(args.begin(), "--endpoints=" + absl::StrJoin(cluster_.endpoints(), ","));
    return args;
  }
  Result Run(std::vector<std::string> args, std::string stdin_data = "") {
    Invocation inv(std::move(stdin_data));
    return inv.Run(Args(std::move(args)));
  }

  FakeCluster cluster_;
  std::unique_ptr<Client> client_ = ConnectOrDie(FakeClientOptions(cluster_));
};

TEST_F(SynodctlTest, HelpAndUsageErrors) {
  Result help = Run({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, AllOf(HasSubstr("Exit status"), HasSubstr("5  BAD_VERSION"),
                              HasSubstr("snapshot save FILE")));
  Result none = Invocation().Run({});
  EXPECT_EQ(none.code, kExitUsage);
  EXPECT_THAT(none.err, StartsWith("Error: USAGE: no command"));
  Result unknown = Run({"frobnicate"});
  EXPECT_EQ(unknown.code, kExitUsage);
  Result flag = Run({"get", "--nope", "/x"});
  EXPECT_EQ(flag.code, kExitUsage);
  EXPECT_EQ(flag.err, "Error: USAGE: unknown flag --nope\n");
  EXPECT_EQ(Run({"get"}).code, kExitUsage);
  EXPECT_EQ(Run({"get", "-o", "yaml", "/x"}).code, kExitUsage);
  EXPECT_EQ(Run({"--timeout=soon", "get", "/x"}).code, kExitUsage);
  EXPECT_EQ(Run({"member", "frob"}).code, kExitUsage);
}

TEST_F(SynodctlTest, CommandHelpIsTheCommandsOwn) {
  Result ls = Run({"ls", "--help"});
  EXPECT_EQ(ls.code, 0);
  EXPECT_THAT(ls.out, AllOf(StartsWith("Usage: synodctl [global flags] ls "),
                            HasSubstr("--page_token=TOKEN"), HasSubstr("--limit=N")));
  EXPECT_THAT(ls.out, ::testing::Not(HasSubstr("Exit status")));
  Result add = Run({"member", "add", "-h"});
  EXPECT_EQ(add.code, 0);
  EXPECT_THAT(add.out, StartsWith("Usage: synodctl [global flags] member add ID PEER_ADDR"));
  Result del = Run({"delete", "--help"});
  EXPECT_THAT(del.out, HasSubstr("one request (and deadline) per node"));
}

// After "--" every word is an argument, even one that looks like a flag.
TEST_F(SynodctlTest, DashDashPassesValuesThatLookLikeFlags) {
  ASSERT_EQ(Run({"create", "/dash", "--", "-x"}).code, 0);
  EXPECT_EQ(cluster_.data("/dash"), "-x");
  ASSERT_EQ(Run({"set", "--version=0", "/dash", "--", "--version=3"}).code, 0);
  EXPECT_EQ(cluster_.data("/dash"), "--version=3");
  // An empty value given as --flag= is the empty value, not the next word.
  Result r = Run({"create", "/dash/empty", "--", ""});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(cluster_.data("/dash/empty"), "");
  EXPECT_EQ(Run({"ls", "--page_token=", "--limit=1", "/dash"}).code, 0);
}

TEST_F(SynodctlTest, EmptyEndpointsIsAUsageError) {
  for (const char* flag : {"--endpoints=", "--endpoints= , "}) {
    Result r = Invocation().Run({flag, "--timeout=300ms", "get", "/x"});
    EXPECT_EQ(r.code, kExitUsage) << flag << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("--endpoints is empty")) << flag;
    // Given after a valid list (the last one counts), it is still empty.
    r = Run({flag, "--timeout=300ms", "get", "/x"});
    EXPECT_EQ(r.code, kExitUsage) << flag << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("--endpoints is empty")) << flag;
  }
}

// A flag given twice takes its last value.
TEST_F(SynodctlTest, RepeatedFlagTakesTheLastValue) {
  ASSERT_TRUE(client_->Create("/twice", "v").ok());
  Result r = Run({"-o", "json", "get", "-o", "text", "/twice"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "v");
}

// No replica answered: the digests were not compared, so no verdict.
TEST_F(SynodctlTest, StatusWithNoReplicaAnsweringHasNoDigestVerdict) {
  for (uint64_t m = 1; m <= 3; ++m) cluster_.Stop(m);
  Result r = Run({"--timeout=500ms", "status"});
  EXPECT_EQ(r.code, kExitUnavailable) << r.err;
  EXPECT_THAT(r.out, HasSubstr("digests: unknown (no replica answered)"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("agree")));
  Result j = Run({"--timeout=500ms", "-o", "json", "status"});
  EXPECT_THAT(j.out, ::testing::Not(HasSubstr("digests_agree")));
}

// Each request of delete --recursive has its own --timeout: a subtree that
// takes longer than one timeout in all is still deleted.
TEST_F(SynodctlTest, RecursiveDeleteGivesEachRequestItsOwnDeadline) {
  ASSERT_TRUE(client_->Create("/big", "").ok());
  constexpr int kChildren = 5;
  for (int i = 0; i < kChildren; ++i) {
    ASSERT_TRUE(client_->Create(absl::StrCat("/big/", i), "").ok());
  }
  // Every delete takes 0.4 s: all 6 take 2.4 s, more than --timeout.
  cluster_.Delay("Delete", absl::Milliseconds(400));
  Result r = Run({"--timeout=1500ms", "delete", "--recursive", "/big"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("OK deleted=", kChildren + 1, "\n"));
  EXPECT_FALSE(cluster_.data("/big").has_value());
}

// Not atomic: a failure part way says how many nodes went first.
TEST_F(SynodctlTest, RecursiveDeleteThatFailsSaysHowManyItDeleted) {
  ASSERT_TRUE(client_->Create("/part", "").ok());
  ASSERT_TRUE(client_->Create("/part/a", "").ok());
  ASSERT_TRUE(client_->Create("/part/b", "").ok());
  Result r = Run({"delete", "--recursive", "--version=7", "/part"});
  EXPECT_EQ(r.code, kExitBadVersion) << r.err;
  EXPECT_THAT(r.err,
              AllOf(StartsWith("Error: BAD_VERSION: "), HasSubstr("after deleting 2 nodes")));
  EXPECT_TRUE(cluster_.data("/part").has_value());
  EXPECT_FALSE(cluster_.data("/part/a").has_value());
}

TEST_F(SynodctlTest, CreateGetSetDeleteWithErrorsAndExitCodes) {
  Result c = Run({"create", "/app", ""});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(c.out, "/app\n");
  EXPECT_EQ(Run({"create", "/app/config", "color=blue"}).code, 0);

  Result g = Run({"get", "/app/config"});
  EXPECT_EQ(g.code, 0);
  EXPECT_EQ(g.out, "color=blue");  // raw bytes: no newline added on a pipe

  Result s = Run({"set", "--version=0", "/app/config", "color=green"});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(s.out, "OK version=1\n");

  Result bad = Run({"set", "--version=0", "/app/config", "color=red"});
  EXPECT_EQ(bad.code, kExitBadVersion);
  EXPECT_THAT(bad.err, StartsWith("Error: BAD_VERSION: "));
  EXPECT_EQ(bad.out, "");

  Result missing = Run({"get", "/nope"});
  EXPECT_EQ(missing.code, kExitNoNode);
  EXPECT_THAT(missing.err, StartsWith("Error: NO_NODE: "));
  EXPECT_EQ(Run({"create", "/app", ""}).code, kExitNodeExists);
  EXPECT_EQ(Run({"delete", "/app"}).code, kExitNotEmpty);
  EXPECT_EQ(Run({"get", "no-slash"}).code, kExitBadRequest);
  EXPECT_EQ(Run({"stat", "/nope"}).code, kExitNoNode);

  Result d = Run({"delete", "--recursive", "/app"});
  EXPECT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out, "OK deleted=2\n");
  EXPECT_FALSE(cluster_.data("/app").has_value());
}

TEST_F(SynodctlTest, DataFromStdinAndBinaryData) {
  const std::string binary("\x00\x01\xffzz\n", 6);
  Result c = Run({"create", "/bin", "-"}, binary);
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(cluster_.data("/bin"), binary);
  Result raw = Run({"get", "/bin"});
  EXPECT_EQ(raw.out, binary);
  Result j = Run({"-o", "json", "get", "/bin"});
  EXPECT_THAT(j.out, HasSubstr(absl::StrCat("\"data\":\"", absl::Base64Escape(binary), "\"")));
  // "--" ends flags: data may start with '-'.
  EXPECT_EQ(Run({"set", "/bin", "--", "-5"}).code, 0);
  EXPECT_EQ(cluster_.data("/bin"), "-5");
}

TEST_F(SynodctlTest, JsonOutputs) {
  ASSERT_EQ(Run({"create", "/j", "v"}).code, 0);
  Result g = Run({"get", "-o", "json", "/j"});
  EXPECT_EQ(g.code, 0);
  for (const char* key :
       {"\"path\":\"/j\"", "\"data\":\"dg==\"", "\"stat\":{\"czxid\":", "\"mzxid\":", "\"pzxid\":",
        "\"ctime\":", "\"mtime\":", "\"version\":0", "\"cversion\":0", "\"aversion\":0",
        "\"ephemeral_owner\":0", "\"data_length\":1", "\"num_children\":0}", "\"revision\":"}) {
    EXPECT_THAT(g.out, HasSubstr(key));
  }
  EXPECT_THAT(g.out, StartsWith("{"));
  Result st = Run({"stat", "-o", "json", "/j"});
  EXPECT_THAT(st.out, HasSubstr("\"data_length\":1"));
  Result ls = Run({"--output=json", "ls", "/"});
  EXPECT_THAT(ls.out, HasSubstr("\"children\":[\"j\"]"));
  Result c = Run({"-o", "json", "create", "--sequential", "/j/s-", "x"});
  EXPECT_THAT(c.out, HasSubstr("\"path\":\"/j/s-0000000000\""));
}

TEST_F(SynodctlTest, ListingStatAndHistory) {
  ASSERT_EQ(Run({"create", "/d", ""}).code, 0);
  for (const char* n : {"c", "a", "b"}) ASSERT_EQ(Run({"create", absl::StrCat("/d/", n)}).code, 0);
  EXPECT_EQ(Run({"ls", "/d"}).out, "a\nb\nc\n");
  // A limited listing ends with the token that goes on from there.
  Result page = Run({"ls", "--limit=2", "/d"});
  EXPECT_EQ(page.code, 0) << page.err;
  ASSERT_THAT(page.out, StartsWith("a\nb\nnext_page_token: "));
  std::string token = page.out.substr(std::string("a\nb\nnext_page_token: ").size());
  ASSERT_FALSE(token.empty());
  token.pop_back();  // the newline
  EXPECT_EQ(Run({"ls", "--limit=2", "--page_token=" + token, "/d"}).out, "c\n");
  EXPECT_EQ(Run({"ls", "--limit=3", "/d"}).out, "a\nb\nc\n");
  EXPECT_EQ(Run({"ls", "--page_token=" + token, "/d"}).code, kExitUsage);
  EXPECT_THAT(Run({"ls", "--stat", "/d"}).out, HasSubstr("a\tversion=0\tchildren=0\tsize=0"));
  Result st = Run({"stat", "/d"});
  EXPECT_THAT(st.out, AllOf(HasSubstr("path = /d\n"), HasSubstr("num_children = 3\n"),
                            HasSubstr("cversion = 3\n"), HasSubstr("ephemeral_owner = 0x0\n")));

  ASSERT_EQ(Run({"set", "/d/a", "one"}).code, 0);
  ASSERT_EQ(Run({"set", "/d/a", "two"}).code, 0);
  Result h = Run({"history", "/d/a"});
  EXPECT_EQ(h.code, 0) << h.err;
  std::vector<std::string> lines = absl::StrSplit(h.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], StartsWith("VERSION"));
  EXPECT_THAT(lines[1], AllOf(StartsWith("2 "), HasSubstr("\"two\"")));
  EXPECT_THAT(Run({"-o", "json", "history", "--limit=1", "/d/a"}).out,
              HasSubstr("\"data\":\"dHdv\""));
  EXPECT_EQ(Run({"get", "--version=1", "/d/a"}).out, "one");
  EXPECT_EQ(Run({"get", "--version=1", "--revision=3", "/d/a"}).code, kExitUsage);
  Result ser = Run({"get", "--consistency=serializable", "--min_revision=1", "/d/a"});
  EXPECT_EQ(ser.out, "two");
  EXPECT_EQ(Run({"get", "--consistency=weird", "/d/a"}).code, kExitUsage);
}

TEST_F(SynodctlTest, MultiFromStdin) {
  ASSERT_EQ(Run({"create", "/m", "0"}).code, 0);
  Result ok = Run({"multi"},
                  "# a comment\n"
                  "check --version=0 /m\n"
                  "create --sequential /m/item- 'a b'\n"
                  "set --version=0 /m \"x y\"\n");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "check /m\ncreate /m/item-0000000000\nset /m version=1\n");
  EXPECT_EQ(cluster_.data("/m/item-0000000000"), "a b");
  EXPECT_EQ(cluster_.data("/m"), "x y");

  Result bad = Run({"multi"}, "create /m/other\nset --version=0 /m z\n");
  EXPECT_EQ(bad.code, kExitBadVersion);
  EXPECT_THAT(bad.err, StartsWith("Error: BAD_VERSION"));
  EXPECT_FALSE(cluster_.data("/m/other").has_value());
  EXPECT_EQ(Run({"multi"}, "frob /x\n").code, kExitUsage);
  EXPECT_EQ(Run({"multi"}, "").code, kExitUsage);
}

TEST_F(SynodctlTest, WatchPrintsEventsUntilInterrupted) {
  ASSERT_TRUE(client_->Create("/w", "0").ok());
  Invocation inv;
  inv.Start(Args({"watch", "--recursive", "/w"}));
  // The watch is registered when its stream exists; then write.
  ASSERT_TRUE(
      testing::WaitUntil([&] { return cluster_.live_watch_streams() == 1; }, absl::Seconds(5)));
  absl::StatusOr<SetResult> s = client_->Set("/w", "1");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(client_->Create("/w/kid", "").ok());
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return absl::StrContains(inv.out(), "NODE_CREATED /w/kid"); }, absl::Seconds(5)))
      << inv.out();
  Result r = inv.Interrupt();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith(absl::StrCat(s->stat.mzxid, " NODE_DATA_CHANGED /w\n")));
}

TEST_F(SynodctlTest, ElectPrintsEachNewLeader) {
  Invocation a, b;
  a.Start(Args({"elect", "svc", "alpha"}));
  ASSERT_TRUE(testing::WaitUntil([&] { return a.out() == "alpha\n"; }, absl::Seconds(5)))
      << a.out();
  b.Start(Args({"elect", "svc", "beta"}));
  ASSERT_TRUE(testing::WaitUntil([&] { return b.out() == "alpha\n"; }, absl::Seconds(5)));
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return client_->GetChildren("/synod/elections/svc")
                   .value_or(ChildrenResult{})
                   .children.size() == 2;
      },
      absl::Seconds(5)));
  Result ra = a.Interrupt();  // alpha resigns
  EXPECT_EQ(ra.code, 0) << ra.err;
  ASSERT_TRUE(testing::WaitUntil([&] { return b.out() == "alpha\nbeta\n"; }, absl::Seconds(5)))
      << b.out();
  Result rb = b.Interrupt();
  EXPECT_EQ(rb.code, 0) << rb.err;
}

TEST_F(SynodctlTest, LockRunsACommandWithTheToken) {
  testing::TempDir dir;
  const std::string file = dir.Sub("token");
  Result r =
      Run({"lock", "job", "--", "sh", "-c", "echo $SYNOD_LOCK_TOKEN > " + file + "; exit 3"});
  EXPECT_EQ(r.code, 3) << r.err;
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  EXPECT_EQ(r.out, token + "\n");
  EXPECT_FALSE(token.empty());
  // Released after the command: the ticket, and with it the lock's
  // container directory, are gone.
  EXPECT_EQ(ErrorCodeOf(client_->GetChildren("/synod/locks/job").status()), ErrorCode::kNoNode);
  EXPECT_EQ(Run({"lock", "job", "--"}).code, kExitUsage);
  EXPECT_EQ(Run({"lock", "job", "--", "/no/such/binary"}).code, kExitBadRequest);
}

TEST_F(SynodctlTest, LockHoldsUntilInterruptedAndQueuesOthers) {
  Invocation holder;
  holder.Start(Args({"-o", "json", "lock", "/locks/x"}));
  ASSERT_TRUE(testing::WaitUntil([&] { return !holder.out().empty(); }, absl::Seconds(5)));
  EXPECT_THAT(holder.out(), HasSubstr("\"path\":\"/locks/x\",\"token\":"));
  Invocation waiter;
  waiter.Start(Args({"lock", "/locks/x"}));
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return client_->GetChildren("/locks/x").value_or(ChildrenResult{}).children.size() == 2;
      },
      absl::Seconds(5)));
  EXPECT_EQ(waiter.out(), "");
  EXPECT_EQ(holder.Interrupt().code, 0);
  ASSERT_TRUE(testing::WaitUntil([&] { return !waiter.out().empty(); }, absl::Seconds(5)));
  EXPECT_EQ(waiter.Interrupt().code, 0);
}

TEST_F(SynodctlTest, EphemeralCreateHoldsTheNode) {
  ASSERT_TRUE(client_->Create("/e", "").ok());
  Invocation inv;
  inv.Start(Args({"create", "--ephemeral", "/e/me", "here"}));
  ASSERT_TRUE(testing::WaitUntil([&] { return inv.out() == "/e/me\n"; }, absl::Seconds(5)));
  EXPECT_EQ(cluster_.data("/e/me"), "here");
  EXPECT_EQ(inv.Interrupt().code, 0);
  EXPECT_FALSE(cluster_.data("/e/me").has_value());
}

TEST_F(SynodctlTest, ClusterCommands) {
  Result st = Run({"status"});
  EXPECT_EQ(st.code, 0) << st.err;
  std::vector<std::string> lines = absl::StrSplit(st.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << st.out;
  EXPECT_THAT(lines[0], StartsWith("ID"));
  EXPECT_THAT(lines[1],
              AllOf(StartsWith("1 "), HasSubstr(cluster_.endpoint(1)), HasSubstr("leader")));
  EXPECT_EQ(lines[4], "leader: 1; digests: agree");
  Result sj = Run({"-o", "json", "status"});
  EXPECT_THAT(sj.out, AllOf(HasSubstr("\"role\":\"follower\""), HasSubstr("\"digests_agree\":true"),
                            HasSubstr("\"leader_id\":1")));

  cluster_.Stop(3);
  Result down = Run({"--timeout=1s", "status"});
  EXPECT_EQ(down.code, 0);
  EXPECT_THAT(down.out, HasSubstr("unreachable"));
  cluster_.Restart(3);

  Result ml = Run({"member", "list"});
  EXPECT_THAT(ml.out, HasSubstr(cluster_.endpoint(2)));
  Result add = Run({"member", "add", "4", "127.0.0.1:17104", "127.0.0.1:17004"});
  EXPECT_EQ(add.code, 0) << add.err;
  EXPECT_THAT(add.out, HasSubstr("127.0.0.1:17104"));
  EXPECT_EQ(Run({"member", "add", "4", "127.0.0.1:17104", "127.0.0.1:17004"}).code,
            kExitMembership);
  EXPECT_EQ(Run({"member", "promote", "4"}).code, 0);
  EXPECT_EQ(Run({"-o", "json", "member", "remove", "4"}).code, 0);
  EXPECT_EQ(Run({"member", "remove", "x"}).code, kExitUsage);
  EXPECT_EQ(Run({"leader", "transfer", "2"}).out, "OK\n");
  EXPECT_EQ(Run({"leader", "transfer", "9"}).code, kExitMembership);

  // The fake streams its own dump, not a Synod snapshot file: save checks
  // the received file as a restore would and keeps nothing (real snapshots:
  // tests/e2e/backup_e2e_test.cc).
  testing::TempDir dir;
  Result snap = Run({"snapshot", "save", dir.Sub("s.snap")});
  EXPECT_EQ(snap.code, kExitDataLoss) << snap.err;
  EXPECT_THAT(snap.err, StartsWith("Error: DATA_LOSS: "));
  EXPECT_FALSE(std::ifstream(dir.Sub("s.snap")).good());
  EXPECT_FALSE(std::ifstream(dir.Sub("s.snap.tmp")).good());
  cluster_.CorruptNextSnapshot();
  EXPECT_EQ(Run({"snapshot", "save", dir.Sub("bad.snap")}).code, kExitDataLoss);
  EXPECT_EQ(Run({"snapshot", "status", dir.Sub("absent.snap")}).code, kExitError);
  std::ofstream(dir.Sub("junk.snap")) << "not a snapshot, only text long enough for a header";
  Result junk = Run({"snapshot", "status", dir.Sub("junk.snap")});
  EXPECT_EQ(junk.code, kExitDataLoss);
  EXPECT_THAT(junk.err, StartsWith("Error: DATA_LOSS: "));
}

TEST_F(SynodctlTest, EndpointsFromEnvironmentAndUnreachableCluster) {
  ASSERT_TRUE(client_->Create("/env", "yes").ok());
  Invocation inv;
  inv.SetEnv("SYNOD_ENDPOINTS", cluster_.endpoint(2));
  Result r = inv.Run({"get", "/env"});
  EXPECT_EQ(r.out, "yes");
  EXPECT_GE(cluster_.calls(2, "Get"), 1);

  Invocation dead;
  dead.SetEnv("SYNOD_ENDPOINTS", "127.0.0.1:1");
  Result d = dead.Run({"--timeout=300ms", "get", "/env"});
  EXPECT_EQ(d.code, kExitUnavailable);
  EXPECT_THAT(d.err, StartsWith("Error: UNAVAILABLE: "));
}

TEST(JsonLine, EscapesNestsAndKeepsKeyOrder) {
  Json j;
  j["a\"b"] = "x\ny\x01";
  j["list"] = Json::array({int64_t{-1}, uint64_t{2}, true});
  j["after"] = Json::object();
  EXPECT_EQ(JsonLine(j), "{\"a\\\"b\":\"x\\ny\\u0001\",\"list\":[-1,2,true],\"after\":{}}\n");
  // Bytes that are not UTF-8 are replaced, not thrown on.
  EXPECT_EQ(JsonLine(Json("ok\xff")), "\"ok\xef\xbf\xbd\"\n");
}

// The real binary: exit statuses, stderr, and SIGTERM ending a watch.
TEST_F(SynodctlTest, BinaryExitStatusesAndSignals) {
  testing::TempDir dir;
  auto run = [&](std::vector<std::string> args) {
    testing::Subprocess::Options o;
    o.binary = SYNODCTL_BIN;
    o.args = Args(std::move(args));
    o.log_path = dir.Sub("log");
    return testing::Subprocess::Start(o);
  };
  absl::StatusOr<testing::Subprocess> get = run({"get", "/missing"});
  ASSERT_TRUE(get.ok()) << get.status();
  absl::StatusOr<int> status = get->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), kExitNoNode);
  std::ifstream log(dir.Sub("log"));
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("Error: NO_NODE: "));

  ASSERT_TRUE(client_->Create("/sig", "").ok());
  absl::StatusOr<testing::Subprocess> watch = run({"watch", "/sig"});
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(
      testing::WaitUntil([&] { return cluster_.live_watch_streams() == 1; }, absl::Seconds(10)));
  watch->Signal(SIGTERM);
  status = watch->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status)) << testing::DescribeWaitStatus(*status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace synod::ctl
