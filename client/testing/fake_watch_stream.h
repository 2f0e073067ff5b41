// FakeWatchStream: the fake's side of one Watch stream. Creates and
// cancels go to the shared server::WatchHub (which matches events, catches
// up from history and fires one-shots, exactly as on the server); responses
// come back from WatchHub::Poll for a writer thread to send. It adds one test
// control the hub has no call for: Overflow, which does what the hub does
// to a stream whose buffer overflows (queued responses dropped, every watch
// canceled with WATCH_OVERFLOW).
//
// Thread-safety: Request from the stream's reader, WaitReady / Poll from its
// writer, Overflow and Close from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/watch/watch_hub.h"
#include "synod/v1/watch.pb.h"

namespace synod::client::testing {

class FakeWatchStream {
 public:
  // `hub` must outlive the stream.
  explicit FakeWatchStream(server::WatchHub* hub);
  // Closes the hub stream (its watches go with it).
  ~FakeWatchStream();
  FakeWatchStream(const FakeWatchStream&) = delete;
  FakeWatchStream& operator=(const FakeWatchStream&) = delete;

  void Request(const v1::WatchRequest& request);
  // Blocks until a response may be ready; false once closed.
  bool WaitReady();
  // The next response (header left to the caller); false when none is
  // queued.
  bool Poll(v1::WatchResponse* out);
  void Overflow();
  // Wakes WaitReady for good.
  void Close();

 private:
  void Signal();

  server::WatchHub* const hub_;
  server::WatchHub::StreamId id_ = 0;

  // Serializes requests, polls and Overflow, so an overflow drops exactly
  // the responses queued before it.
  absl::Mutex mu_;
  // Watches the client created and has not seen end or canceled itself:
  // the ones an overflow reports.
  std::set<uint64_t> live_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::WatchResponse> overflow_notices_ ABSL_GUARDED_BY(mu_);

  // The hub's on_ready lands here; never held while calling the hub.
  absl::Mutex ready_mu_;
  bool ready_ ABSL_GUARDED_BY(ready_mu_) = false;
  bool closed_ ABSL_GUARDED_BY(ready_mu_) = false;
};

}  // namespace synod::client::testing
