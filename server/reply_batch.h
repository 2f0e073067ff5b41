// ReplyBatch: lets a thread that completes many requests in a row send each
// stream's replies together.
//
// While a ReplyBatch is open on a thread (the apply thread around the
// writes of one applied batch, the reply thread around the reads one batch
// released), a stream answered on that thread defers its write to the
// batch's end instead of writing each reply as it comes: one message and
// one gRPC write per stream per batch rather than one per reply. Nothing
// waits longer than the batch it completes in.
//
// Thread: each ReplyBatch belongs to the thread that opened it; nested
// ones are no-ops (the outermost flushes).
#pragma once

#include <memory>
#include <vector>

namespace synod::server {

class ReplyBatch {
 public:
  // Something with replies queued that it sends when told.
  class Flushable {
   public:
    virtual ~Flushable() = default;
    virtual void Flush() = 0;
  };

  ReplyBatch();
  ~ReplyBatch();  // flushes what was deferred, in order
  ReplyBatch(const ReplyBatch&) = delete;
  ReplyBatch& operator=(const ReplyBatch&) = delete;

  // If a batch is open on this thread, it will Flush `f` at its end: true.
  // Otherwise false: the caller flushes now. The caller defers each
  // Flushable once per batch (it knows whether a flush is pending).
  static bool Defer(std::shared_ptr<Flushable> f);

 private:
  bool outermost_;
  std::vector<std::shared_ptr<Flushable>> deferred_;
};

}  // namespace synod::server
