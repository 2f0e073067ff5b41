// Restore: makes an empty data dir the start of a founding member of a NEW
// cluster whose state is a backup snapshot file (synod --restore=FILE,
// written by synodctl snapshot save / Cluster.Snapshot).
//
// What it does, before the replica starts:
//   1. verifies the whole file (format, every record, checksum, digest)
//      and refuses a damaged or truncated one: nothing is created;
//   2. refuses a data dir that is not empty (see "restarts" below);
//   3. builds the member in <data_dir>.restoring: IDENTITY for the cluster
//      --initial_cluster names, the file copied to snapshots/snap-<I>.snap,
//      the tree restored from that copy (its digest checked against the
//      file's), and a Raft log that starts after a snapshot at index I;
//   4. renames it to <data_dir> (atomic: a crash leaves either no member or
//      a whole one; a leftover *.restoring dir is discarded next time).
//
// The rule that makes founding members agree: every founding member is
// started with the same --restore file and the same --initial_cluster. Each
// then starts from the identical log position: a log snapshot at index I =
// the file's applied index (its revision), term 1, whose membership is the
// --initial_cluster voters, with hard state {term 1, commit I}. This is the
// ordinary bootstrap (log_store.h: snapshot at index 1, term 1) moved to
// index I, so the Raft core needs nothing new: the first leader is elected
// in term >= 2 and appends at I+1, revisions keep growing past every
// revision in the backup (history and watch events below I stay valid),
// and a member that lags or joins later is sent snapshot I (the copied
// file) like any log snapshot. Founding members restored from different
// files would hold different states under the same log position; nothing
// notices that at start, but the leader's periodic digest check stops a
// replica whose digest differs from its own. Use one file.
//
// Sessions: the backup's sessions and their ephemeral nodes are restored as
// they were. The new cluster's first leader restarts every session's clock
// (as after any leader change), so a session whose client does not
// reconnect to the new cluster expires after its timeout and its ephemeral
// nodes are deleted through the log, as usual; a client that does reach
// the new cluster with its session id keeps it.
//
// Restarts: a data dir built by a restore holds a RESTORED_FROM marker
// (index and checksum of the file). Starting it again with the same
// --restore file starts it normally (so a service manager may keep the flag);
// any other non-empty data dir is refused.
//
// Thread: the main thread, before Replica::Start.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "server/replica.h"

namespace synod::server {

// Prepares options.data_dir from `snapshot_file` as described above, or
// leaves an already restored dir as it is. Errors: DataLoss / NotFound /
// FailedPrecondition (bad file, non-empty data dir, --join given),
// InvalidArgument (membership flags), Internal (I/O).
absl::Status RestoreMember(const ReplicaOptions& options, const std::string& snapshot_file);

}  // namespace synod::server
