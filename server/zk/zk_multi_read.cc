// ZkConnection: multiRead (22), as ZooKeeper 3.8 serves it: getData and
// getChildren ops, each answered with its result or with its own error
// (ErrorResult; the others still run, nothing to roll back), READ checked per
// op by the replica's rules (TreeService), no watch set.
#include <atomic>

#include "server/zk/zk_connection.h"
#include "server/zk/zk_convert.h"
#include "server/zk/zk_error_mapping.h"

namespace synod::zk {

struct ZkConnection::MultiRead {
  int32_t xid = 0;
  MultiReadRequest request;
  // Touched by one thread at a time: the op in flight hands it over.
  size_t next = 0;
  MultiReadResponse response;
  size_t bytes = 0;       // data and names held in `response`
  uint64_t revision = 0;  // the highest revision read
  bool dropped = false;   // an op found no leader or a lagging replica
};

absl::Status ZkConnection::OnMultiRead(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  auto m = std::make_shared<MultiRead>();
  m->xid = h.xid;
  absl::Status s = Decode(r, &m->request);
  if (s.ok()) s = r.ExpectEnd();
  if (!s.ok()) {
    // ZooKeeper decodes a multiRead while serving it: a body it cannot
    // read, or an op other than a read, is a MARSHALLINGERROR reply and the
    // connection stays.
    Reply(slot, h.xid, AppliedRevision(), kZMarshallingError);
    return absl::OkStatus();
  }
  m->revision = AppliedRevision();
  MultiReadStep(std::move(m), slot);
  return absl::OkStatus();
}

void ZkConnection::MultiReadStep(std::shared_ptr<MultiRead> m, const SlotPtr& slot) {
  auto self = shared_from_this();
  // A loop, not a chain of callbacks: reads that complete inside
  // TreeService::Serve (served locally) would otherwise nest one stack
  // frame per op.
  while (!m->dropped && m->next < m->request.ops.size() &&
         m->bytes <= context_->max_multi_read_bytes) {
    // 0: the read runs; 1: it finished before MultiReadOne returned (this
    // loop goes on); 2: MultiReadOne returned first (its completion goes on).
    auto phase = std::make_shared<std::atomic<int>>(0);
    MultiReadOne(m, [self, m, slot, phase] {
      int running = 0;
      if (phase->compare_exchange_strong(running, 1)) return;
      self->MultiReadStep(m, slot);
    });
    int running = 0;
    if (phase->compare_exchange_strong(running, 2)) return;
  }
  if (m->dropped) return Drop(slot);
  if (m->bytes > context_->max_multi_read_bytes) {
    return Reply(slot, m->xid, m->revision, kZBadArguments);
  }
  JuteWriter w;
  Encode(w, m->response);
  Reply(slot, m->xid, m->revision, kZOk, w.bytes());
}

void ZkConnection::MultiReadOne(const std::shared_ptr<MultiRead>& m, std::function<void()> done) {
  const ReadOp& op = m->request.ops[m->next];
  // Records the outcome of op m->next: its result, or its own error.
  auto finish = [m](const v1::ResponseHeader& hd, ReadOpResult result) {
    m->revision = std::max(m->revision, hd.revision());
    ++m->next;
    if (ZkDropsConnection(hd.code())) {
      m->dropped = true;
      return;
    }
    if (hd.code() != v1::OK) {
      result = ReadOpResult{};
      result.type = kOpError;
      result.err = ToZkError(hd.code());
    }
    // A result costs its bytes and its headers.
    m->bytes += 32 + result.data.size();
    for (const std::string& name : result.children) m->bytes += 4 + name.size();
    m->response.results.push_back(std::move(result));
  };
  if (op.type == kOpGetChildren) {
    auto names = std::make_shared<std::vector<std::string>>();
    ReadChildren(op.path, "", m->revision, names,
                 [finish, names, done](const v1::ResponseHeader& hd, const v1::Stat&) {
                   ReadOpResult result;
                   result.type = kOpGetChildren;
                   result.children = std::move(*names);
                   finish(hd, std::move(result));
                   done();
                 });
    return;
  }
  v1::PipelineCall call;
  call.mutable_get()->set_path(op.path);
  *call.mutable_get()->mutable_read() = ReadAfterSeen();
  if (call.get().read().min_revision() < m->revision) {
    call.mutable_get()->mutable_read()->set_min_revision(m->revision);
  }
  CallTree(std::move(call), [finish, done](const v1::PipelineReply& reply) {
    ReadOpResult result;
    result.type = kOpGetData;
    result.data = reply.get().data();
    result.null_data = reply.get().null_data();
    result.stat = ToZkStat(reply.get().stat());
    finish(reply.get().header(), std::move(result));
    done();
  });
}

}  // namespace synod::zk
