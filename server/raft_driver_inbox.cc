// The side of RaftDriver other threads call: they fill its bounded inbox
// (and wake the raft thread) or are answered at once. See raft_driver.h.
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/raft_driver.h"  // IWYU pragma: associated

namespace synod::server {

void RaftDriver::Propose(v1::Command command) {
  const uint64_t id = command.origin_request();
  {
    InboxLock lock(this);
    if (!stopping_ && inbox_.proposals.size() < options_.max_inbox_proposals) {
      inbox_.proposals.push_back(std::move(command));
      return;
    }
  }
  if (metrics_ != nullptr) metrics_->proposals_failed->Inc();
  Outcome outcome;
  outcome.code = v1::UNAVAILABLE;
  outcome.message = "replica overloaded or shutting down; retry";
  tracker_->Complete(id, outcome);
}

void RaftDriver::ReadIndex(uint64_t request_id) {
  Outcome outcome;
  {
    InboxLock lock(this);
    const size_t waiting = inbox_.reads.size() + raft_side_reads_;
    if (stopping_) {
      outcome.code = v1::UNAVAILABLE;
      outcome.message = "replica is shutting down";
    } else if (waiting >= options_.max_queued_reads) {
      outcome.code = v1::RESOURCE_EXHAUSTED;
      outcome.message = absl::StrCat("replica overloaded: ", waiting,
                                     " linearizable reads wait for a read index; retry later");
    } else {
      inbox_.reads.push_back(request_id);
      return;
    }
  }
  tracker_->Complete(request_id, outcome);
}

void RaftDriver::RequestMembership(MembershipRequest request) {
  {
    InboxLock lock(this);
    if (!stopping_) {
      inbox_.membership.push_back(std::move(request));
      return;
    }
  }
  Outcome outcome;
  outcome.code = v1::UNAVAILABLE;
  outcome.message = "replica is shutting down";
  tracker_->Complete(request.request_id, outcome);
}

void RaftDriver::QueryStatus(std::function<void(const DriverStatus&)> done) {
  {
    InboxLock lock(this);
    if (!stopping_) {
      inbox_.status_queries.push_back(std::move(done));
      return;
    }
  }
  done(DriverStatus());  // shutting down: nothing to report, but answer
}

void RaftDriver::DeliverMessages(std::vector<raft::Message> messages) {
  InboxLock lock(this);
  if (stopping_) return;
  for (raft::Message& m : messages) {
    if (inbox_.messages.size() >= options_.max_inbox_messages) break;  // Raft resends
    inbox_.messages.push_back(std::move(m));
  }
}

void RaftDriver::ReportUnreachable(raft::NodeId peer) {
  InboxLock lock(this);
  if (std::find(inbox_.unreachable.begin(), inbox_.unreachable.end(), peer) ==
      inbox_.unreachable.end()) {
    inbox_.unreachable.push_back(peer);
  }
}

void RaftDriver::AdoptLink(int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls) {
  InboxLock lock(this);
  if (stopping_) {
    ::close(fd);
    return;
  }
  inbox_.links.push_back({fd, from, std::move(tls)});
}

void RaftDriver::ReportSnapshot(raft::NodeId peer, bool ok) {
  if (metrics_ != nullptr) (ok ? metrics_->snapshots_sent : metrics_->snapshots_send_failed)->Inc();
  InboxLock lock(this);
  inbox_.snapshot_reports.emplace_back(peer, ok);
}

void RaftDriver::WakeLocked() {
  if (!sleeping_ || signaled_) return;
  if (!stopping_ && inbox_.EmptyBesidesReads() && (inbox_.reads.empty() || reads_paused_)) return;
  signaled_ = true;
  poller_.Wake();
}

}  // namespace synod::server
