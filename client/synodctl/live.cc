// synodctl's long-running commands: watch, elect, lock. Each runs until
// interrupted (Io::interrupt) and then ends cleanly (cancels its watch,
// resigns, releases).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/recipes/leader_election.h"
#include "client/recipes/lock.h"
#include "client/synodctl/commands.h"

extern char** environ;

namespace synod::ctl {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(50);

bool Interrupted(Ctx& ctx) {
  return ctx.io().interrupt != nullptr && ctx.io().interrupt->HasBeenNotified();
}

// Waits until interrupted or `done` says so; looks every 50 ms.
void WaitUntil(Ctx& ctx, const std::function<bool()>& done) {
  while (!Interrupted(ctx) && !done()) absl::SleepFor(kPoll);
}

std::string EventLine(Ctx& ctx, const WatchEvent& e) {
  if (!ctx.json()) {
    return absl::StrCat(e.revision, " ", EventTypeName(e.type), " ", e.path, "\n");
  }
  Json j;
  j["type"] = std::string(EventTypeName(e.type));
  j["path"] = e.path;
  j["revision"] = e.revision;
  if (e.type != EventType::kNodeDeleted) j["stat"] = StatJson(e.stat);
  return JsonLine(j);
}

}  // namespace

absl::Status CmdWatch(Ctx& ctx) {
  WatchOptions o;
  o.kind = ctx.args().recursive ? WatchKind::kPersistentRecursive : WatchKind::kPersistent;
  o.start_revision = ctx.args().from_revision.value_or(0);
  ctx.io().handles_interrupt = true;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::Mutex mu;
  std::optional<absl::Status> ended;
  absl::StatusOr<uint64_t> id = (*client)->Watch(
      ctx.args().path, o, [&ctx](const WatchEvent& e) { ctx.io().Out(EventLine(ctx, e)); },
      [&](const absl::Status& s) {
        absl::MutexLock lock(&mu);
        ended = s;
      },
      ctx.call());
  if (!id.ok()) return id.status();
  WaitUntil(ctx, [&] {
    absl::MutexLock lock(&mu);
    return ended.has_value();
  });
  (*client)->CancelWatch(*id);
  absl::MutexLock lock(&mu);
  return ended.value_or(absl::OkStatus());
}

absl::Status CmdElect(Ctx& ctx) {
  const std::string path = RecipePath("/synod/elections", ctx.args().name);
  ctx.io().handles_interrupt = true;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::unique_ptr<recipes::LeaderObserver>> observer =
      recipes::LeaderObserver::Start(
          *client, path,
          [&ctx](const absl::StatusOr<recipes::LeaderInfo>& leader) {
            if (!leader.ok()) return;  // nobody leads right now
            if (!ctx.json()) {
              ctx.io().Out(absl::StrCat(leader->value, "\n"));
              return;
            }
            Json j;
            j["leader"] = leader->value;
            j["path"] = leader->path;
            j["czxid"] = leader->czxid;
            ctx.io().Out(JsonLine(j));
          },
          ctx.call());
  if (!observer.ok()) return observer.status();
  if (!ctx.args().value.has_value()) {
    WaitUntil(ctx, [] { return false; });
    return absl::OkStatus();
  }
  recipes::LeaderElection election(*client, path, *ctx.args().value);
  while (!Interrupted(ctx)) {
    absl::Status s = election.Campaign(absl::InfiniteFuture(), ctx.io().interrupt);
    if (s.code() == absl::StatusCode::kCancelled) break;
    if (!s.ok()) {
      if (ErrorCodeOf(s) != ErrorCode::kSessionExpired) return s;
      continue;  // our candidacy went with the session: rejoin
    }
    WaitUntil(ctx, [&] { return !election.is_leader(); });
    if (!Interrupted(ctx)) ctx.io().Err("lost leadership (session expired); campaigning again\n");
  }
  return election.Resign(ctx.call());
}

namespace {

// Runs `argv` with the lock's token in its environment. Returns its pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, uint64_t token,
                            const std::string& path) {
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "SYNOD_LOCK_", 11) != 0) env_storage.emplace_back(*e);
  }
  env_storage.push_back(absl::StrCat("SYNOD_LOCK_TOKEN=", token));
  env_storage.push_back(absl::StrCat("SYNOD_LOCK_PATH=", path));
  std::vector<char*> envp, args;
  for (std::string& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  // synodctl blocks SIGINT/SIGTERM in its threads (a signal thread takes
  // them): the command must get them back with default actions.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return SynodError(ErrorCode::kInvalidArgument,
                      absl::StrCat("cannot run ", argv[0], ": ", std::strerror(rc)));
  }
  return pid;
}

int ExitStatusOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

}  // namespace

absl::Status CmdLock(Ctx& ctx) {
  const std::string path = RecipePath("/synod/locks", ctx.args().name);
  if (ctx.args().command_given && ctx.args().command.empty()) {
    return UsageError("lock NAME -- COMMAND: COMMAND is missing");
  }
  ctx.io().handles_interrupt = true;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  recipes::Lock lock(*client, path);
  std::atomic<bool> lost{false};
  lock.set_on_lost([&] { lost = true; });
  absl::StatusOr<uint64_t> token = lock.Acquire(absl::InfiniteFuture(), ctx.io().interrupt);
  if (!token.ok()) {
    if (token.status().code() == absl::StatusCode::kCancelled) {
      return absl::CancelledError("interrupted before the lock was taken");
    }
    return token.status();
  }
  if (ctx.json()) {
    Json j;
    j["path"] = path;
    j["token"] = *token;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(absl::StrCat(*token, "\n"));
  }
  const absl::Status lost_error =
      SynodError(ErrorCode::kSessionExpired, "the session ended: the lock was lost");
  if (ctx.args().command.empty()) {
    WaitUntil(ctx, [&] { return lost.load(); });
    if (lost) return lost_error;
    return lock.Release(ctx.call());
  }
  absl::StatusOr<pid_t> pid = Spawn(ctx.args().command, *token, path);
  if (!pid.ok()) {
    lock.Release(ctx.call()).IgnoreError();
    return pid.status();
  }
  int wait_status = 0;
  bool signalled = false;
  for (;;) {
    const pid_t r = waitpid(*pid, &wait_status, WNOHANG);
    if (r == *pid || (r < 0 && errno != EINTR)) break;
    if (!signalled && (Interrupted(ctx) || lost)) {
      // Stop the command: it must not go on without the lock (or the
      // user asked).
      kill(*pid, SIGTERM);
      signalled = true;
    }
    absl::SleepFor(kPoll);
  }
  if (lost) return lost_error;
  absl::Status released = lock.Release(ctx.call());
  if (!released.ok()) return released;
  ctx.exit_override = ExitStatusOf(wait_status);
  return absl::OkStatus();
}

}  // namespace synod::ctl
