// The watch_fanout workload: many watchers on one key, one writer setting
// it, and the time from each set's send to each watcher's receipt.
//
// All watchers watch the same key (kWatchKey), so one write is one fan-out
// to every watcher on every system alike. The writer sends one set at a
// time and sends the next only when every watcher has the event and is
// registered again (a one-shot ZooKeeper watch must be re-armed; persistent
// watches stay armed): no write can fall between an event and a re-arm,
// and the re-arm's cost shows in the events per second, not in the latency.
//
// Thread: RunFanout blocks its caller. FanoutTracker is told by the drivers'
// threads (WatchSink) and read by the writer; one mutex guards it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/load_runner.h"

namespace synod::bench {

// Which write each receipt belongs to, and how long it took. Writes are
// numbered from 1 by BeginWrite; a receipt belongs to the write in flight
// (the writer never has two out), a watcher's second receipt for one write
// is unexpected, and so is any receipt before the first write or for an id
// it does not know.
class FanoutTracker : public WatchSink {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FanoutTracker(int watchers);

  // WatchSink, any thread.
  void Armed(int id) override;
  void Event(int id, Clock::time_point received, bool still_armed) override;
  void Lost(int id, absl::string_view error) override;

  // The writer: starts write n+1, sent at `sent`.
  void BeginWrite(Clock::time_point sent);
  // Waits until every watcher not lost has the current write's event and is
  // armed (before the first write: is armed). False if `deadline` passed.
  bool WaitAllDone(Clock::time_point deadline);

  struct Totals {
    uint64_t writes = 0;
    uint64_t received = 0;    // first receipts of the write in flight
    uint64_t unexpected = 0;  // duplicates and receipts outside any write
    int lost = 0;             // watchers that stopped
    std::vector<double> latencies_us;  // sorted, one per received
    std::vector<std::string> first_errors;
  };
  Totals Snapshot();

 private:
  struct Watcher {
    bool armed = false;
    bool lost = false;
    uint64_t last_write = 0;  // the write whose event it has (0: none)
  };
  // Whether watcher `w` needs nothing more for the current write.
  bool DoneLocked(const Watcher& w) const {
    return w.lost || (w.armed && w.last_write == write_);
  }
  // Re-counts done_ after `w` changed from `was_done`.
  void UpdateLocked(const Watcher& w, bool was_done);
  // Whether `id` is one of ours; a reply for another one (a server answering
  // with an id it was not given) is counted as unexpected.
  bool KnownLocked(int id);
  void NoteErrorLocked(absl::string_view error);

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Watcher> watchers_;
  uint64_t write_ = 0;  // the write in flight (0: none yet)
  Clock::time_point sent_;
  int done_ = 0;  // watchers for which DoneLocked holds
  Totals totals_;
};

struct FanoutOptions {
  int watchers = 1000;
  int connections = 1;  // watcher i is on connection i % connections
  uint64_t writes = 200;
  std::string value;
  int timeout_ms = 10000;  // longest wait for one write's events (and set-up)
};

struct FanoutResult {
  FanoutTracker::Totals totals;
  uint64_t expected = 0;  // watchers x writes sent
  uint64_t write_errors = 0;
  // Writes not fully delivered within the timeout; the run stops at the
  // third (then fewer than options.writes were sent).
  uint64_t incomplete_writes = 0;
  double seconds = 0;              // first send to last delivery
  std::vector<double> ack_us;      // the writer's set round trips, sorted
  std::string setup_error;         // non-empty: nothing was measured
};

// Registers options.watchers watches on kWatchKey over options.connections
// connections (connection c to watch_endpoints[c % size]), then sets the key
// options.writes times through `writer`. `hooks` bracket the writes.
FanoutResult RunFanout(const FanoutOptions& options, Driver* driver,
                       const std::vector<std::string>& watch_endpoints, Connection* writer,
                       const WindowHooks& hooks);

}  // namespace synod::bench
