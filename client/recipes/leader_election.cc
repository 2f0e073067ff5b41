#include "client/recipes/leader_election.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::recipes {
namespace {

constexpr char kPrefix[] = "candidate-";

}  // namespace

LeaderElection::LeaderElection(Client* client, std::string path, std::string value)
    : client_(client), path_(std::move(path)), value_(std::move(value)) {
  listener_ = client_->AddSessionListener([this](SessionState s, uint64_t) {
    if (s != SessionState::kExpired) return;
    std::function<void()> lost;
    {
      absl::MutexLock lock(&mu_);
      if (leader_) lost = on_lost_;
      leader_ = false;
      ticket_.reset();
    }
    if (lost) lost();
  });
}

LeaderElection::~LeaderElection() {
  client_->RemoveSessionListener(listener_);
  // Best effort (a destructor cannot report): a candidacy left behind is
  // ephemeral and goes when the session ends, which ends the leadership.
  Resign(CallOptions::Timeout(absl::Seconds(2))).IgnoreError();
}

absl::Status LeaderElection::Campaign(absl::Time deadline, const absl::Notification* stop) {
  std::optional<Ticket> ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket = ticket_;
  }
  if (!ticket.has_value()) {
    absl::StatusOr<Ticket> t = TakeTicket(*client_, path_, kPrefix, value_, deadline);
    if (!t.ok()) return t.status();
    ticket = *t;
    absl::MutexLock lock(&mu_);
    ticket_ = ticket;
  }
  absl::Status s = WaitForTurn(*client_, path_, *ticket, PredecessorBlocks, deadline, true, stop);
  absl::MutexLock lock(&mu_);
  if (s.ok() && ticket_.has_value() && ticket_->path == ticket->path) {
    leader_ = true;
  } else if (ErrorCodeOf(s) == ErrorCode::kSessionExpired) {
    ticket_.reset();
  }
  return s;
}

absl::Status LeaderElection::Resign(const CallOptions& call) {
  std::optional<Ticket> ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket.swap(ticket_);
    leader_ = false;
  }
  if (!ticket.has_value()) return absl::OkStatus();
  absl::StatusOr<DeleteResult> d = client_->Delete(ticket->path, -1, call);
  if (!d.ok() && ErrorCodeOf(d.status()) != ErrorCode::kNoNode) return d.status();
  return absl::OkStatus();
}

bool LeaderElection::is_leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

void LeaderElection::set_on_lost(std::function<void()> on_lost) {
  absl::MutexLock lock(&mu_);
  on_lost_ = std::move(on_lost);
}

absl::StatusOr<LeaderInfo> LeaderElection::CurrentLeader(Client& client, const std::string& path,
                                                         const CallOptions& call) {
  // The lowest candidate may resign between the listing and the read: then
  // look again.
  for (int attempt = 0; attempt < 10; ++attempt) {
    absl::StatusOr<ChildrenResult> kids = client.GetChildren(path, {}, call);
    if (!kids.ok()) return kids.status();
    std::vector<std::string> line = SortBySequence(std::move(kids->children));
    if (line.empty()) return SynodError(ErrorCode::kNoNode, absl::StrCat("no leader at ", path));
    const std::string leader = absl::StrCat(path, "/", line.front());
    absl::StatusOr<GetResult> got = client.Get(leader, {}, call);
    if (got.ok()) return LeaderInfo{std::move(got->data), leader, got->stat.czxid};
    if (ErrorCodeOf(got.status()) != ErrorCode::kNoNode) return got.status();
  }
  return SynodError(ErrorCode::kUnavailable, absl::StrCat("leadership at ", path, " keeps moving"));
}

absl::StatusOr<std::unique_ptr<LeaderObserver>> LeaderObserver::Start(Client* client,
                                                                      std::string path,
                                                                      OnChange on_change,
                                                                      const CallOptions& call) {
  const absl::Time deadline = call.deadline.value_or(absl::Now() + absl::Seconds(10));
  if (absl::Status s = EnsureContainer(*client, path, deadline); !s.ok()) return s;
  std::unique_ptr<LeaderObserver> o(new LeaderObserver(client, path, std::move(on_change)));
  LeaderObserver* self = o.get();
  absl::StatusOr<uint64_t> id = client->Watch(
      path, {WatchKind::kPersistent},
      [self](const WatchEvent& e) {
        if (e.type == EventType::kNodeChildrenChanged || e.type == EventType::kNodeDeleted ||
            e.type == EventType::kNodeCreated) {
          self->Refresh();
        }
      },
      nullptr, CallOptions{deadline});
  if (!id.ok()) return id.status();
  o->watch_id_ = *id;
  o->Refresh();
  return o;
}

LeaderObserver::LeaderObserver(Client* client, std::string path, OnChange on_change)
    : client_(client), path_(std::move(path)), on_change_(std::move(on_change)) {}

LeaderObserver::~LeaderObserver() { client_->CancelWatch(watch_id_); }

void LeaderObserver::Refresh() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LeaderInfo> leader = LeaderElection::CurrentLeader(*client_, path_);
  if (!leader.ok() && ErrorCodeOf(leader.status()) != ErrorCode::kNoNode) return;
  std::optional<std::string> now;
  if (leader.ok()) now = leader->path;
  if (reported_ && last_ == now) return;
  reported_ = true;
  last_ = now;
  on_change_(leader);
}

}  // namespace synod::recipes
