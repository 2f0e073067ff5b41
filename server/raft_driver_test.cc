// RaftDriver with a real core, log store and apply thread. The test speaks
// for member 2: it hands member 1 messages through DeliverMessages and reads
// what member 1 sends it on a Raft link it accepts (FakePeer). Two clusters:
// voter 1 with learner 2 (1 leads alone), and voters 1 and 2 with the test
// leading as 2.
#include "server/raft_driver.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/metrics/metrics_registry.h"
#include "server/metrics/server_metrics.h"
#include "server/raft_link.h"
#include "storage/memory_tree_store.h"
#include "storage/rocks_env.h"
#include "storage/snapshot_descriptor.h"
#include "tests/testing/free_port.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using synod::testing::WaitUntil;

constexpr uint64_t kClusterId = 7;
constexpr absl::Duration kWait = absl::Seconds(20);

// A TreeStore whose commits wait while its gate is closed: a slow apply.
class GatedStore final : public storage::TreeStore {
 public:
  explicit GatedStore(storage::TreeStore* base) : base_(base) {}

  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  int waiting() const {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }

  storage::StoreMeta meta() override { return base_->meta(); }
  uint32_t history_ring() const override { return base_->history_ring(); }
  absl::Status ResizeHistoryRing(uint32_t ring) override { return base_->ResizeHistoryRing(ring); }
  absl::StatusOr<std::unique_ptr<storage::StateView>> NewView() override {
    return base_->NewView();
  }
  absl::Status Commit(const storage::WriteSet& ws) override {
    {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      mu_.Await(absl::Condition(&open_));
      --waiting_;
    }
    return base_->Commit(ws);
  }

 protected:
  absl::Status BeginRestore(const storage::StoreMeta&) override {
    return absl::UnimplementedError("no restore here");
  }
  absl::Status RestoreChunk(const storage::WriteSet&) override {
    return absl::UnimplementedError("no restore here");
  }
  absl::Status FinishRestore(const storage::StoreMeta&) override {
    return absl::UnimplementedError("no restore here");
  }

 private:
  storage::TreeStore* const base_;
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

// Member 2's end of the Raft links member 1 opens: accepts them one at a
// time and keeps every message they carry, in order.
class FakePeer {
 public:
  FakePeer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakePeer() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    }
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }

  std::string addr() const { return absl::StrCat("127.0.0.1:", port_); }

  // Messages received so far.
  std::vector<raft::Message> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  size_t Count(raft::MessageType type) const {
    absl::MutexLock lock(&mu_);
    size_t n = 0;
    for (const raft::Message& m : received_) n += m.type() == type ? 1 : 0;
    return n;
  }

 private:
  void Serve() {
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // shut down
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) {
          ::close(fd);
          return;
        }
        conn_fd_ = fd;
      }
      ServeLink(fd);
      absl::MutexLock lock(&mu_);
      conn_fd_ = -1;
      ::close(fd);
    }
  }
  void ServeLink(int fd) {
    std::string hello(kLinkHelloBytes, '\0');
    size_t got = 0;
    while (got < hello.size()) {
      const ssize_t n = ::recv(fd, hello.data() + got, hello.size() - got, 0);
      if (n <= 0) return;
      got += static_cast<size_t>(n);
    }
    LinkHello decoded;
    if (!DecodeLinkHello(hello, &decoded)) return;
    const std::string answer = EncodeLinkAnswer(LinkAnswer::kAccepted);
    if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(answer.size())) {
      return;
    }
    LinkFrameReader reader(64u << 20, decoded);
    v1::RaftBatch scratch;
    while (true) {
      std::vector<raft::Message> messages;
      std::string why;
      const bool open = ReadLinkFrames(fd, /*drain=*/false, &reader, &scratch, &messages, &why);
      {
        absl::MutexLock lock(&mu_);
        for (raft::Message& m : messages) received_.push_back(std::move(m));
      }
      if (!open) return;
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int conn_fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<raft::Message> received_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

v1::Command Create(const std::string& path) {
  v1::Command c;
  c.mutable_txn()->add_ops()->mutable_create()->set_path(path);
  return c;
}

// A proposal member `from` forwards (MSG_PROP), made in `proposal_term`.
raft::Message Forwarded(raft::NodeId from, v1::Command c, raft::Term proposal_term) {
  c.set_origin_member(from);
  c.set_proposal_term(proposal_term);
  raft::Message m;
  m.set_type(raft::MessageType::MSG_PROP);
  m.set_from(from);
  m.set_to(1);
  m.add_entries()->set_data(c.SerializeAsString());
  return m;
}

// What member 2 as leader sends: entries after (index, log_term), commit.
raft::Message Append(raft::Term term, raft::LogIndex index, raft::Term log_term,
                     std::vector<raft::Entry> entries, raft::LogIndex commit) {
  raft::Message m;
  m.set_type(raft::MessageType::MSG_APP);
  m.set_from(2);
  m.set_to(1);
  m.set_term(term);
  m.set_index(index);
  m.set_log_term(log_term);
  m.set_commit(commit);
  for (raft::Entry& e : entries) *m.add_entries() = std::move(e);
  return m;
}

raft::Entry MakeEntry(raft::Term term, raft::LogIndex index, std::string data = "") {
  raft::Entry e;
  e.set_term(term);
  e.set_index(index);
  e.set_data(std::move(data));
  return e;
}

struct DriverSetup {
  bool peer_is_voter = false;  // false: 2 is a learner and 1 leads alone
  int election_ticks = 25;
  size_t max_queue_entries = 16384;
  size_t max_queued_reads = 65536;
};

class RaftDriverTest : public ::testing::Test {
 protected:
  void Start(const DriverSetup& setup) {
    v1::Member one;
    one.set_id(1);
    one.set_peer_addr(absl::StrCat("127.0.0.1:", synod::testing::FreePort()));
    v1::Member two;
    two.set_id(2);
    two.set_peer_addr(peer_.addr());
    two.set_learner(!setup.peer_is_voter);
    raft::ConfState conf;
    conf.add_voters(1);
    if (setup.peer_is_voter) {
      conf.add_voters(2);
    } else {
      conf.add_learners(2);
    }

    storage::RocksEnv::Options env_options;
    env_options.path = dir_.Sub("db");
    env_options.block_cache_bytes = 8 << 20;
    absl::StatusOr<std::unique_ptr<storage::RocksEnv>> env = storage::RocksEnv::Open(env_options);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = *std::move(env);
    storage::LogStore::Options log_options;
    log_options.dir = dir_.Sub("log");
    log_options.segment_bytes = 1 << 20;
    absl::StatusOr<std::unique_ptr<storage::LogStore>> log =
        storage::LogStore::Open(log_options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    ASSERT_TRUE(log_->Bootstrap(conf, storage::EncodeSnapshotDescriptor({one, two})).ok());
    snapshots_ = std::make_unique<storage::SnapshotFiles>(dir_.Sub("snap"));
    ASSERT_TRUE(snapshots_->Init().ok());

    StateMachine::Options sm_options;
    sm_options.self = 1;
    sm_options.max_queue_entries = setup.max_queue_entries;
    state_machine_ = std::make_unique<StateMachine>(sm_options, &store_, storage::ApplyLimits(),
                                                    &tracker_, &state_, snapshots_.get());
    PeerTransport::Options transport_options;
    transport_options.cluster_id = kClusterId;
    transport_options.self = 1;
    transport_ = std::make_unique<PeerTransport>(transport_options, nullptr, snapshots_.get(),
                                                 &faults_);
    RaftDriver::Options options;
    options.self = 1;
    options.cluster_id = kClusterId;
    options.tick = absl::Milliseconds(20);
    options.election_ticks = setup.election_ticks;
    options.snapshot_threshold = 0;
    options.max_queued_reads = setup.max_queued_reads;
    options.seed = 42;
    driver_ = std::make_unique<RaftDriver>(options, log_.get(), &store_, transport_.get(),
                                           state_machine_.get(), &tracker_, &state_,
                                           snapshots_.get(), &faults_);
    transport_->set_mailbox(driver_.get());
    driver_->set_metrics(&metrics_);
    state_machine_->Start();
    ASSERT_TRUE(driver_->Start().ok());
    if (!setup.peer_is_voter) {
      ASSERT_TRUE(WaitUntil([&] { return state_.role() == raft::Role::kLeader; }, kWait));
    }
  }

  void TearDown() override {
    store_.Open();
    if (driver_ != nullptr) driver_->Stop();
    if (state_machine_ != nullptr) state_machine_->Stop();
    tracker_.Stop();
    if (transport_ != nullptr) transport_->Stop();
  }

  // Proposes `command` through member 1 as a client write; its outcome
  // lands in outcomes_.
  uint64_t Write(v1::Command command) {
    const uint64_t id = Track();
    command.set_origin_request(id);
    driver_->Propose(std::move(command));
    return id;
  }
  // Registers a request whose outcome lands in outcomes_.
  uint64_t Track() {
    auto slot = std::make_shared<std::atomic<uint64_t>>(0);
    const uint64_t id =
        tracker_.Register(absl::Now() + absl::Minutes(1), [this, slot](const Outcome& o) {
          absl::MutexLock lock(&mu_);
          outcomes_[slot->load()] = o.code;
        });
    slot->store(id);
    return id;
  }
  size_t Answered() {
    absl::MutexLock lock(&mu_);
    return outcomes_.size();
  }
  // Waits for the outcome of request `id`.
  std::optional<v1::ErrorCode> OutcomeOf(uint64_t id) {
    std::optional<v1::ErrorCode> code;
    WaitUntil(
        [&] {
          absl::MutexLock lock(&mu_);
          auto it = outcomes_.find(id);
          if (it == outcomes_.end()) return false;
          code = it->second;
          return true;
        },
        kWait);
    return code;
  }
  bool Exists(const std::string& path) {
    absl::StatusOr<storage::NodeResult> r = memory_.Get(path);
    return r.ok() && r->code == v1::OK;
  }
  // Holds the raft thread (inside a status query) until the returned
  // function is called: whatever reaches the inbox meanwhile is processed
  // in one go.
  std::function<void()> HoldRaftThread() {
    auto entered = std::make_shared<absl::Notification>();
    auto release = std::make_shared<absl::Notification>();
    driver_->QueryStatus([entered, release](const DriverStatus&) {
      entered->Notify();
      release->WaitForNotification();
    });
    entered->WaitForNotification();
    return [release] {
      if (!release->HasBeenNotified()) release->Notify();
    };
  }
  // Returns once the raft thread has processed everything handed to it
  // before the call (the inbox is processed in order; a status query last).
  void Barrier() {
    absl::Notification done;
    driver_->QueryStatus([&done](const DriverStatus&) { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  }
  // Waits until the reply thread ran everything released by applying
  // `index` (the driver fails stale writes from there).
  void WaitRepliesAfter(raft::LogIndex index) {
    absl::Notification done;
    StateMachine* sm = state_machine_.get();
    sm->WaitApplied(
        index, [sm, index, &done] { sm->WaitApplied(index, [&done] { done.Notify(); }, false); },
        false);
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  }

  synod::testing::TempDir dir_;
  FakePeer peer_;
  std::unique_ptr<storage::RocksEnv> env_;
  std::unique_ptr<storage::LogStore> log_;
  storage::MemoryTreeStore memory_;
  GatedStore store_{&memory_};
  std::unique_ptr<storage::SnapshotFiles> snapshots_;
  ReplicaState state_{kClusterId, 1};
  FaultInjection faults_{""};
  RequestTracker tracker_;
  std::unique_ptr<StateMachine> state_machine_;
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<RaftDriver> driver_;
  metrics::MetricsRegistry registry_;
  metrics::ServerMetrics metrics_{&registry_};
  absl::Mutex mu_;
  std::map<uint64_t, v1::ErrorCode> outcomes_ ABSL_GUARDED_BY(mu_);
};

TEST_F(RaftDriverTest, LeaderAppendsForwardedProposalsOnlyInTheirTerm) {
  Start(DriverSetup());
  const raft::Term term = state_.term();
  driver_->DeliverMessages({Forwarded(2, Create("/earlier"), term - 1),
                            Forwarded(2, Create("/later"), term + 1),
                            Forwarded(2, Create("/current"), term)});
  const uint64_t marker = Write(Create("/marker"));
  ASSERT_EQ(OutcomeOf(marker), v1::OK);
  EXPECT_TRUE(Exists("/current"));
  EXPECT_FALSE(Exists("/earlier"));
  EXPECT_FALSE(Exists("/later"));
}

TEST_F(RaftDriverTest, LeaderRefusesProposalsOfNonMembersAndForwardedMembershipChanges) {
  Start(DriverSetup());
  const raft::Term term = state_.term();
  raft::Message change;
  change.set_type(raft::MessageType::MSG_PROP);
  change.set_from(2);
  change.set_to(1);
  raft::ConfChange cc;
  cc.set_type(raft::ConfChange::ADD_LEARNER);
  cc.set_node_id(3);
  v1::Member three;
  three.set_id(3);
  three.set_peer_addr("127.0.0.1:1");
  cc.set_context(three.SerializeAsString());
  raft::Entry* e = change.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(cc.SerializeAsString());
  driver_->DeliverMessages({Forwarded(9, Create("/stranger"), term), change});
  const uint64_t marker = Write(Create("/marker"));
  ASSERT_EQ(OutcomeOf(marker), v1::OK);
  EXPECT_FALSE(Exists("/stranger"));
  EXPECT_EQ(state_.members().size(), 2u);
}

TEST_F(RaftDriverTest, FollowerForwardsNoProposalOfAnotherTerm) {
  DriverSetup setup;
  setup.peer_is_voter = true;
  setup.election_ticks = 250;  // 5 s: 1 keeps following the test's leader
  Start(setup);
  driver_->DeliverMessages({Append(3, 1, 1, {MakeEntry(3, 2)}, 2)});
  ASSERT_TRUE(WaitUntil([&] { return state_.applied() >= 2 && state_.term() == 3; }, kWait));
  driver_->DeliverMessages(
      {Forwarded(2, Create("/old"), 2), Forwarded(2, Create("/now"), 3)});
  auto forwarded = [&](const std::string& path) {
    for (const raft::Message& m : peer_.received()) {
      if (m.type() != raft::MessageType::MSG_PROP) continue;
      for (const raft::Entry& entry : m.entries()) {
        v1::Command c;
        if (c.ParseFromString(entry.data()) && c.txn().ops(0).create().path() == path) return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(WaitUntil([&] { return forwarded("/now"); }, kWait));
  // One link, in order: /old would have arrived first.
  EXPECT_FALSE(forwarded("/old"));
}

TEST_F(RaftDriverTest, WriteProposedAsTheTermChangesIsFiledUnderTheNewTerm) {
  DriverSetup setup;
  setup.peer_is_voter = true;
  setup.election_ticks = 250;  // 5 s: 1 keeps following the test's leader
  Start(setup);
  // Member 2 leads term 2.
  driver_->DeliverMessages({Append(2, 1, 1, {MakeEntry(2, 2)}, 2)});
  ASSERT_TRUE(WaitUntil([&] { return state_.applied() >= 2 && state_.leader() == 2; }, kWait));
  // Member 2 leads term 3 too; a write reaches member 1 in the same breath,
  // before any Ready reports the new term.
  std::function<void()> release = HoldRaftThread();
  absl::Cleanup release_on_failure = release;
  driver_->DeliverMessages({Append(3, 2, 2, {}, 2)});
  const uint64_t w = Write(Create("/w"));
  release();
  raft::Message prop;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const raft::Message& m : peer_.received()) {
          if (m.type() == raft::MessageType::MSG_PROP) {
            prop = m;
            return true;
          }
        }
        return false;
      },
      kWait));
  ASSERT_EQ(prop.entries_size(), 1);
  v1::Command forwarded;
  ASSERT_TRUE(forwarded.ParseFromString(prop.entries(0).data()));
  EXPECT_EQ(forwarded.proposal_term(), 3u);
  // Term 3's first entry is applied: a write of term 2 would be decided now.
  driver_->DeliverMessages({Append(3, 2, 2, {MakeEntry(3, 3)}, 3)});
  ASSERT_TRUE(WaitUntil([&] { return state_.applied() >= 3; }, kWait));
  WaitRepliesAfter(3);
  // The leader of term 3 appends the write: it is applied, and its answer
  // is its result.
  driver_->DeliverMessages({Append(3, 3, 3, {MakeEntry(3, 4, prop.entries(0).data())}, 4)});
  EXPECT_EQ(OutcomeOf(w), v1::OK);
  ASSERT_TRUE(WaitUntil([&] { return state_.applied() >= 4; }, kWait));
  EXPECT_TRUE(Exists("/w"));
}

TEST_F(RaftDriverTest, StalledApplyKeepsTheLeaderTickingAndLeading) {
  DriverSetup setup;
  setup.election_ticks = 10;  // 200 ms
  setup.max_queue_entries = 4;
  Start(setup);
  const raft::Term term = state_.term();
  store_.Close();
  std::vector<uint64_t> writes;
  writes.push_back(Write(Create("/w0")));
  ASSERT_TRUE(WaitUntil([&] { return store_.waiting() == 1; }, kWait));
  // Each write commits (the core is not stalled) while apply waits.
  for (int i = 1; i < 40; ++i) {
    writes.push_back(Write(Create(absl::StrCat("/w", i))));
    const raft::LogIndex before = state_.commit();
    ASSERT_TRUE(WaitUntil([&] { return state_.commit() > before; }, kWait)) << "write " << i;
  }
  // Heartbeats go on for many election timeouts, and 1 still leads.
  const size_t heartbeats = peer_.Count(raft::MessageType::MSG_HEARTBEAT);
  ASSERT_TRUE(WaitUntil(
      [&] { return peer_.Count(raft::MessageType::MSG_HEARTBEAT) >= heartbeats + 50; }, kWait));
  absl::Notification answered;
  driver_->QueryStatus([&](const DriverStatus&) { answered.Notify(); });
  EXPECT_TRUE(answered.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(state_.role(), raft::Role::kLeader);
  EXPECT_EQ(state_.term(), term);
  EXPECT_LT(state_.applied(), state_.commit());
  store_.Open();
  for (uint64_t id : writes) EXPECT_EQ(OutcomeOf(id), v1::OK);
  EXPECT_TRUE(Exists("/w39"));
}

TEST_F(RaftDriverTest, ReadsBeyondTheBoundAreRefusedAtOnce) {
  DriverSetup setup;
  setup.max_queued_reads = 2;
  Start(setup);
  std::function<void()> release = HoldRaftThread();
  absl::Cleanup release_on_failure = release;
  std::vector<uint64_t> reads;
  for (int i = 0; i < 3; ++i) {
    reads.push_back(Track());
    driver_->ReadIndex(reads.back());
  }
  // At once, while the raft thread is held.
  EXPECT_EQ(Answered(), 1u);
  EXPECT_EQ(OutcomeOf(reads[2]), v1::RESOURCE_EXHAUSTED);
  release();
  EXPECT_EQ(OutcomeOf(reads[0]), v1::OK);
  EXPECT_EQ(OutcomeOf(reads[1]), v1::OK);
}

TEST_F(RaftDriverTest, ShutdownAnswersProposedWritesAsOutcomeUnknown) {
  Start(DriverSetup());
  store_.Close();
  const uint64_t w = Write(Create("/w"));
  ASSERT_TRUE(WaitUntil([&] { return store_.waiting() == 1; }, kWait));
  driver_->Stop();
  tracker_.Stop();
  EXPECT_EQ(OutcomeOf(w), v1::DEADLINE_EXCEEDED);
  // And indeed it is applied after that answer: UNAVAILABLE ("did not take
  // effect, retry") would have been wrong.
  store_.Open();
  state_machine_->Stop();
  EXPECT_TRUE(Exists("/w"));
}

// A message from member 2 to member 1 in the current term.
raft::Message FromTwo(raft::MessageType type, raft::Term term) {
  raft::Message m;
  m.set_type(type);
  m.set_from(2);
  m.set_to(1);
  m.set_term(term);
  return m;
}

TEST_F(RaftDriverTest, MessagesTheCoreRefusesAreCounted) {
  Start(DriverSetup());
  const raft::Term term = state_.term();
  raft::Message for_another = FromTwo(raft::MessageType::MSG_HEARTBEAT_RESP, term);
  for_another.set_to(5);
  raft::Message without_term = FromTwo(raft::MessageType::MSG_HEARTBEAT_RESP, 0);
  raft::Message from_stranger = FromTwo(raft::MessageType::MSG_HEARTBEAT_RESP, term);
  from_stranger.set_from(9);  // an answer from a non-member counts in no quorum
  driver_->DeliverMessages({for_another, without_term, from_stranger,
                            FromTwo(raft::MessageType::MSG_HEARTBEAT_RESP, term)});
  Barrier();
  EXPECT_EQ(metrics_.peer_messages_refused->value(), 3u);
  EXPECT_EQ(state_.role(), raft::Role::kLeader);
  EXPECT_EQ(state_.term(), term);
}

TEST_F(RaftDriverTest, MessagesTheCoreRefusesOnAnAdoptedLinkAreCounted) {
  Start(DriverSetup());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  absl::Cleanup close_ours = [&] { ::close(fds[1]); };
  driver_->AdoptLink(fds[0], 2, nullptr);
  Barrier();  // the link is polled from here on
  v1::RaftBatch batch;
  batch.set_cluster_id(kClusterId);
  batch.set_from(2);
  *batch.add_messages() = FromTwo(raft::MessageType::MSG_HEARTBEAT_RESP, 0);  // no term
  *batch.add_messages() = FromTwo(raft::MessageType::MSG_HEARTBEAT_RESP, state_.term());
  std::string frame;
  AppendLinkFrame(batch, &frame);
  ASSERT_EQ(::send(fds[1], frame.data(), frame.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(frame.size()));
  // The frame waits in the socket: the next round of the raft thread reads
  // it before it takes the status query.
  Barrier();
  EXPECT_EQ(metrics_.peer_messages_refused->value(), 1u);
  EXPECT_EQ(metrics_.peer_links_refused->value(), 0u);
}

}  // namespace
}  // namespace synod::server
