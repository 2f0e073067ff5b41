// The session_churn workload's connection: every create it is given runs as
// one whole session cycle (open a session, create the key as an ephemeral of
// it, close the session) on a SessionClient.
//
// A cycle blocks (see SessionClient), so each ChurnConnection has one worker
// thread that runs the cycles issued to it in order and tells their
// completions; the load engine's closed loop, timing and error counting are
// then the same as for every other workload. Run it with one op in flight
// per connection: a second would only queue behind the first.
//
// Thread: Issue from any thread; completions on the worker thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bench/synod_bench/driver.h"

namespace synod::bench {

class ChurnConnection : public Connection {
 public:
  explicit ChurnConnection(std::unique_ptr<SessionClient> client);
  // Finishes the cycle under way; cycles still queued are not run and
  // not told (the load engine has stopped issuing by then).
  ~ChurnConnection() override;

  // Only kCreate is a session cycle; any other kind fails.
  void Issue(OpKind kind, const std::string& key, const std::string& value,
             Completion* done) override;

 private:
  struct Pending {
    OpKind kind;
    std::string key;
    const std::string* value;
    Completion* done;
  };
  void Run();

  std::unique_ptr<SessionClient> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  std::deque<Pending> queue_;
  std::thread worker_;  // last: starts once the rest is constructed
};

}  // namespace synod::bench
