// WatchManager against FakeCluster: a watch whose callback is slow holds
// its stream (the executor's WhenBelow bound) instead of queueing every
// event the replica sends, and loses none of them once the callback resumes.
#include <atomic>
#include <memory>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "client/src/core.h"
#include "client/src/executor.h"
#include "client/src/watch.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "tests/testing/wait.h"

namespace synod::client {
namespace {

using ::synod::testing::WaitUntil;

TEST(WatchBackPressure, ASlowCallbackHoldsTheStreamAtTheQueueBound) {
  testing::FakeCluster cluster;
  // Writes without a session are not ordered by the client: they go out
  // together, so the events arrive faster than a held callback takes them.
  Client::Options wo = testing::FakeClientOptions(cluster);
  wo.exactly_once_writes = false;
  std::unique_ptr<Client> writer = testing::ConnectOrDie(wo);
  ASSERT_TRUE(writer->Create("/b", "").ok());

  ClientCore core(testing::FakeClientOptions(cluster), 0, /*seed=*/1,
                  grpc::InsecureChannelCredentials());
  SerialExecutor callbacks;
  WatchManager watches(&core, &callbacks);
  absl::Notification created, first_event, release;
  // An assertion that ends the test early must not leave the callback
  // thread blocked (the executor joins it).
  struct Release {
    absl::Notification* n;
    ~Release() {
      if (!n->HasBeenNotified()) n->Notify();
    }
  } release_at_exit{&release};
  std::atomic<int> events{0};
  watches.Add(
      "/b", WatchKind::kPersistent, 0, 0,
      [&](const WatchEvent&) {
        if (++events == 1) {
          first_event.Notify();
          release.WaitForNotification();  // the slow callback
        }
      },
      [](const absl::Status&) {},
      [&](const absl::Status& s) {
        EXPECT_TRUE(s.ok()) << s;
        created.Notify();
      });
  ASSERT_TRUE(created.WaitForNotificationWithTimeout(absl::Seconds(10)));

  // Four times the bound, one event per write, 64 writes at a time (the
  // fake's synchronous server has a bounded thread pool).
  constexpr int kWrites = 4 * WatchManager::kMaxQueuedCallbacks;
  constexpr int kBatch = 64;
  std::atomic<int> failed{0};
  for (int done = 0; done < kWrites; done += kBatch) {
    absl::BlockingCounter batch(kBatch);
    for (int i = 0; i < kBatch; ++i) {
      writer->SetAsync("/b", "x", -1, {}, [&](absl::StatusOr<SetResult> r) {
        if (!r.ok()) ++failed;
        batch.DecrementCount();
      });
    }
    batch.Wait();
  }
  ASSERT_EQ(failed.load(), 0);
  ASSERT_TRUE(first_event.WaitForNotificationWithTimeout(absl::Seconds(10)));

  // The writes are acknowledged, so the replica has sent their events (the
  // fake queues them before answering). A stream that kept reading would
  // have queued most of them on the callback executor by now; this one
  // reads again only once the executor is below the bound. A round trip
  // through the loop lets responses already read reach the executor.
  absl::Notification loop_turned;
  core.loop().Post([&] { loop_turned.Notify(); });
  ASSERT_TRUE(loop_turned.WaitForNotificationWithTimeout(absl::Seconds(10)));
  constexpr size_t kSlack = 16;  // one response's events, the held task, the next read
  EXPECT_LE(callbacks.max_queued(), WatchManager::kMaxQueuedCallbacks + kSlack);

  // Released, the callback gets every event, in bounded steps.
  release.Notify();
  EXPECT_TRUE(WaitUntil([&] { return events.load() == kWrites; }, absl::Seconds(60)))
      << events.load() << " of " << kWrites << " events";
  EXPECT_LE(callbacks.max_queued(), WatchManager::kMaxQueuedCallbacks + kSlack);

  watches.Shutdown();
  core.tracker().CloseAndWait();
  callbacks.Stop();
  core.loop().Stop();
}

}  // namespace
}  // namespace synod::client
