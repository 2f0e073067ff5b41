#include "server/zk/zk_metrics.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/zk/records.h"

namespace synod::zk {

using server::metrics::MetricFamily;
using server::metrics::MetricType;
using server::metrics::Sample;

namespace {

struct OpEntry {
  int32_t type;
  const char* name;
};

// The request types ZooKeeper 3.8 defines (ZooDefs.OpCode), and a
// ConnectRequest; the slot of each is its index.
constexpr OpEntry kOps[] = {
    {ZkMetrics::kConnect, "connect"},
    {kOpCreate, "create"},
    {kOpDelete, "delete"},
    {kOpExists, "exists"},
    {kOpGetData, "getData"},
    {kOpSetData, "setData"},
    {kOpGetAcl, "getACL"},
    {kOpSetAcl, "setACL"},
    {kOpGetChildren, "getChildren"},
    {kOpSync, "sync"},
    {kOpPing, "ping"},
    {kOpGetChildren2, "getChildren2"},
    {kOpCheck, "check"},
    {kOpMulti, "multi"},
    {kOpCreate2, "create2"},
    {kOpReconfig, "reconfig"},
    {kOpCheckWatches, "checkWatches"},
    {kOpRemoveWatches, "removeWatches"},
    {kOpCreateContainer, "createContainer"},
    {kOpDeleteContainer, "deleteContainer"},
    {kOpCreateTtl, "createTTL"},
    {kOpMultiRead, "multiRead"},
    {kOpAuth, "auth"},
    {kOpSetWatches, "setWatches"},
    {kOpSasl, "sasl"},
    {kOpGetEphemerals, "getEphemerals"},
    {kOpGetAllChildrenNumber, "getAllChildrenNumber"},
    {kOpSetWatches2, "setWatches2"},
    {kOpAddWatch, "addWatch"},
    {kOpWhoAmI, "whoAmI"},
    {kOpCloseSession, "closeSession"},
};
constexpr size_t kKnownOps = sizeof(kOps) / sizeof(kOps[0]);

struct ErrorEntry {
  int32_t code;
  const char* name;
};

// KeeperException.Code names.
constexpr ErrorEntry kErrors[] = {
    {kZOk, "OK"},
    {kZSystemError, "SYSTEMERROR"},
    {kZRuntimeInconsistency, "RUNTIMEINCONSISTENCY"},
    {kZDataInconsistency, "DATAINCONSISTENCY"},
    {kZConnectionLoss, "CONNECTIONLOSS"},
    {kZMarshallingError, "MARSHALLINGERROR"},
    {kZUnimplemented, "UNIMPLEMENTED"},
    {kZOperationTimeout, "OPERATIONTIMEOUT"},
    {kZBadArguments, "BADARGUMENTS"},
    {kZNewConfigNoQuorum, "NEWCONFIGNOQUORUM"},
    {kZReconfigInProgress, "RECONFIGINPROGRESS"},
    {kZApiError, "APIERROR"},
    {kZNoNode, "NONODE"},
    {kZNoAuth, "NOAUTH"},
    {kZBadVersion, "BADVERSION"},
    {kZNoChildrenForEphemerals, "NOCHILDRENFOREPHEMERALS"},
    {kZNodeExists, "NODEEXISTS"},
    {kZNotEmpty, "NOTEMPTY"},
    {kZSessionExpired, "SESSIONEXPIRED"},
    {kZInvalidCallback, "INVALIDCALLBACK"},
    {kZInvalidAcl, "INVALIDACL"},
    {kZAuthFailed, "AUTHFAILED"},
    {kZClosing, "CLOSING"},
    {kZNothing, "NOTHING"},
    {kZSessionMoved, "SESSIONMOVED"},
    {kZNotReadOnly, "NOTREADONLY"},
    {kZNoWatcher, "NOWATCHER"},
    {kZReconfigDisabled, "RECONFIGDISABLED"},
    {-125, "QUOTAEXCEEDED"},
    {kZThrottledOp, "THROTTLEDOP"},
};

}  // namespace

std::string ZkOpName(int32_t type) {
  for (const OpEntry& e : kOps) {
    if (e.type == type) return e.name;
  }
  return "other";
}

std::string ZkErrorName(int32_t err) {
  for (const ErrorEntry& e : kErrors) {
    if (e.code == err) return e.name;
  }
  return absl::StrCat(err);
}

ZkMetrics::ZkMetrics() : latency_(server::metrics::LatencyBuckets()) {
  static_assert(kKnownOps < kOpSlots, "one slot for other types");
}

size_t ZkMetrics::OpSlot(int32_t type) {
  for (size_t i = 0; i < kKnownOps; ++i) {
    if (kOps[i].type == type) return i;
  }
  return kOpSlots - 1;
}

void ZkMetrics::Request(int32_t type) {
  requests_[OpSlot(type)].fetch_add(1, std::memory_order_relaxed);
  packets_received_.fetch_add(1, std::memory_order_relaxed);
}

void ZkMetrics::Reply(int32_t err, absl::Duration latency) {
  packets_sent_.fetch_add(1, std::memory_order_relaxed);
  if (err != kZOk) {
    const size_t slot = err < 0 && static_cast<size_t>(-static_cast<int64_t>(err)) < kErrorSlots
                            ? static_cast<size_t>(-static_cast<int64_t>(err))
                            : kErrorSlots;
    errors_[slot].fetch_add(1, std::memory_order_relaxed);
  }
  const uint64_t us =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Microseconds(latency)));
  replies_.fetch_add(1, std::memory_order_relaxed);
  latency_us_sum_.fetch_add(us, std::memory_order_relaxed);
  uint64_t seen = latency_us_min_.load(std::memory_order_relaxed);
  while (us < seen && !latency_us_min_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
  }
  seen = latency_us_max_.load(std::memory_order_relaxed);
  while (us > seen && !latency_us_max_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
  }
  latency_.ObserveDuration(latency);
}

ZkMetrics::Snapshot ZkMetrics::Take() const {
  Snapshot s;
  s.connections = connections_.load(std::memory_order_relaxed);
  s.packets_received = packets_received_.load(std::memory_order_relaxed);
  s.packets_sent = packets_sent_.load(std::memory_order_relaxed);
  s.bytes_received = bytes_in_.load(std::memory_order_relaxed);
  s.bytes_sent = bytes_out_.load(std::memory_order_relaxed);
  const uint64_t n = replies_.load(std::memory_order_relaxed);
  if (n > 0) {
    s.min_latency_ms = static_cast<int64_t>(latency_us_min_.load(std::memory_order_relaxed) / 1000);
    s.max_latency_ms = static_cast<int64_t>(latency_us_max_.load(std::memory_order_relaxed) / 1000);
    s.avg_latency_ms = static_cast<double>(latency_us_sum_.load(std::memory_order_relaxed)) /
                       1000.0 / static_cast<double>(n);
  }
  return s;
}

void ZkMetrics::Collect(std::vector<MetricFamily>* out) const {
  const Snapshot s = Take();
  MetricFamily connections{"synod_zk_connections",
                           "ZooKeeper client connections open on this replica.",
                           MetricType::kGauge,
                           {Sample{{}, static_cast<double>(s.connections)}},
                           {}};
  MetricFamily requests{"synod_zk_requests_total",
                        "ZooKeeper request frames received, by request type (connect: a "
                        "ConnectRequest).",
                        MetricType::kCounter,
                        {},
                        {}};
  for (size_t i = 0; i < kOpSlots; ++i) {
    const uint64_t n = requests_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    requests.samples.push_back(
        Sample{{{"op", i < kKnownOps ? kOps[i].name : "other"}}, static_cast<double>(n)});
  }
  MetricFamily errors{"synod_zk_errors_total",
                      "ZooKeeper replies whose header carries an error, by ZooKeeper error code "
                      "(a multi's per-op errors are not counted).",
                      MetricType::kCounter,
                      {},
                      {}};
  for (size_t i = 1; i <= kErrorSlots; ++i) {
    const uint64_t n = errors_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    errors.samples.push_back(
        Sample{{{"code", i < kErrorSlots ? ZkErrorName(-static_cast<int32_t>(i)) : "other"}},
               static_cast<double>(n)});
  }
  MetricFamily packets{
      "synod_zk_packets_total",
      "ZooKeeper frames received (requests) and sent (replies and watch "
      "notifications), as mntr's zk_packets_received and zk_packets_sent.",
      MetricType::kCounter,
      {Sample{{{"direction", "received"}}, static_cast<double>(s.packets_received)},
       Sample{{{"direction", "sent"}}, static_cast<double>(s.packets_sent)}},
      {}};
  MetricFamily bytes{"synod_zk_bytes_total",
                     "Bytes read from and written to ZooKeeper clients.",
                     MetricType::kCounter,
                     {Sample{{{"direction", "received"}}, static_cast<double>(s.bytes_received)},
                      Sample{{{"direction", "sent"}}, static_cast<double>(s.bytes_sent)}},
                     {}};
  MetricFamily latency{"synod_zk_request_duration_seconds",
                       "Latency of ZooKeeper requests, from the whole frame read to its reply "
                       "made (commit and apply included).",
                       MetricType::kHistogram,
                       {},
                       {latency_.Snapshot()}};
  out->push_back(std::move(connections));
  out->push_back(std::move(requests));
  out->push_back(std::move(errors));
  out->push_back(std::move(packets));
  out->push_back(std::move(bytes));
  out->push_back(std::move(latency));
}

}  // namespace synod::zk
