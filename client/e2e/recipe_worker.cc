// recipe_worker: one client process of the multi-process recipe tests
// (recipes_e2e_test.cc). Each process has its own Client and session, so a
// kill -9 of the process is a real crash of a lock holder or leader.
//
//   recipe_worker ENDPOINTS SESSION_TIMEOUT_MS lock    LOCK_PATH COUNTER ROUNDS HOLD_MS
//   recipe_worker ENDPOINTS SESSION_TIMEOUT_MS elect   ELECTION_PATH COUNTER ID ROUNDS HOLD_MS
//   recipe_worker ENDPOINTS SESSION_TIMEOUT_MS consume QUEUE_PATH DONE_MARKER
//
// lock / elect: ROUNDS times (0 = once, then hold until killed) take the
// lock or leadership, then prove exclusivity on COUNTER, a node whose data
// is the last fencing token written: read (token, version), require our
// token to be larger, write ours with a conditional set, hold HOLD_MS, and
// require the counter still to hold our token before letting go. A second
// holder at the same time shows up as BAD_VERSION, a token regression or a
// foreign token at the end. Prints "HELD <token>" (lock) or "LEADER
// <token>" (elect) once the counter carries the token.
//
// consume: takes items from the queue and prints "ITEM <data>" for each,
// until DONE_MARKER exists and the queue is empty.
//
// Exit status: 0 done, 2 usage, 3 exclusivity violated, 4 other error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/recipes/leader_election.h"
#include "client/recipes/lock.h"
#include "client/recipes/queue.h"
#include "synod/client.h"

namespace synod {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitViolation = 3;
constexpr int kExitError = 4;

// Every call of a worker may wait out a replica failover.
CallOptions Call() { return CallOptions::Timeout(absl::Seconds(20)); }

void Say(const std::string& line) {
  std::cout << line << std::endl;  // flushed: the test reads it live
}

[[noreturn]] void Fail(int code, const std::string& why) {
  std::cerr << (code == kExitViolation ? "VIOLATION: " : "ERROR: ") << why << std::endl;
  std::_Exit(code);
}

// Writes `token` to `counter` if it is larger than the token there, with a
// conditional set on the version read.
void FenceIn(Client& client, const std::string& counter, uint64_t token) {
  absl::StatusOr<GetResult> got = client.Get(counter, {}, Call());
  if (!got.ok()) Fail(kExitError, absl::StrCat("get ", counter, ": ", got.status().ToString()));
  uint64_t last = 0;
  if (!got->data.empty() && !absl::SimpleAtoi(got->data, &last)) {
    Fail(kExitError, absl::StrCat("counter holds \"", got->data, "\""));
  }
  if (token <= last) {
    Fail(kExitViolation, absl::StrCat("token ", token, " is not above the last written ", last));
  }
  absl::StatusOr<SetResult> set =
      client.Set(counter, absl::StrCat(token), got->stat.version, Call());
  if (ErrorCodeOf(set.status()) == ErrorCode::kBadVersion) {
    Fail(kExitViolation, absl::StrCat("token ", token, ": counter changed under us (version ",
                                      got->stat.version, ")"));
  }
  if (!set.ok()) Fail(kExitError, absl::StrCat("set ", counter, ": ", set.status().ToString()));
}

// The counter must still carry our token when we let go.
void FenceOut(Client& client, const std::string& counter, uint64_t token) {
  absl::StatusOr<GetResult> got = client.Get(counter, {}, Call());
  if (!got.ok()) Fail(kExitError, absl::StrCat("get ", counter, ": ", got.status().ToString()));
  if (got->data != absl::StrCat(token)) {
    Fail(kExitViolation,
         absl::StrCat("token ", token, ": another holder wrote ", got->data, " while we held"));
  }
}

void HoldForever() {
  for (;;) absl::SleepFor(absl::Seconds(1));
}

int RunLock(Client& client, const std::vector<std::string>& a) {
  int rounds = 0, hold_ms = 0;
  if (a.size() != 4 || !absl::SimpleAtoi(a[2], &rounds) || !absl::SimpleAtoi(a[3], &hold_ms)) {
    return kExitUsage;
  }
  const std::string& counter = a[1];
  recipes::Lock lock(&client, a[0]);
  lock.set_on_lost([] { Fail(kExitError, "lock lost with the session"); });
  for (int i = 0; i < std::max(rounds, 1); ++i) {
    absl::StatusOr<uint64_t> token = lock.Acquire(absl::Now() + absl::Seconds(60));
    if (!token.ok()) Fail(kExitError, absl::StrCat("acquire: ", token.status().ToString()));
    FenceIn(client, counter, *token);
    Say(absl::StrCat("HELD ", *token));
    if (rounds == 0) HoldForever();
    absl::SleepFor(absl::Milliseconds(hold_ms));
    FenceOut(client, counter, *token);
    if (absl::Status s = lock.Release(Call()); !s.ok()) {
      Fail(kExitError, absl::StrCat("release: ", s.ToString()));
    }
  }
  return 0;
}

int RunElect(Client& client, const std::vector<std::string>& a) {
  int rounds = 0, hold_ms = 0;
  if (a.size() != 5 || !absl::SimpleAtoi(a[3], &rounds) || !absl::SimpleAtoi(a[4], &hold_ms)) {
    return kExitUsage;
  }
  const std::string& path = a[0];
  const std::string& counter = a[1];
  const std::string& id = a[2];
  for (int i = 0; i < std::max(rounds, 1); ++i) {
    recipes::LeaderElection election(&client, path, id);
    election.set_on_lost([] { Fail(kExitError, "leadership lost with the session"); });
    if (absl::Status s = election.Campaign(absl::Now() + absl::Seconds(60)); !s.ok()) {
      Fail(kExitError, absl::StrCat("campaign: ", s.ToString()));
    }
    // Our term's token: the creation revision of our candidate node, which
    // leads now.
    absl::StatusOr<recipes::LeaderInfo> leader =
        recipes::LeaderElection::CurrentLeader(client, path, Call());
    if (!leader.ok()) Fail(kExitError, absl::StrCat("leader: ", leader.status().ToString()));
    if (leader->value != id) {
      Fail(kExitViolation, absl::StrCat(id, " won, but the election names ", leader->value));
    }
    FenceIn(client, counter, leader->czxid);
    Say(absl::StrCat("LEADER ", leader->czxid));
    if (rounds == 0) HoldForever();
    absl::SleepFor(absl::Milliseconds(hold_ms));
    FenceOut(client, counter, leader->czxid);
    if (absl::Status s = election.Resign(Call()); !s.ok()) {
      Fail(kExitError, absl::StrCat("resign: ", s.ToString()));
    }
  }
  return 0;
}

int RunConsume(Client& client, const std::vector<std::string>& a) {
  if (a.size() != 2) return kExitUsage;
  recipes::DistributedQueue queue(&client, a[0]);
  for (;;) {
    absl::StatusOr<std::string> item = queue.Take(absl::Now() + absl::Seconds(1));
    if (item.ok()) {
      Say(absl::StrCat("ITEM ", *item));
      continue;
    }
    if (ErrorCodeOf(item.status()) != ErrorCode::kDeadlineExceeded) {
      Fail(kExitError, absl::StrCat("take: ", item.status().ToString()));
    }
    absl::StatusOr<ExistsResult> done = client.Exists(a[1], {}, Call());
    if (!done.ok()) Fail(kExitError, absl::StrCat("exists: ", done.status().ToString()));
    if (!done->exists) continue;
    // Every item was offered before the marker: drain what is left.
    for (;;) {
      absl::StatusOr<std::string> last = queue.Poll(Call());
      if (ErrorCodeOf(last.status()) == ErrorCode::kNoNode) return 0;
      if (!last.ok()) Fail(kExitError, absl::StrCat("poll: ", last.status().ToString()));
      Say(absl::StrCat("ITEM ", *last));
    }
  }
}

int Main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: recipe_worker ENDPOINTS SESSION_TIMEOUT_MS lock|elect|consume ...\n";
    return kExitUsage;
  }
  int session_ms = 0;
  if (!absl::SimpleAtoi(argv[2], &session_ms)) return kExitUsage;
  Client::Options o;
  o.endpoints = absl::StrSplit(argv[1], ',', absl::SkipEmpty());
  o.session_timeout = absl::Milliseconds(session_ms);
  o.request_timeout = absl::Seconds(20);
  o.attempt_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(o);
  if (!client.ok()) Fail(kExitError, client.status().ToString());
  const std::string mode = argv[3];
  const std::vector<std::string> args(argv + 4, argv + argc);
  int code = kExitUsage;
  if (mode == "lock") code = RunLock(**client, args);
  if (mode == "elect") code = RunElect(**client, args);
  if (mode == "consume") code = RunConsume(**client, args);
  if (code == kExitUsage) std::cerr << "recipe_worker: bad arguments for " << mode << "\n";
  return code;
}

}  // namespace
}  // namespace synod

int main(int argc, char** argv) { return synod::Main(argc, argv); }
