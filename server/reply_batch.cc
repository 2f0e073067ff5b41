#include "server/reply_batch.h"

#include <utility>

namespace synod::server {
namespace {

thread_local ReplyBatch* open_batch = nullptr;

}  // namespace

ReplyBatch::ReplyBatch() : outermost_(open_batch == nullptr) {
  if (outermost_) open_batch = this;
}

ReplyBatch::~ReplyBatch() {
  if (!outermost_) return;
  // Flushing may answer more (a reply that frees a paused read does not,
  // but stay safe): whatever is deferred meanwhile is flushed too.
  while (!deferred_.empty()) {
    std::vector<std::shared_ptr<Flushable>> now;
    now.swap(deferred_);
    for (auto& f : now) f->Flush();
  }
  open_batch = nullptr;
}

bool ReplyBatch::Defer(std::shared_ptr<Flushable> f) {
  if (open_batch == nullptr) return false;
  open_batch->deferred_.push_back(std::move(f));
  return true;
}

}  // namespace synod::server
