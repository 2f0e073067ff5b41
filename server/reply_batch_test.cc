#include "server/reply_batch.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace synod::server {
namespace {

class Counter : public ReplyBatch::Flushable {
 public:
  void Flush() override { ++flushes; }
  int flushes = 0;
};

TEST(ReplyBatchTest, WithoutABatchTheCallerFlushes) {
  auto c = std::make_shared<Counter>();
  EXPECT_FALSE(ReplyBatch::Defer(c));
  EXPECT_EQ(c->flushes, 0);
}

TEST(ReplyBatchTest, TheOutermostBatchFlushesWhatWasDeferredAtItsEnd) {
  auto a = std::make_shared<Counter>();
  auto b = std::make_shared<Counter>();
  {
    ReplyBatch outer;
    EXPECT_TRUE(ReplyBatch::Defer(a));
    {
      ReplyBatch inner;
      EXPECT_TRUE(ReplyBatch::Defer(b));
    }
    EXPECT_EQ(b->flushes, 0) << "an inner batch must not flush";
    EXPECT_EQ(a->flushes, 0);
  }
  EXPECT_EQ(a->flushes, 1);
  EXPECT_EQ(b->flushes, 1);
  EXPECT_FALSE(ReplyBatch::Defer(a)) << "the batch is closed";
}

TEST(ReplyBatchTest, ABatchBelongsToItsThread) {
  auto c = std::make_shared<Counter>();
  ReplyBatch batch;
  bool deferred_elsewhere = true;
  std::thread other([&] { deferred_elsewhere = ReplyBatch::Defer(c); });
  other.join();
  EXPECT_FALSE(deferred_elsewhere);
}

// A flush may defer again (it answers more): that is flushed too.
TEST(ReplyBatchTest, WhatAFlushDefersIsFlushedBeforeTheBatchCloses) {
  auto later = std::make_shared<Counter>();
  class Chain : public ReplyBatch::Flushable {
   public:
    explicit Chain(std::shared_ptr<Counter> next) : next_(std::move(next)) {}
    void Flush() override { EXPECT_TRUE(ReplyBatch::Defer(next_)); }

   private:
    std::shared_ptr<Counter> next_;
  };
  {
    ReplyBatch batch;
    EXPECT_TRUE(ReplyBatch::Defer(std::make_shared<Chain>(later)));
  }
  EXPECT_EQ(later->flushes, 1);
}

}  // namespace
}  // namespace synod::server
