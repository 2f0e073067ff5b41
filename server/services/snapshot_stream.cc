#include "server/services/snapshot_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crc32c.h"
#include "base/log.h"
#include "server/error_mapping.h"

namespace synod::server {

// One Cluster.Snapshot call. Keeps itself alive (self_) until gRPC calls
// OnDone; worker tasks hold their own reference, so a task that runs after
// the call ended finds the object and sees `finished_`.
//
// Thread: the pipeline alternates between the worker (prepare / read a
// chunk, then StartWrite) and a gRPC thread (OnWriteDone, which posts the
// next read): at most one of them touches the file and chunk_ at a time.
// OnCancel may come from any gRPC thread at any moment: mu_ decides who
// calls Finish, exactly once. gRPC is never called with mu_ held.
class SnapshotStreamer::Stream final : public grpc::ServerWriteReactor<v1::SnapshotChunk>,
                                       public std::enable_shared_from_this<Stream> {
 public:
  explicit Stream(SnapshotStreamer* owner) : owner_(owner) {}
  ~Stream() override {
    if (fd_ >= 0) close(fd_);
    if (admitted_) owner_->active_.fetch_sub(1);
  }

  // Called once, right after construction: from here on the object lives
  // until OnDone.
  void Begin() { self_ = shared_from_this(); }

  // Takes one of the owner's `max_concurrent` slots; false if none is free.
  bool Admit() {
    if (owner_->active_.fetch_add(1) >= owner_->options_.max_concurrent) {
      owner_->active_.fetch_sub(1);
      return false;
    }
    admitted_ = true;
    return true;
  }

  // Finishes the call with a Synod error (unless it already finished).
  void Fail(v1::ErrorCode code, const std::string& message) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    v1::ResponseHeader header;
    owner_->state_->FillHeader(&header, code, message);
    Finish(ToGrpcStatus(header));
  }

  // Worker: writes the snapshot file and sends the first chunk.
  void Prepare() {
    if (Done()) return;
    const std::string path =
        owner_->files_->TempPathFor(0, absl::StrCat("backup-", owner_->next_tag_.fetch_add(1)));
    std::remove(path.c_str());
    absl::StatusOr<storage::SnapshotInfo> info = owner_->store_->WriteSnapshot(path);
    if (!info.ok()) {
      std::remove(path.c_str());
      base::Log(base::LogLevel::kWarning, "event=backup_failed error=%s",
                base::LogQuote(info.status().ToString()).c_str());
      Fail(ErrorCodeFor(info.status()),
           absl::StrCat("cannot write the snapshot: ", info.status().message()));
      return;
    }
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const int open_errno = errno;
    // Unlinked at once: the open descriptor keeps the bytes readable, and
    // nothing is left behind however the call ends.
    std::remove(path.c_str());
    if (fd_ < 0) {
      Fail(v1::INTERNAL, absl::StrCat("cannot open ", path, ": ", std::strerror(open_errno)));
      return;
    }
    size_ = info->bytes;
    file_name_ = absl::StrCat("snap-", info->meta.applied_index, ".snap");
    base::Log("event=backup_snapshot index=%llu bytes=%llu digest=%016llx",
              static_cast<unsigned long long>(info->meta.applied_index),
              static_cast<unsigned long long>(info->bytes),
              static_cast<unsigned long long>(info->meta.digest));
    chunk_.Clear();
    chunk_.set_applied_index(info->meta.applied_index);
    chunk_.set_digest(info->meta.digest);
    chunk_.set_format_version(info->format_version);
    for (const v1::Member& m : owner_->state_->members()) *chunk_.add_members() = m;
    SendNext();
  }

  // Worker: reads the next piece into chunk_ (after the manifest fields, if
  // this is the first chunk) and starts writing it.
  void SendNext() {
    const uint64_t n = std::min<uint64_t>(owner_->options_.chunk_bytes, size_ - offset_);
    std::string* data = chunk_.mutable_data();
    data->resize(n);
    uint64_t got = 0;
    while (got < n) {
      const ssize_t r = pread(fd_, data->data() + got, n - got, static_cast<off_t>(offset_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        Fail(v1::INTERNAL,
             absl::StrCat("reading the snapshot: ", r < 0 ? std::strerror(errno) : "file shrank"));
        return;
      }
      got += static_cast<uint64_t>(r);
    }
    chunk_.set_file_name(file_name_);
    chunk_.set_offset(offset_);
    crc_.Update(*data);
    offset_ += n;
    const bool last = offset_ == size_;
    if (last) {
      chunk_.set_last_in_file(true);
      chunk_.set_done(true);
      chunk_.set_crc32c(crc_.value());
    }
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      last_ = last;
      if (finished_) return;
      if (cancelled_) {
        finished_ = true;
        cancelled = true;
      } else {
        writing_ = true;
      }
    }
    if (cancelled) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot call cancelled"));
    } else {
      StartWrite(&chunk_);
    }
  }

  void OnWriteDone(bool ok) override {
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (finished_) return;
      if (ok && !cancelled_ && !last_) {
        std::shared_ptr<Stream> self = shared_from_this();
        owner_->worker_.Post([self] {
          self->chunk_.Clear();
          self->SendNext();
        });
        return;
      }
      finished_ = true;
      if (!ok || cancelled_) {
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      }
    }
    Finish(finish);
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // A write in flight ends with OnWriteDone(false), which finishes.
      if (writing_ || finished_) return;
      finished_ = true;
    }
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot call cancelled"));
  }

  void OnDone() override {
    // May destroy this object (unless a worker task still holds it).
    std::shared_ptr<Stream> last = std::move(self_);
  }

 private:
  bool Done() {
    absl::MutexLock lock(&mu_);
    return finished_;
  }

  SnapshotStreamer* const owner_;
  std::shared_ptr<Stream> self_;
  bool admitted_ = false;
  // Pipeline state (see the class comment).
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t offset_ = 0;  // bytes already handed to StartWrite
  std::string file_name_;
  base::Crc32cStream crc_;
  v1::SnapshotChunk chunk_;

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish was (or is being) called
  bool last_ ABSL_GUARDED_BY(mu_) = false;      // chunk_ is (or was) the last one
};

SnapshotStreamer::SnapshotStreamer(const Options& options, storage::TreeStore* store,
                                   const storage::SnapshotFiles* files, const ReplicaState* state)
    : options_(options), store_(store), files_(files), state_(state) {}

SnapshotStreamer::~SnapshotStreamer() { worker_.Stop(); }

grpc::ServerWriteReactor<v1::SnapshotChunk>* SnapshotStreamer::Start(
    const v1::SnapshotRequest& /*request*/) {
  auto stream = std::make_shared<Stream>(this);
  stream->Begin();
  if (!state_->serving()) {
    stream->Fail(v1::UNAVAILABLE, "this replica is shutting down");
  } else if (store_->meta().applied_index == 0) {
    stream->Fail(v1::UNAVAILABLE, "this replica has no state yet (it is still joining)");
  } else if (!stream->Admit()) {
    stream->Fail(v1::UNAVAILABLE,
                 absl::StrCat("this replica is already writing ", options_.max_concurrent,
                              " backups; retry later or ask another replica"));
  } else {
    worker_.Post([stream] { stream->Prepare(); });
  }
  return stream.get();
}

}  // namespace synod::server
