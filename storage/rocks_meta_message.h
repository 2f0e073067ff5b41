// RocksMetaMessage: one protobuf message kept whole in a value of the
// RocksDB store's meta column family (the auth state, the quotas), parsed
// once per distinct value: every view that reads the bytes the last one
// read shares its parsed message instead of parsing them again.
//
// Thread-safe: views on any thread call Read; the apply thread calls Add.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/rocks_env.h"

namespace synod::storage {

template <typename Message>
class RocksMetaMessage {
 public:
  // `key` names the meta value; `what` names it in errors.
  RocksMetaMessage(std::string_view key, std::string_view what) : key_(key), what_(what) {}

  // The message stored under the key as `options` see it; null if absent.
  // Errors: DataLoss (does not parse), storage failures.
  absl::StatusOr<std::shared_ptr<const Message>> Read(RocksEnv* env,
                                                      const rocksdb::ReadOptions& options) {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = env->db()->Get(options, env->cf(ColumnFamily::kMeta), key_, &value);
    if (s.IsNotFound()) return std::shared_ptr<const Message>();
    if (!s.ok()) return FromRocks(s, absl::StrCat("read ", what_));
    const std::string_view bytes(value.data(), value.size());
    absl::MutexLock lock(&mu_);
    if (parsed_ != nullptr && bytes == bytes_) return parsed_;
    auto message = std::make_shared<Message>();
    if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(absl::StrCat("malformed ", what_));
    }
    bytes_.assign(bytes);
    parsed_ = std::move(message);
    return parsed_;
  }

  // Adds the message (null: the key's removal) to `batch`, and makes it the
  // one a Read of the same bytes returns.
  absl::Status Add(RocksEnv* env, const std::shared_ptr<const Message>& message,
                   rocksdb::WriteBatch* batch) {
    rocksdb::ColumnFamilyHandle* meta = env->cf(ColumnFamily::kMeta);
    if (message == nullptr) return FromRocks(batch->Delete(meta, key_), "batch");
    std::string bytes;
    // No maps in the messages kept here: the bytes depend on the content
    // alone, so equal states compare equal as bytes.
    message->SerializeToString(&bytes);
    SYNOD_RETURN_IF_ERROR(FromRocks(batch->Put(meta, key_, bytes), "batch"));
    absl::MutexLock lock(&mu_);
    bytes_ = std::move(bytes);
    parsed_ = message;
    return absl::OkStatus();
  }

 private:
  const std::string key_;
  const std::string what_;
  absl::Mutex mu_;
  std::string bytes_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Message> parsed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::storage
