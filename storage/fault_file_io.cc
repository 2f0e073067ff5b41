#include "storage/fault_file_io.h"

#include <cerrno>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace synod::storage {

class FaultFile final : public File {
 public:
  FaultFile(FaultFileIO* io, std::string path, std::shared_ptr<FaultFileIO::Inode> inode)
      : io_(io), path_(std::move(path)), inode_(std::move(inode)) {}

  absl::Status PWrite(uint64_t offset, std::string_view data) override {
    absl::MutexLock lock(&io_->mu_);
    int err = 0;
    switch (io_->Begin(absl::StrCat("pwrite ", path_, " ", offset, " ", data.size()), &err)) {
      case FaultFileIO::Step::kFail:
        return ErrnoStatus(err, "write " + path_);
      case FaultFileIO::Step::kCrash:
        if (auto it = io_->image_inodes_.find(inode_.get()); it != io_->image_inodes_.end()) {
          Write(&it->second->live, offset, data.substr(0, std::min(data.size(), io_->torn_bytes_)));
        }
        break;
      case FaultFileIO::Step::kRun:
        break;
    }
    Write(&inode_->live, offset, data);
    return absl::OkStatus();
  }

  absl::Status PRead(uint64_t offset, size_t n, char* out) const override {
    absl::MutexLock lock(&io_->mu_);
    const std::string& live = inode_->live;
    if (offset + n > live.size()) {
      return absl::OutOfRangeError(absl::StrCat("read ", path_, ": short file"));
    }
    live.copy(out, n, offset);
    return absl::OkStatus();
  }

  absl::Status DataSync() override {
    absl::MutexLock lock(&io_->mu_);
    int err = 0;
    switch (io_->Begin("datasync " + path_, &err)) {
      case FaultFileIO::Step::kFail:
        return ErrnoStatus(err, "sync " + path_);
      case FaultFileIO::Step::kCrash:
      case FaultFileIO::Step::kRun:
        break;
    }
    inode_->durable = inode_->live;
    return absl::OkStatus();
  }

  void WriteBack(uint64_t, uint64_t) override {}

  static void Write(std::string* bytes, uint64_t offset, std::string_view data) {
    if (bytes->size() < offset + data.size()) bytes->resize(offset + data.size(), '\0');
    bytes->replace(offset, data.size(), data.data(), data.size());
  }

  absl::StatusOr<uint64_t> Size() const override {
    absl::MutexLock lock(&io_->mu_);
    return inode_->live.size();
  }

 private:
  FaultFileIO* const io_;
  const std::string path_;
  const std::shared_ptr<FaultFileIO::Inode> inode_;
};

FaultFileIO::Step FaultFileIO::Begin(const std::string& what, int* err) {
  const uint64_t op = ops_++;
  trace_.push_back(what);
  if (op == crash_at_) {
    crashed_ = true;
    TakeImage();
    return Step::kCrash;
  }
  if (auto it = fail_at_.find(op); it != fail_at_.end()) {
    *err = it->second;
    return Step::kFail;
  }
  return Step::kRun;
}

FaultFileIO::Dir* FaultFileIO::DirOf(const std::string& path, std::string* name) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto it = dirs_.find(dir);
  return it == dirs_.end() ? nullptr : &it->second;
}

std::shared_ptr<FaultFileIO::Inode> FaultFileIO::Find(const std::string& path) const {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto d = dirs_.find(dir);
  if (d == dirs_.end()) return nullptr;
  auto f = d->second.live.find(name);
  return f == d->second.live.end() ? nullptr : f->second;
}

void FaultFileIO::TakeImage() {
  image_.clear();
  image_inodes_.clear();
  const auto copy = [&](const std::shared_ptr<Inode>& inode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::shared_ptr<Inode>& clone = image_inodes_[inode.get()];
    if (clone == nullptr) clone = std::make_shared<Inode>(*inode);
    return clone;
  };
  for (const auto& [path, dir] : dirs_) {
    Dir& to = image_[path];
    for (const auto& [name, inode] : dir.live) to.live[name] = copy(inode);
    for (const auto& [name, inode] : dir.durable) to.durable[name] = copy(inode);
  }
}

absl::StatusOr<std::unique_ptr<File>> FaultFileIO::Open(const std::string& path, OpenMode mode) {
  absl::MutexLock lock(&mu_);
  std::string name;
  Dir* dir = DirOf(path, &name);
  if (dir == nullptr) return ErrnoStatus(ENOENT, "open " + path);
  std::shared_ptr<Inode> inode = Find(path);
  if (mode == OpenMode::kExisting || mode == OpenMode::kRead) {
    if (inode == nullptr) return ErrnoStatus(ENOENT, "open " + path);
    return std::make_unique<FaultFile>(this, path, inode);
  }
  if (mode == OpenMode::kCreateNew && inode != nullptr) return ErrnoStatus(EEXIST, "open " + path);
  int err = 0;
  switch (Begin("create " + path, &err)) {
    case Step::kFail:
      return ErrnoStatus(err, "open " + path);
    case Step::kCrash:
    case Step::kRun:
      break;
  }
  if (inode == nullptr) {
    inode = std::make_shared<Inode>();
    dir->live[name] = inode;
  } else {
    inode->live.clear();
  }
  return std::make_unique<FaultFile>(this, path, inode);
}

absl::Status FaultFileIO::Rename(const std::string& from, const std::string& to) {
  absl::MutexLock lock(&mu_);
  int err = 0;
  switch (Begin("rename " + from + " " + to, &err)) {
    case Step::kFail:
      return ErrnoStatus(err, "rename " + from);
    case Step::kCrash:
    case Step::kRun:
      break;
  }
  std::string from_name, to_name;
  Dir* from_dir = DirOf(from, &from_name);
  Dir* to_dir = DirOf(to, &to_name);
  if (from_dir == nullptr || to_dir == nullptr || !from_dir->live.contains(from_name)) {
    return ErrnoStatus(ENOENT, "rename " + from);
  }
  std::shared_ptr<Inode> inode = from_dir->live[from_name];
  from_dir->live.erase(from_name);
  to_dir->live[to_name] = std::move(inode);
  return absl::OkStatus();
}

absl::Status FaultFileIO::Unlink(const std::string& path) {
  absl::MutexLock lock(&mu_);
  int err = 0;
  switch (Begin("unlink " + path, &err)) {
    case Step::kFail:
      return ErrnoStatus(err, "delete " + path);
    case Step::kCrash:
    case Step::kRun:
      break;
  }
  std::string name;
  Dir* dir = DirOf(path, &name);
  if (dir == nullptr || dir->live.erase(name) == 0) return ErrnoStatus(ENOENT, "delete " + path);
  return absl::OkStatus();
}

absl::Status FaultFileIO::SyncDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  int err = 0;
  switch (Begin("syncdir " + dir, &err)) {
    case Step::kFail:
      return ErrnoStatus(err, "fsync " + dir);
    case Step::kCrash:
    case Step::kRun:
      break;
  }
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return ErrnoStatus(ENOENT, "open " + dir);
  it->second.durable = it->second.live;
  return absl::OkStatus();
}

absl::StatusOr<bool> FaultFileIO::CreateDir(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const bool created = !dirs_.contains(dir);
  // The directory and its ancestors ("a/b/c": "a", "a/b", "a/b/c").
  for (size_t slash = dir.find('/', 1); slash != std::string::npos;
       slash = dir.find('/', slash + 1)) {
    dirs_[dir.substr(0, slash)];
  }
  dirs_[dir];
  return created;
}

absl::StatusOr<std::vector<std::string>> FaultFileIO::List(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return ErrnoStatus(ENOENT, "list " + dir);
  std::vector<std::string> names;
  for (const auto& [name, inode] : it->second.live) names.push_back(name);
  return names;
}

void FaultFileIO::CrashAtOp(uint64_t op, size_t torn_bytes) {
  absl::MutexLock lock(&mu_);
  crash_at_ = op;
  torn_bytes_ = torn_bytes;
}

void FaultFileIO::FailAtOp(uint64_t op, int err) {
  absl::MutexLock lock(&mu_);
  fail_at_[op] = err;
}

bool FaultFileIO::crashed() const {
  absl::MutexLock lock(&mu_);
  return crashed_;
}

void FaultFileIO::PowerCut(bool keep_data, bool keep_names) {
  absl::MutexLock lock(&mu_);
  if (crashed_) {
    dirs_ = std::move(image_);
    image_.clear();
    image_inodes_.clear();
  }
  std::set<Inode*> inodes;
  for (auto& [path, dir] : dirs_) {
    for (auto& [name, inode] : dir.live) inodes.insert(inode.get());
    for (auto& [name, inode] : dir.durable) inodes.insert(inode.get());
  }
  for (Inode* inode : inodes) {
    if (keep_data) {
      inode->durable = inode->live;
    } else {
      inode->live = inode->durable;
    }
  }
  for (auto& [path, dir] : dirs_) {
    if (keep_names) {
      dir.durable = dir.live;
    } else {
      dir.live = dir.durable;
    }
  }
  ops_ = 0;
  trace_.clear();
  crash_at_ = kNever;
  crashed_ = false;
  fail_at_.clear();
}

std::vector<std::string> FaultFileIO::trace() const {
  absl::MutexLock lock(&mu_);
  return trace_;
}

size_t FaultFileIO::WriteSize(const std::string& trace_line) {
  const std::vector<std::string> parts = absl::StrSplit(trace_line, ' ');
  size_t n = 0;
  if (parts.size() != 4 || parts[0] != "pwrite" || !absl::SimpleAtoi(parts[3], &n)) return 0;
  return n;
}

uint64_t FaultFileIO::ops() const {
  absl::MutexLock lock(&mu_);
  return ops_;
}

std::string FaultFileIO::Contents(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Inode> inode = Find(path);
  return inode == nullptr ? std::string() : inode->live;
}

void FaultFileIO::Damage(const std::string& path, uint64_t offset, const std::string& bytes) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Inode> inode = Find(path);
  if (inode == nullptr) return;
  for (std::string* data : {&inode->live, &inode->durable}) {
    if (data->size() < offset + bytes.size()) data->resize(offset + bytes.size(), '\0');
    data->replace(offset, bytes.size(), bytes);
  }
}

}  // namespace synod::storage
