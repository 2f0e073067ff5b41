// ParseJaasUsers: the users of a ZooKeeper JAAS file's Server section, and
// the files it refuses.
#include "server/zk/sasl_users.h"

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace synod::zk {
namespace {

TEST(ParseJaasUsers, ReadsTheServerSectionOfZooKeepersFile) {
  absl::StatusOr<SaslUsers> users = ParseJaasUsers(R"(
// ZooKeeper's own example, with a client section and comments.
Server {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_super="adminsecret"   # the superuser
       user_bob="bob\"secret";
       com.example.OtherModule optional user_eve="not-a-digest-user";
};
/* clients of this host */
Client {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       username="bob"
       password="bobsecret";
};
)");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_EQ(users->size(), 2u);
  EXPECT_EQ(users->at("super"), "adminsecret");
  EXPECT_EQ(users->at("bob"), "bob\"secret");
  EXPECT_FALSE(users->contains("eve"));
}

TEST(ParseJaasUsers, RefusesMalformedFilesWithoutShowingPasswords) {
  const std::string module = "org.apache.zookeeper.server.auth.DigestLoginModule required ";
  const std::vector<std::string> bad_files = {
           std::string(""),
           "Client { " + module + "username=\"a\" password=\"hunter2\"; };",  // no Server
           "Server { " + module + "; };",                                     // no user
           "Server { " + module + "user_a=\"hunter2\" };",                    // no ';'
           "Server { " + module + "user_a=\"hunter2\"; }",                    // no '};'
           "Server { " + module + "user_a=\"hunter2; };",                     // open quote
           "Server { " + module + "user_a \"hunter2\"; };",                   // no '='
           "Server { org.apache.zookeeper.server.auth.DigestLoginModule user_a=\"hunter2\"; };",
           "Server { " + module + "user_a=\"hunter2\" user_a=\"hunter2\"; };",  // twice
           "Server { " + module + "user_=\"hunter2\"; };",                      // no name
           "Server { " + module + "user_a@b=\"hunter2\"; };",                   // '@'
           "Server { " + module + "user_a=\"\"; };",                            // no password
           "Server { " + module + "user_a=\"hunter2\"; }; Server { " + module +
               "user_b=\"hunter2\"; };",
           "Server { " + module + "user_a=\"hunter2\"; }; /* open",
  };
  for (const std::string& bad : bad_files) {
    absl::StatusOr<SaslUsers> users = ParseJaasUsers(bad);
    EXPECT_FALSE(users.ok()) << bad;
    EXPECT_EQ(users.status().message().find("hunter2"), std::string::npos) << users.status();
    EXPECT_NE(users.status().message().find("line "), std::string::npos) << users.status();
  }
}

TEST(LoadSaslUsers, NamesTheFileAndKeepsMissingApartFromMalformed) {
  testing::TempDir dir;
  const std::string path = dir.Sub("jaas.conf");
  EXPECT_EQ(LoadSaslUsers(path).status().code(), absl::StatusCode::kNotFound);
  std::ofstream(path) << "Server { broken";
  absl::StatusOr<SaslUsers> users = LoadSaslUsers(path);
  EXPECT_EQ(users.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(users.status().message().find(path), std::string::npos) << users.status();
}

}  // namespace
}  // namespace synod::zk
