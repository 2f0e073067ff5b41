// SnapshotStreamer: serves Cluster.Snapshot (backups). Each call gets a
// fresh snapshot file of this replica's state, written from one consistent
// view of the store (TreeStore::WriteSnapshot: one point in the apply
// stream, so applies go on meanwhile), then streamed to the client in
// chunks, one write in flight at a time (gRPC flow control paces the disk
// reads to the client's speed).
//
// Stream: the first chunk carries the manifest (applied_index = the
// snapshot's revision, digest, members, format_version); every chunk
// carries `offset` and a piece of the file; the last one has done = true
// and crc32c = CRC32C of all data bytes. The bytes are exactly a snapshot
// file (storage/snapshot.h), which `synod --restore` installs.
//
// The file is written under the replica's snapshot dir as a *.tmp (removed
// at the next start if the process dies) and unlinked as soon as it is
// open, so a finished or abandoned backup leaves nothing behind.
//
// Errors (Synod code in the status details): UNAVAILABLE when the replica
// is shutting down, has no state yet (a joining learner), or already writes
// `max_concurrent` backups (the client tries another replica); INTERNAL /
// DATA_LOSS when the snapshot cannot be written or read back.
//
// Thread: gRPC callback threads start streams and receive write
// completions; the disk work (writing the snapshot, reading chunks) runs on
// one worker thread owned here, never on a gRPC thread. Destroy only after
// the gRPC server has shut down (every stream is then done).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "grpcpp/support/server_callback.h"
#include "server/replica_state.h"
#include "server/watch/task_runner.h"
#include "storage/snapshot_files.h"
#include "storage/tree_store.h"
#include "synod/v1/cluster.pb.h"

namespace synod::server {

class SnapshotStreamer {
 public:
  struct Options {
    size_t chunk_bytes = 1u << 20;
    int max_concurrent = 2;
  };

  // Not owned; all outlive the streamer.
  SnapshotStreamer(const Options& options, storage::TreeStore* store,
                   const storage::SnapshotFiles* files, const ReplicaState* state);
  ~SnapshotStreamer();  // joins the worker
  SnapshotStreamer(const SnapshotStreamer&) = delete;
  SnapshotStreamer& operator=(const SnapshotStreamer&) = delete;

  // Starts one stream; the reactor finishes itself.
  grpc::ServerWriteReactor<v1::SnapshotChunk>* Start(const v1::SnapshotRequest& request);

 private:
  class Stream;

  const Options options_;
  storage::TreeStore* const store_;
  const storage::SnapshotFiles* const files_;
  const ReplicaState* const state_;
  // Streams that hold a file (admitted, not yet destroyed).
  std::atomic<int> active_{0};
  std::atomic<uint64_t> next_tag_{1};
  WorkerThread worker_;
};

}  // namespace synod::server
