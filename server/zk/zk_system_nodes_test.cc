// ZooKeeper's own nodes as the ZooKeeper port answers them: reads as a
// ZooKeeper 3.8 server with a static configuration answers, writes that
// change nothing, multis that fail at the right op or keep their passing
// checks, and "/" that counts /zookeeper.
#include "server/zk/zk_system_nodes.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/acl.h"

namespace synod::zk {
namespace {

constexpr uint64_t kRevision = 42;

v1::PipelineReply Answer(const v1::PipelineCall& call) {
  v1::PipelineReply reply;
  EXPECT_TRUE(AnswerSystemCall(call, kRevision, &reply)) << call.DebugString();
  return reply;
}

v1::PipelineCall Get(const std::string& path) {
  v1::PipelineCall call;
  call.mutable_get()->set_path(path);
  return call;
}

v1::PipelineCall Children(const std::string& path) {
  v1::PipelineCall call;
  call.mutable_get_children()->set_path(path);
  call.mutable_get_children()->set_include_stat(true);
  return call;
}

v1::Op Check(const std::string& path, int64_t version) {
  v1::Op op;
  op.mutable_check()->set_path(path);
  op.mutable_check()->set_expected_version(version);
  return op;
}

v1::Op Set(const std::string& path) {
  v1::Op op;
  op.mutable_set()->set_path(path);
  op.mutable_set()->set_data("x");
  return op;
}

std::vector<v1::ErrorCode> Codes(const v1::MultiResponse& m) {
  std::vector<v1::ErrorCode> codes;
  for (const v1::OpResult& r : m.results()) codes.push_back(r.code());
  return codes;
}

TEST(ZkSystemNodesTest, OnlyTheSubtreeIsSystem) {
  EXPECT_TRUE(IsSystemPath("/zookeeper"));
  EXPECT_TRUE(IsSystemPath("/zookeeper/config"));
  EXPECT_TRUE(IsSystemPath("/zookeeper/x/y"));
  EXPECT_FALSE(IsSystemPath("/zookeeperx"));
  EXPECT_FALSE(IsSystemPath("/zookeeper0000000001"));
  EXPECT_FALSE(IsSystemPath("/"));
  EXPECT_FALSE(IsSystemPath("/a/zookeeper"));
  v1::PipelineReply untouched;
  EXPECT_FALSE(AnswerSystemCall(Get("/a"), kRevision, &untouched));
  EXPECT_FALSE(AnswerSystemCall(Get("/zookeeperx"), kRevision, &untouched));
}

TEST(ZkSystemNodesTest, ReadsAnswerAsZooKeeper) {
  v1::PipelineReply get = Answer(Get("/zookeeper/config"));
  EXPECT_EQ(get.get().header().code(), v1::OK);
  EXPECT_EQ(get.get().header().revision(), kRevision);
  EXPECT_EQ(get.get().data(), "");
  EXPECT_EQ(get.get().stat().num_children(), 0);
  EXPECT_EQ(Answer(Get("/zookeeper/nope")).get().header().code(), v1::NO_NODE);

  v1::PipelineReply list = Answer(Children("/zookeeper"));
  EXPECT_EQ(list.get_children().header().code(), v1::OK);
  EXPECT_EQ(std::vector<std::string>(list.get_children().children().begin(),
                                     list.get_children().children().end()),
            (std::vector<std::string>{"config", "quota"}));
  EXPECT_EQ(list.get_children().child_stats_size(), 2);
  EXPECT_EQ(list.get_children().stat().num_children(), 2);

  v1::PipelineCall exists;
  exists.mutable_exists()->set_path("/zookeeper/quota");
  EXPECT_TRUE(Answer(exists).exists().exists());
  exists.mutable_exists()->set_path("/zookeeper/quota/x");
  v1::PipelineReply missing = Answer(exists);
  EXPECT_EQ(missing.exists().header().code(), v1::OK);
  EXPECT_FALSE(missing.exists().exists());

  v1::PipelineCall acl;
  acl.mutable_get_acl()->set_path("/zookeeper/config");
  v1::PipelineReply config_acl = Answer(acl);
  ASSERT_EQ(config_acl.get_acl().acl_size(), 1);
  EXPECT_EQ(config_acl.get_acl().acl(0).scheme(), "world");
  EXPECT_EQ(config_acl.get_acl().acl(0).id(), "anyone");
  EXPECT_EQ(config_acl.get_acl().acl(0).perms(), storage::kPermRead);
  acl.mutable_get_acl()->set_path("/zookeeper");
  EXPECT_EQ(Answer(acl).get_acl().acl(0).perms(), storage::kPermAll);

  EXPECT_EQ(SystemDescendants("/"), 3);
  EXPECT_EQ(SystemDescendants("/zookeeper"), 2);
  EXPECT_EQ(SystemDescendants("/zookeeper/quota"), 0);
}

TEST(ZkSystemNodesTest, WritesChangeNothing) {
  v1::PipelineCall create;
  create.mutable_create()->mutable_op()->set_path("/zookeeper");
  EXPECT_EQ(Answer(create).create().header().code(), v1::NODE_EXISTS);
  create.mutable_create()->mutable_op()->set_path("/zookeeper/mine");
  EXPECT_EQ(Answer(create).create().header().code(), v1::PERMISSION_DENIED);
  create.mutable_create()->mutable_op()->set_path("/zookeeper/nope/mine");
  EXPECT_EQ(Answer(create).create().header().code(), v1::NO_NODE);
  // A sequential create next to /zookeeper is an ordinary node.
  create.mutable_create()->mutable_op()->set_path("/zookeeper");
  create.mutable_create()->mutable_op()->set_mode(v1::PERSISTENT_SEQUENTIAL);
  v1::PipelineReply untouched;
  EXPECT_FALSE(AnswerSystemCall(create, kRevision, &untouched));

  v1::PipelineCall set;
  *set.mutable_set()->mutable_op() = Set("/zookeeper/config").set();
  EXPECT_EQ(Answer(set).set().header().code(), v1::PERMISSION_DENIED);
  set.mutable_set()->mutable_op()->set_path("/zookeeper/nope");
  EXPECT_EQ(Answer(set).set().header().code(), v1::NO_NODE);

  v1::PipelineCall del;
  del.mutable_delete_()->mutable_op()->set_path("/zookeeper");
  EXPECT_EQ(Answer(del).delete_().header().code(), v1::NOT_EMPTY);
  del.mutable_delete_()->mutable_op()->set_path("/zookeeper/quota");
  EXPECT_EQ(Answer(del).delete_().header().code(), v1::PERMISSION_DENIED);

  v1::PipelineCall set_acl;
  set_acl.mutable_set_acl()->mutable_op()->set_path("/zookeeper");
  EXPECT_EQ(Answer(set_acl).set_acl().header().code(), v1::PERMISSION_DENIED);
}

TEST(ZkSystemNodesTest, MultiFailsAtTheFirstFailingSystemOp) {
  v1::PipelineCall call;
  *call.mutable_multi()->add_ops() = Set("/a");
  *call.mutable_multi()->add_ops() = Check("/zookeeper", 0);
  *call.mutable_multi()->add_ops() = Set("/zookeeper/quota");
  *call.mutable_multi()->add_ops() = Set("/b");
  v1::PipelineReply reply = Answer(call);
  EXPECT_EQ(reply.multi().header().code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(Codes(reply.multi()),
            (std::vector<v1::ErrorCode>{v1::ROLLED_BACK, v1::ROLLED_BACK, v1::PERMISSION_DENIED,
                                        v1::RUNTIME_INCONSISTENCY}));

  v1::PipelineCall checks;
  *checks.mutable_multi()->add_ops() = Check("/zookeeper", -1);
  *checks.mutable_multi()->add_ops() = Check("/zookeeper/config", 0);
  v1::PipelineReply passed = Answer(checks);
  EXPECT_EQ(passed.multi().header().code(), v1::OK);
  EXPECT_EQ(Codes(passed.multi()), (std::vector<v1::ErrorCode>{v1::OK, v1::OK}));
  *checks.mutable_multi()->add_ops() = Check("/zookeeper/quota", 3);
  EXPECT_EQ(Answer(checks).multi().header().code(), v1::BAD_VERSION);
}

TEST(ZkSystemNodesTest, PassingChecksAreSplitOffAndPutBack) {
  v1::PipelineCall call;
  *call.mutable_multi()->add_ops() = Set("/a");
  *call.mutable_multi()->add_ops() = Check("/zookeeper", 0);
  *call.mutable_multi()->add_ops() = Set("/b");
  v1::PipelineReply none;
  EXPECT_FALSE(AnswerSystemCall(call, kRevision, &none));
  SplitMulti split;
  ASSERT_TRUE(SplitSystemChecks(call, &split));
  ASSERT_EQ(split.forward.multi().ops_size(), 2);
  EXPECT_EQ(split.forward.multi().ops(1).set().path(), "/b");

  // The replica applied both sets.
  v1::PipelineReply ok;
  ok.mutable_multi()->mutable_header()->set_code(v1::OK);
  ok.mutable_multi()->add_results()->set_code(v1::OK);
  ok.mutable_multi()->add_results()->set_code(v1::OK);
  MergeSystemChecks(split, &ok);
  EXPECT_EQ(Codes(ok.multi()), (std::vector<v1::ErrorCode>{v1::OK, v1::OK, v1::OK}));

  // The replica refused the first set: the check after it was not tried.
  v1::PipelineReply failed;
  failed.mutable_multi()->mutable_header()->set_code(v1::BAD_VERSION);
  failed.mutable_multi()->add_results()->set_code(v1::BAD_VERSION);
  failed.mutable_multi()->add_results()->set_code(v1::RUNTIME_INCONSISTENCY);
  MergeSystemChecks(split, &failed);
  EXPECT_EQ(Codes(failed.multi()),
            (std::vector<v1::ErrorCode>{v1::BAD_VERSION, v1::RUNTIME_INCONSISTENCY,
                                        v1::RUNTIME_INCONSISTENCY}));

  // The second set failed: the check before it was rolled back.
  v1::PipelineReply late;
  late.mutable_multi()->mutable_header()->set_code(v1::NO_NODE);
  late.mutable_multi()->add_results()->set_code(v1::ROLLED_BACK);
  late.mutable_multi()->add_results()->set_code(v1::NO_NODE);
  MergeSystemChecks(split, &late);
  EXPECT_EQ(Codes(late.multi()),
            (std::vector<v1::ErrorCode>{v1::ROLLED_BACK, v1::ROLLED_BACK, v1::NO_NODE}));
}

TEST(ZkSystemNodesTest, RootCountsZookeeper) {
  v1::PipelineCall list = Children("/");
  ASSERT_TRUE(IsAboutRoot(list));
  EXPECT_FALSE(IsAboutRoot(Children("/a")));
  v1::PipelineReply first;
  first.mutable_get_children()->mutable_header()->set_code(v1::OK);
  first.mutable_get_children()->add_children("a");
  first.mutable_get_children()->add_child_stats();
  first.mutable_get_children()->mutable_stat()->set_num_children(2);
  first.mutable_get_children()->set_next_page_token("a");
  ShowSystemNodesUnderRoot(list, &first);
  EXPECT_EQ(first.get_children().children_size(), 1);  // not on a page before the last
  EXPECT_EQ(first.get_children().stat().num_children(), 3);

  v1::PipelineReply last = first;
  last.mutable_get_children()->clear_next_page_token();
  last.mutable_get_children()->mutable_stat()->set_num_children(2);
  ShowSystemNodesUnderRoot(list, &last);
  ASSERT_EQ(last.get_children().children_size(), 2);
  EXPECT_EQ(last.get_children().children(1), "zookeeper");
  EXPECT_EQ(last.get_children().child_stats_size(), 2);
  EXPECT_EQ(last.get_children().child_stats(1).num_children(), 2);

  v1::PipelineReply get;
  get.mutable_get()->mutable_header()->set_code(v1::OK);
  ShowSystemNodesUnderRoot(Get("/"), &get);
  EXPECT_EQ(get.get().stat().num_children(), 1);
}

}  // namespace
}  // namespace synod::zk
