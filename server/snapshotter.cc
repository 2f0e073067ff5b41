#include "server/snapshotter.h"

#include "absl/time/clock.h"
#include "base/log.h"

namespace synod::server {

Snapshotter::Snapshotter(storage::TreeStore* store, const storage::SnapshotFiles* files,
                         std::function<void(uint64_t, bool)> done)
    : store_(store), files_(files), done_(std::move(done)) {}

Snapshotter::~Snapshotter() { Stop(); }

void Snapshotter::Start() {
  thread_ = std::thread([this] {
    base::NameThread("synod-snapshot");
    // A snapshot is never urgent (the log keeps entries until the next one
    // lands), while its reading and compressing would otherwise compete
    // with applies and fsyncs: on a saturated machine it showed as ~1.5 ms
    // more p99 write latency (bench/README.md, fifth round).
    base::YieldThreadToForeground();
    Loop();
  });
}

void Snapshotter::Request() {
  absl::MutexLock lock(&mu_);
  requested_ = true;
}

uint64_t Snapshotter::MinEntriesBetween() const {
  return last_bytes_.load(std::memory_order_relaxed) / kSnapshotBytesPerEntry;
}

void Snapshotter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Snapshotter::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return requested_ || stopping_; };
      mu_.Await(absl::Condition(&wake));
      if (stopping_) return;
      requested_ = false;
    }
    const absl::Time start = absl::Now();
    const std::string temp = files_->TempPathFor(0, "create");
    // Absent unless an earlier attempt was cut short; NotFound is the rule.
    files_->io()->Unlink(temp).IgnoreError();
    absl::StatusOr<storage::SnapshotInfo> info = store_->WriteSnapshot(temp, files_->io());
    absl::Status published = info.status();
    if (info.ok()) published = files_->Publish(temp, info->meta.applied_index);
    if (!published.ok()) {
      // A failed write or rename (a failed sync aborts) leaves at most the
      // temporary name; if this removal fails too, the next start does it.
      files_->io()->Unlink(temp).IgnoreError();
      base::Log("snapshot failed: %s", published.ToString().c_str());
      done_(0, false);
      continue;
    }
    last_bytes_.store(info->plain_bytes, std::memory_order_relaxed);
    base::Log("snapshot at index %llu written (%llu bytes, %llu before compression, %s)",
              static_cast<unsigned long long>(info->meta.applied_index),
              static_cast<unsigned long long>(info->bytes),
              static_cast<unsigned long long>(info->plain_bytes),
              absl::FormatDuration(absl::Now() - start).c_str());
    done_(info->meta.applied_index, true);
  }
}

}  // namespace synod::server
