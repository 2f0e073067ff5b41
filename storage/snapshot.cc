// TreeStore::WriteSnapshot / RestoreSnapshot over the snapshot file format
// (storage/snapshot_format.h).
#include "storage/snapshot.h"

#include <memory>
#include <utility>
#include <vector>

#include "base/status_macros.h"

namespace synod::storage {
namespace {

constexpr size_t kRestoreChunkRecords = 4096;

}  // namespace

absl::StatusOr<SnapshotInfo> TreeStore::WriteSnapshot(const std::string& file_path, FileIO* io) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  StateView* v = view->get();
  absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
      SnapshotFileWriter::Create(io, file_path, v->meta());
  if (!writer.ok()) return writer.status();
  SnapshotFileWriter& out = **writer;

  SYNOD_RETURN_IF_ERROR(v->ForEachNode(
      [&](std::string_view path, const Node& node) { return out.AddNode(path, node); }));
  SYNOD_RETURN_IF_ERROR(
      v->ForEachHistory([&](std::string_view path, uint64_t seq, const HistoryEntry& entry) {
        return out.AddHistory(path, seq, entry);
      }));
  std::vector<Session> sessions;
  SYNOD_RETURN_IF_ERROR(v->ListSessions(&sessions));
  for (const Session& session : sessions) SYNOD_RETURN_IF_ERROR(out.AddSession(session));
  std::vector<Grave> graves;
  SYNOD_RETURN_IF_ERROR(v->ListGraves(UINT64_MAX, 0, &graves));
  for (const Grave& grave : graves) SYNOD_RETURN_IF_ERROR(out.AddGrave(grave));
  uint64_t after = 0;
  for (;;) {
    std::vector<v1::WatchEvent> events;
    SYNOD_RETURN_IF_ERROR(v->ListEvents(after, 4096, &events));
    if (events.empty()) break;
    uint32_t index = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      index = i > 0 && events[i].revision() == events[i - 1].revision() ? index + 1 : 0;
      SYNOD_RETURN_IF_ERROR(out.AddEvent(events[i], index));
    }
    after = events.back().revision();
  }
  return out.Finish();
}

absl::StatusOr<SnapshotInfo> TreeStore::RestoreSnapshot(const std::string& file_path, FileIO* io) {
  // First pass: the whole file must be sound before the state is touched.
  absl::StatusOr<SnapshotInfo> checked = ScanSnapshot(file_path, nullptr, io);
  if (!checked.ok()) return checked.status();

  SYNOD_RETURN_IF_ERROR(BeginRestore(checked->meta));
  WriteSet chunk;
  size_t in_chunk = 0;
  auto flush = [&]() -> absl::Status {
    absl::Status s = RestoreChunk(chunk);
    chunk = WriteSet();
    in_chunk = 0;
    return s;
  };
  absl::StatusOr<SnapshotInfo> loaded = ScanSnapshot(
      file_path,
      [&](SnapshotRecord& d) -> absl::Status {
        // A revision's events stay in one chunk (stores number them per
        // chunk).
        bool same_revision = d.type == SnapshotRecordType::kEvent && !chunk.events.empty() &&
                             chunk.events.back().revision() == d.number;
        if (in_chunk >= kRestoreChunkRecords && !same_revision) SYNOD_RETURN_IF_ERROR(flush());
        ++in_chunk;
        switch (d.type) {
          case SnapshotRecordType::kNode:
            if (d.node.kind == NodeKind::kEphemeral) {
              chunk.ephemerals[{d.node.stat.ephemeral_owner, d.path}] = true;
            }
            if (d.node.kind == NodeKind::kTtl || d.node.kind == NodeKind::kContainer) {
              chunk.expiry[d.path] = true;
            }
            chunk.nodes.insert_or_assign(d.path, std::move(d.node));
            break;
          case SnapshotRecordType::kHistory:
            chunk.history.insert_or_assign({d.path, d.number}, std::move(d.history));
            break;
          case SnapshotRecordType::kSession:
            chunk.sessions.insert_or_assign(d.number, std::move(d.session));
            break;
          case SnapshotRecordType::kEvent:
            chunk.events.push_back(std::move(d.event));
            break;
          case SnapshotRecordType::kGrave:
            chunk.graves.insert_or_assign({d.number, d.path}, d.seq);
            break;
        }
        return absl::OkStatus();
      },
      io);
  // A failure here leaves the store marked as being restored: it will not
  // open until a restore completes.
  if (!loaded.ok()) return loaded.status();
  SYNOD_RETURN_IF_ERROR(flush());
  SYNOD_RETURN_IF_ERROR(FinishRestore(loaded->meta));
  return *loaded;
}

}  // namespace synod::storage
