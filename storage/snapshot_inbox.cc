#include "storage/snapshot_inbox.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::storage {

class SnapshotInbox::Transfer {
 public:
  Transfer(uint64_t index, std::string temp_path)
      : index_(index), temp_path_(std::move(temp_path)) {}

  // Inbox thread only, as are the fields below.
  absl::Status Append(FileIO* io, std::string_view data) {
    if (!failed_.ok()) return failed_;
    if (published_) return absl::FailedPreconditionError("snapshot transfer already published");
    if (file_ == nullptr) {
      absl::StatusOr<std::unique_ptr<File>> file =
          io->Open(temp_path_, FileIO::OpenMode::kCreateNew);
      if (!file.ok()) return Fail(io, file.status());
      file_ = *std::move(file);
    }
    if (absl::Status s = file_->PWrite(size_, data); !s.ok()) return Fail(io, s);
    size_ += data.size();
    return absl::OkStatus();
  }

  absl::Status Publish(const SnapshotFiles& files) {
    if (!failed_.ok()) return failed_;
    if (file_ == nullptr) return absl::FailedPreconditionError("empty snapshot transfer");
    file_.reset();
    if (absl::Status s = files.Publish(temp_path_, index_); !s.ok()) return Fail(files.io(), s);
    published_ = true;
    return absl::OkStatus();
  }

  void Remove(FileIO* io) {
    if (published_ || file_ == nullptr) return;
    Fail(io, absl::CancelledError("snapshot transfer abandoned")).IgnoreError();
  }

 private:
  // Remembers the first failure and removes the file (a failure to remove
  // leaves a *.tmp that the next start removes).
  absl::Status Fail(FileIO* io, absl::Status status) {
    if (failed_.ok()) failed_ = status;
    if (file_ != nullptr || status.code() != absl::StatusCode::kAlreadyExists) {
      file_.reset();
      io->Unlink(temp_path_).IgnoreError();
    }
    return status;
  }

  const uint64_t index_;
  const std::string temp_path_;
  std::unique_ptr<File> file_;
  uint64_t size_ = 0;
  bool published_ = false;
  absl::Status failed_;
};

SnapshotInbox::SnapshotInbox(const SnapshotFiles* files, Options options)
    : files_(files), options_(options) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "synod-snap-in");
    Loop();
  });
}

SnapshotInbox::~SnapshotInbox() { Stop(); }

void SnapshotInbox::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<SnapshotInbox::Transfer> SnapshotInbox::NewTransfer(uint64_t index,
                                                                    const std::string& tag) {
  return std::make_shared<Transfer>(index, files_->TempPathFor(index, tag));
}

absl::Status SnapshotInbox::Write(std::shared_ptr<Transfer> transfer, std::string data, Done done) {
  return Enqueue([this, transfer = std::move(transfer), data = std::move(data),
                  done = std::move(done)] { done(transfer->Append(files_->io(), data)); },
                 /*bounded=*/true);
}

absl::Status SnapshotInbox::Publish(std::shared_ptr<Transfer> transfer, Done done) {
  return Enqueue([this, transfer = std::move(transfer),
                  done = std::move(done)] { done(transfer->Publish(*files_)); },
                 /*bounded=*/true);
}

void SnapshotInbox::Abandon(std::shared_ptr<Transfer> transfer) {
  // Refused only once stopped: the next start removes the file.
  Enqueue([this, transfer = std::move(transfer)] { transfer->Remove(files_->io()); },
          /*bounded=*/false)
      .IgnoreError();
}

absl::Status SnapshotInbox::Enqueue(std::function<void()> task, bool bounded) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the snapshot inbox is stopped");
  if (bounded && queue_.size() >= options_.max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat("snapshot inbox full (", options_.max_queued, " writes queued)"));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void SnapshotInbox::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace synod::storage
