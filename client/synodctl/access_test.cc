// synodctl's access commands and credentials against FakeCluster: --user
// (password from SYNOD_PASSWORD or the terminal, never the command line),
// --digest, create --acl, acl get/set, auth and user commands, their help
// texts, error lines and exit statuses.
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/synodctl/ctl.h"
#include "client/testing/fake_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/acl.h"
#include "synod/v1/tree.pb.h"

namespace synod::ctl {
namespace {

using client::testing::FakeCluster;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

class AccessTest : public ::testing::Test {
 protected:
  // Runs synodctl in-process with `env` and, if set, a terminal that
  // answers every prompt with `tty_answer` (prompts are recorded).
  Result Run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::istringstream in;
    std::ostringstream out, err;
    Io io;
    io.in = &in;
    io.out = &out;
    io.err = &err;
    io.getenv = [&env](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    if (tty_answer_.has_value()) {
      io.read_secret = [this](const std::string& prompt) -> std::optional<std::string> {
        prompts_.push_back(prompt);
        return tty_answer_;
      };
    }
    args.insert(args.begin(), "--endpoints=" + absl::StrJoin(cluster_.endpoints(), ","));
    const int code = RunSynodctl(args, io);
    return Result{code, out.str(), err.str()};
  }

  FakeCluster cluster_;
  std::optional<std::string> tty_answer_;
  std::vector<std::string> prompts_;
};

TEST_F(AccessTest, UserPasswordFromTheEnvironment) {
  cluster_.AddUser("alice", "pw-a", false);
  Result r = Run({"--user", "alice", "whoami"}, {{"SYNOD_PASSWORD", "pw-a"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "user:alice\n");
  EXPECT_THAT(cluster_.credentials("WhoAmI"),
              ::testing::ElementsAre(FakeCluster::Metadata{{"authorization", "Bearer token-1"}}));
}

TEST_F(AccessTest, UserPasswordFromTheTerminal) {
  cluster_.AddUser("alice", "pw-a", false);
  tty_answer_ = "pw-a";
  Result r = Run({"--user=alice", "whoami"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "user:alice\n");
  EXPECT_THAT(prompts_, ::testing::ElementsAre("Password for alice: "));
}

TEST_F(AccessTest, UserWithoutAPasswordIsAUsageError) {
  Result r = Run({"--user", "alice", "whoami"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "Error: USAGE: --user needs a password: set SYNOD_PASSWORD or run synodctl on a "
            "terminal\n");
  EXPECT_EQ(cluster_.tokens_issued(), 0);
}

TEST_F(AccessTest, WrongPasswordExitsWithTheAccessStatus) {
  cluster_.AddUser("alice", "pw-a", false);
  Result r = Run({"--user", "alice", "get", "/"}, {{"SYNOD_PASSWORD", "wrong-pw"}});
  EXPECT_EQ(r.code, kExitAccess);
  EXPECT_THAT(r.err, StartsWith("Error: UNAUTHENTICATED: authenticating as alice"));
  EXPECT_THAT(r.err, Not(HasSubstr("wrong-pw")));
}

TEST_F(AccessTest, DigestsAreSentAndShownByWhoAmI) {
  Result r = Run({"--digest", "bob:pw", "--digest=carol:x", "whoami"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("digest:", storage::DigestId("bob", "pw"), "\n", "digest:",
                                storage::DigestId("carol", "x"), "\n"));
  Result bad = Run({"--digest", "nocolon", "whoami"});
  EXPECT_EQ(bad.code, kExitUsage);
  EXPECT_THAT(bad.err, HasSubstr("digest 1 is not user:password"));
  EXPECT_THAT(bad.err, Not(HasSubstr("nocolon")));
}

TEST_F(AccessTest, CreateWithAcl) {
  Result r = Run({"create", "--acl=world:anyone:r,digest:bob:" +
                                storage::DigestId("bob", "pw").substr(4) + ":cdrwa",
                  "/n", "x"});
  EXPECT_EQ(r.code, 0) << r.err;
  v1::CreateRequest sent;
  ASSERT_TRUE(sent.ParseFromString(cluster_.requests("Create").back()));
  ASSERT_EQ(sent.op().acl_size(), 2);
  EXPECT_EQ(sent.op().acl(0).scheme(), "world");
  EXPECT_EQ(sent.op().acl(0).perms(), v1::PERM_READ);
  EXPECT_EQ(sent.op().acl(1).id(), storage::DigestId("bob", "pw"));
  EXPECT_EQ(sent.op().acl(1).perms(), v1::PERM_ALL);

  Result bad = Run({"create", "--acl=world:anyone:z", "/m"});
  EXPECT_EQ(bad.code, kExitUsage);
  EXPECT_THAT(bad.err, StartsWith("Error: USAGE: --acl: "));
  EXPECT_EQ(cluster_.requests("Create").size(), 1u);  // nothing sent
}

TEST_F(AccessTest, AclGetAndSet) {
  ASSERT_EQ(Run({"create", "/n"}).code, 0);
  Result get = Run({"acl", "get", "/n"});
  EXPECT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, "world:anyone:cdrwa\naversion: 0\n");
  Result json = Run({"-o", "json", "acl", "get", "/n"});
  EXPECT_THAT(json.out, HasSubstr(R"("acl":[{"scheme":"world","id":"anyone","perms":"cdrwa"}])"));
  Result missing = Run({"acl", "get", "/nope"});
  EXPECT_EQ(missing.code, kExitNoNode);
  EXPECT_EQ(missing.err, "Error: NO_NODE: /nope\n");

  Run({"acl", "set", "--aversion=0", "/n", "world:anyone:ra"});
  v1::SetAclRequest sent;
  ASSERT_TRUE(sent.ParseFromString(cluster_.requests("SetAcl").back()));
  EXPECT_EQ(sent.op().path(), "/n");
  EXPECT_EQ(sent.op().expected_aversion(), 0);
  ASSERT_EQ(sent.op().acl_size(), 1);
  EXPECT_EQ(sent.op().acl(0).perms(), v1::PERM_READ | v1::PERM_ADMIN);
  Result bad = Run({"acl", "set", "/n", "nonsense"});
  EXPECT_EQ(bad.code, kExitUsage);
  EXPECT_THAT(bad.err, StartsWith("Error: USAGE: LIST: "));
}

TEST_F(AccessTest, UsersAndAuth) {
  // With no --user, SYNOD_PASSWORD is the new user's password.
  Result add = Run({"user", "add", "root", "--superuser"}, {{"SYNOD_PASSWORD", "pw-r"}});
  EXPECT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "OK user root added (superuser)\n");
  EXPECT_EQ(Run({"auth", "status"}).out, "auth: disabled\n");
  EXPECT_EQ(Run({"auth", "enable"}).code, 0);
  EXPECT_EQ(Run({"auth", "status"}).out, "auth: enabled\n");
  Result denied = Run({"user", "list"});
  EXPECT_EQ(denied.code, kExitAccess);
  EXPECT_THAT(denied.err, StartsWith("Error: PERMISSION_DENIED"));

  // With --user, SYNOD_PASSWORD logs in; the new password comes from
  // SYNOD_NEW_PASSWORD or the terminal.
  const std::map<std::string, std::string> root = {{"SYNOD_PASSWORD", "pw-r"}};
  Result no_password = Run({"--user", "root", "user", "add", "alice"}, root);
  EXPECT_EQ(no_password.code, kExitUsage);
  EXPECT_THAT(no_password.err, HasSubstr("user alice needs a password"));
  tty_answer_ = "pw-a";
  EXPECT_EQ(Run({"--user", "root", "user", "add", "alice"}, root).code, 0);
  EXPECT_THAT(prompts_, ::testing::Contains("New password for alice: "));
  Result list = Run({"--user", "root", "user", "list"}, root);
  EXPECT_EQ(list.out, "alice\nroot superuser\n");
  Result exists = Run({"--user", "root", "user", "add", "alice"}, root);
  EXPECT_EQ(exists.code, 1);
  EXPECT_EQ(exists.err, "Error: USER_EXISTS: alice\n");
  EXPECT_EQ(Run({"--user", "alice", "whoami"}, {{"SYNOD_PASSWORD", "pw-a"}}).out, "user:alice\n");
  std::map<std::string, std::string> change = root;
  change["SYNOD_NEW_PASSWORD"] = "pw-a2";
  EXPECT_EQ(Run({"--user", "root", "user", "passwd", "alice"}, change).code, 0);
  EXPECT_EQ(Run({"--user", "alice", "whoami"}, {{"SYNOD_PASSWORD", "pw-a2"}}).code, 0);
  EXPECT_EQ(Run({"--user", "root", "user", "delete", "alice"}, root).code, 0);
  EXPECT_EQ(Run({"--user", "root", "auth", "disable"}, root).code, 0);
  EXPECT_FALSE(cluster_.auth_enabled());
}

TEST_F(AccessTest, HelpTexts) {
  Result help = Run({"--help"});
  EXPECT_THAT(help.out, AllOf(HasSubstr("--user=NAME"), HasSubstr("SYNOD_PASSWORD"),
                              HasSubstr("--digest=USER:PASSWORD"), HasSubstr("14  PERMISSION_DENIED"),
                              HasSubstr("acl"), HasSubstr("whoami")));
  EXPECT_THAT(Run({"create", "--help"}).out, HasSubstr("--acl=LIST"));
  EXPECT_THAT(Run({"acl", "set", "--help"}).out,
              AllOf(HasSubstr("--aversion=N"), HasSubstr("LIST")));
  EXPECT_THAT(Run({"user", "add", "--help"}).out,
              AllOf(HasSubstr("--superuser"), HasSubstr("SYNOD_NEW_PASSWORD")));
  Result group = Run({"acl"});
  EXPECT_EQ(group.code, kExitUsage);
  EXPECT_EQ(group.err, "Error: USAGE: acl needs one of its commands: get, set\n");
}

}  // namespace
}  // namespace synod::ctl
