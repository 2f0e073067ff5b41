// WatchHub over the real apply function and TreeStore event log: the events
// apply produces fire the watches ZooKeeper would fire, and a watch started
// in the past replays from TreeStore exactly what a live watch saw.
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/watch/tree_store_history.h"
#include "server/watch/watch_hub.h"
#include "storage/apply.h"
#include "storage/memory_tree_store.h"
#include "storage/path.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;

class InlineQueue : public TaskRunner {
 public:
  void Post(absl::AnyInvocable<void() &&> task) override { tasks_.push_back(std::move(task)); }
  void RunAll() {
    while (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.erase(tasks_.begin());
      std::move(task)();
    }
  }

 private:
  std::vector<absl::AnyInvocable<void() &&>> tasks_;
};

using Event = std::tuple<uint64_t, v1::EventType, std::string>;

class WatchStoreTest : public ::testing::Test {
 protected:
  WatchStoreTest()
      : history_(&store_),
        applier_(&store_, storage::ApplyLimits()),
        hub_(Options(), &history_, &runner_, store_.meta().applied_index) {}

  static WatchHubOptions Options() {
    WatchHubOptions options;
    options.validate_path = storage::ValidatePath;
    options.history_page_size = 3;
    return options;
  }

  // Applies one command as the next entry and feeds the hub, as the apply
  // thread does (commit first, then OnApplied).
  void Apply(const v1::Command& command) {
    storage::ApplyEntry entry{++index_, &command};
    auto outcomes = applier_.ApplyBatch({&entry, 1});
    ASSERT_TRUE(outcomes.ok()) << outcomes.status();
    ASSERT_EQ(outcomes->size(), 1u);
    last_result_ = outcomes->front().result;
    hub_.OnApplied(outcomes->front().index, outcomes->front().events);
  }
  void Txn(v1::Op op, uint64_t session = 0) {
    v1::Command command;
    command.set_leader_time_ms(1000);
    *command.mutable_txn()->add_ops() = std::move(op);
    command.mutable_write()->set_session_id(session);
    if (session != 0) command.mutable_write()->set_session_secret("s");
    Apply(command);
    ASSERT_EQ(last_result_.code(), v1::OK) << last_result_.ShortDebugString();
  }
  void CreateNode(const std::string& path, v1::CreateMode mode = v1::PERSISTENT,
                  uint64_t session = 0) {
    v1::Op op;
    op.mutable_create()->set_path(path);
    op.mutable_create()->set_mode(mode);
    Txn(op, session);
  }
  void SetNode(const std::string& path, const std::string& data) {
    v1::Op op;
    op.mutable_set()->set_path(path);
    op.mutable_set()->set_data(data);
    Txn(op);
  }
  void DeleteNode(const std::string& path) {
    v1::Op op;
    op.mutable_delete_()->set_path(path);
    Txn(op);
  }
  uint64_t OpenSession() {
    v1::Command command;
    command.mutable_open_session()->set_timeout_ms(10000);
    command.mutable_open_session()->set_secret("s");
    Apply(command);
    return last_result_.session_id();
  }
  void CloseSession(uint64_t id) {
    v1::Command command;
    command.mutable_close_session()->set_session_id(id);
    Apply(command);
  }

  std::vector<Event> Drain(WatchHub::StreamId s, uint64_t watch_id,
                           std::vector<v1::ErrorCode>* cancels = nullptr) {
    std::vector<Event> out;
    v1::WatchResponse r;
    while (hub_.Poll(s, &r)) {
      if (r.watch_id() != watch_id) continue;
      for (const auto& e : r.events()) out.emplace_back(e.revision(), e.type(), e.path());
      if (r.canceled() && cancels != nullptr) cancels->push_back(r.cancel_code());
    }
    return out;
  }

  storage::MemoryTreeStore store_;
  TreeStoreHistory history_;
  storage::Applier applier_;
  InlineQueue runner_;
  WatchHub hub_;
  uint64_t index_ = 0;
  v1::CommandResult last_result_;
};

TEST_F(WatchStoreTest, AppliedWritesFireZooKeeperWatches) {
  auto s = hub_.OpenStream([] {});
  CreateNode("/app");  // 1
  v1::WatchCreateRequest r;
  auto add = [&](uint64_t id, const std::string& path, v1::WatchKind kind) {
    r.set_watch_id(id);
    r.set_path(path);
    r.set_kind(kind);
    hub_.Create(s, r);
  };
  add(1, "/app", v1::WATCH_CHILDREN);
  add(2, "/app/config", v1::WATCH_EXISTS);
  add(3, "/app", v1::WATCH_DATA);
  CreateNode("/app/config");    // 2
  SetNode("/app/config", "x");  // 3
  EXPECT_THAT(Drain(s, 1), ElementsAre(Event(2, v1::EVENT_NODE_CHILDREN_CHANGED, "/app")));
  add(4, "/app/config", v1::WATCH_DATA);
  SetNode("/app/config", "y");  // 4
  EXPECT_THAT(Drain(s, 4), ElementsAre(Event(4, v1::EVENT_NODE_DATA_CHANGED, "/app/config")));
  add(5, "/app/config", v1::WATCH_EXISTS);
  DeleteNode("/app/config");  // 5
  EXPECT_THAT(Drain(s, 5), ElementsAre(Event(5, v1::EVENT_NODE_DELETED, "/app/config")));
  // The child create and delete never touched /app's data.
  EXPECT_EQ(hub_.GetStats().watches, 1u);
}

TEST_F(WatchStoreTest, SessionCloseDeletesEphemeralsAndFiresTheParentsChildWatch) {
  CreateNode("/members");
  const uint64_t session = OpenSession();
  CreateNode("/members/w1", v1::EPHEMERAL, session);
  auto s = hub_.OpenStream([] {});
  v1::WatchCreateRequest r;
  r.set_watch_id(1);
  r.set_path("/members");
  r.set_kind(v1::WATCH_CHILDREN);
  hub_.Create(s, r);
  r.set_watch_id(2);
  r.set_path("/members/w1");
  r.set_kind(v1::WATCH_DATA);
  hub_.Create(s, r);
  CloseSession(session);
  std::vector<v1::ErrorCode> cancels;
  EXPECT_THAT(Drain(s, 1, &cancels),
              ElementsAre(Event(index_, v1::EVENT_NODE_CHILDREN_CHANGED, "/members")));
  EXPECT_THAT(cancels, ElementsAre(v1::OK));  // a one-shot, fired
  hub_.Create(s, r);
  EXPECT_EQ(hub_.GetStats().watches, 1u);
}

TEST_F(WatchStoreTest, WatchFromThePastReplaysWhatALiveWatchSaw) {
  auto s = hub_.OpenStream([] {});
  v1::WatchCreateRequest live;
  live.set_watch_id(1);
  live.set_path("/");
  live.set_kind(v1::WATCH_PERSISTENT_RECURSIVE);
  hub_.Create(s, live);
  CreateNode("/a");
  CreateNode("/a/b");
  for (int i = 0; i < 5; ++i) SetNode("/a/b", std::to_string(i));
  const uint64_t resume_from = index_;
  CreateNode("/c");
  DeleteNode("/a/b");
  const uint64_t session = OpenSession();  // no events
  CreateNode("/c/e", v1::EPHEMERAL, session);
  CloseSession(session);
  std::vector<Event> seen_live = Drain(s, 1);
  ASSERT_EQ(seen_live.size(), 2u + 5 + 4);

  // A second client resumes from revision 2 on this replica.
  v1::WatchCreateRequest resumed = live;
  resumed.set_watch_id(2);
  resumed.set_start_revision(2);
  hub_.Create(s, resumed);
  SetNode("/c", "more");  // live while catching up
  runner_.RunAll();
  std::vector<Event> seen_resumed = Drain(s, 2);
  std::vector<Event> want(seen_live.begin() + 2, seen_live.end());
  want.emplace_back(index_, v1::EVENT_NODE_DATA_CHANGED, "/c");
  EXPECT_EQ(seen_resumed, want);

  // Below the compaction revision: COMPACTED.
  v1::Command compact;
  compact.mutable_compact_history()->set_revision(resume_from);
  Apply(compact);
  resumed.set_watch_id(3);
  resumed.set_start_revision(resume_from - 1);
  hub_.Create(s, resumed);
  runner_.RunAll();
  std::vector<v1::ErrorCode> cancels;
  EXPECT_THAT(Drain(s, 3, &cancels), ::testing::IsEmpty());
  EXPECT_THAT(cancels, ElementsAre(v1::COMPACTED));
}

}  // namespace
}  // namespace synod::server
