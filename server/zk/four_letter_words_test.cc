// Four-letter words: which first bytes are one, the whitelist flag, and the
// answers in ZooKeeper 3.8's formats (bounded in size).
#include "server/zk/four_letter_words.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace synod::zk {
namespace {

const absl::flat_hash_set<std::string>& All() {
  static const auto* all = new absl::flat_hash_set<std::string>(*ParseFourLetterWhitelist("*"));
  return *all;
}

FourLetterInput Serving(const std::string& word) {
  FourLetterInput in;
  in.word = word;
  in.serving = true;
  in.mode = "leader";
  in.zxid = 0x1f;
  in.node_count = 12;
  in.version = "3.8.4-synod-test";
  in.stats.connections = 2;
  in.stats.packets_received = 7;
  in.stats.packets_sent = 8;
  in.stats.min_latency_ms = 1;
  in.stats.avg_latency_ms = 1.5;
  in.stats.max_latency_ms = 3;
  return in;
}

TEST(FourLetterWordsTest, RecognisesOnlyZooKeeperWords) {
  EXPECT_EQ(FourLetterWordOf("ruok"), "ruok");
  EXPECT_EQ(FourLetterWordOf("dump"), "dump");  // known to ZooKeeper, not served
  EXPECT_EQ(FourLetterWordOf("RUOK"), std::nullopt);
  // A ConnectRequest's length prefix (45 bytes).
  EXPECT_EQ(FourLetterWordOf(std::string("\0\0\0\x2d", 4)), std::nullopt);
  EXPECT_EQ(FourLetterWordOf("ruo"), std::nullopt);
}

TEST(FourLetterWordsTest, WhitelistFlag) {
  auto empty = ParseFourLetterWhitelist("");
  ASSERT_TRUE(empty.ok());
  // ZooKeeper always keeps srvr (zkServer.sh status needs it).
  EXPECT_EQ(*empty, (absl::flat_hash_set<std::string>{"srvr"}));
  auto some = ParseFourLetterWhitelist(" ruok , mntr,,isro ");
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (absl::flat_hash_set<std::string>{"srvr", "ruok", "mntr", "isro"}));
  EXPECT_EQ(All().size(), 9u);
  EXPECT_EQ(ParseFourLetterWhitelist("ruok,dump").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseFourLetterWhitelist("nope").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FourLetterWordsTest, NotWhitelistedGetsZooKeepersAnswer) {
  const absl::flat_hash_set<std::string> only_srvr = {"srvr"};
  EXPECT_EQ(AnswerFourLetterWord(Serving("ruok"), only_srvr),
            "ruok is not executed because it is not in the whitelist.\n");
  EXPECT_EQ(AnswerFourLetterWord(Serving("dump"), All()),
            "dump is not executed because it is not in the whitelist.\n");
}

TEST(FourLetterWordsTest, SimpleAnswers) {
  EXPECT_EQ(AnswerFourLetterWord(Serving("ruok"), All()), "imok");
  EXPECT_EQ(AnswerFourLetterWord(Serving("isro"), All()), "rw");
  FourLetterInput down = Serving("isro");
  down.serving = false;
  EXPECT_EQ(AnswerFourLetterWord(down, All()), "null");
  down.word = "srvr";
  EXPECT_EQ(AnswerFourLetterWord(down, All()),
            "This ZooKeeper instance is not currently serving requests\n");
  down.word = "ruok";
  EXPECT_EQ(AnswerFourLetterWord(down, All()), "imok");
}

TEST(FourLetterWordsTest, SrvrAsZooKeeperPrintsIt) {
  EXPECT_EQ(AnswerFourLetterWord(Serving("srvr"), All()),
            "Zookeeper version: 3.8.4-synod-test\n"
            "Latency min/avg/max: 1/1.5000/3\n"
            "Received: 7\n"
            "Sent: 8\n"
            "Connections: 2\n"
            "Outstanding: 0\n"
            "Zxid: 0x1f\n"
            "Mode: leader\n"
            "Node count: 12\n");
}

TEST(FourLetterWordsTest, MntrIsTabSeparated) {
  FourLetterInput in = Serving("mntr");
  in.watches = 4;
  const std::string out = AnswerFourLetterWord(in, All());
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, '\t');
    ASSERT_EQ(kv.size(), 2u) << line;
    EXPECT_TRUE(absl::StartsWith(kv[0], "zk_")) << line;
  }
  EXPECT_TRUE(absl::StrContains(out, "zk_version\t3.8.4-synod-test\n"));
  EXPECT_TRUE(absl::StrContains(out, "zk_server_state\tleader\n"));
  EXPECT_TRUE(absl::StrContains(out, "zk_num_alive_connections\t2\n"));
  EXPECT_TRUE(absl::StrContains(out, "zk_packets_received\t7\n"));
  EXPECT_TRUE(absl::StrContains(out, "zk_watch_count\t4\n"));
}

TEST(FourLetterWordsTest, StatAndConsListConnectionsBounded) {
  FourLetterInput in = Serving("cons");
  ZkConnectionInfo c;
  c.remote = "/127.0.0.1:4000";
  c.received = 3;
  c.sent = 2;
  c.session_id = 0xabc;
  c.last_op = "getData";
  c.timeout_ms = 10000;
  c.last_cxid = 5;
  c.last_zxid = 0x10;
  c.last_response_ms = 1700000000123;
  c.last_latency_ms = 2;
  c.min_latency_ms = 1;
  c.avg_latency_ms = 3;
  c.max_latency_ms = 9;
  in.connections.assign(kMaxListedConnections, c);
  in.unlisted = 5;
  const std::string cons = AnswerFourLetterWord(in, All());
  EXPECT_TRUE(
      absl::StartsWith(cons,
                       " /127.0.0.1:4000[1](queued=0,recved=3,sent=2,sid=0xabc,lop=getData,est=0,"
                       "to=10000,lcxid=0x5,lzxid=0x10,lresp=1700000000123,llat=2,minlat=1,"
                       "avglat=3,maxlat=9)\n"))
      << cons.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(cons, " (5 more connections not listed)\n"));
  EXPECT_LT(cons.size(), 200 * kMaxListedConnections);
  in.word = "stat";
  in.connections.resize(1);
  in.unlisted = 0;
  const std::string stat = AnswerFourLetterWord(in, All());
  EXPECT_TRUE(absl::StartsWith(stat,
                               "Zookeeper version: 3.8.4-synod-test\nClients:\n"
                               " /127.0.0.1:4000[1](queued=0,recved=3,sent=2)\n\n"
                               "Latency min/avg/max: "))
      << stat;
  EXPECT_TRUE(absl::EndsWith(stat, "Mode: leader\nNode count: 12\n"));
}

TEST(FourLetterWordsTest, WchsConfEnvi) {
  FourLetterInput in = Serving("wchs");
  in.watching_connections = 2;
  in.watched_paths = 3;
  in.watches = 5;
  EXPECT_EQ(AnswerFourLetterWord(in, All()), "2 connections watching 3 paths\nTotal watches:5\n");
  in.word = "conf";
  in.conf = {{"clientPort", "2181"}, {"serverId", "1"}};
  EXPECT_EQ(AnswerFourLetterWord(in, All()), "clientPort=2181\nserverId=1\n");
  in.word = "envi";
  in.env = {{"os.name", "Linux"}};
  EXPECT_EQ(AnswerFourLetterWord(in, All()),
            "Environment:\nzookeeper.version=3.8.4-synod-test\nos.name=Linux\n");
}

}  // namespace
}  // namespace synod::zk
