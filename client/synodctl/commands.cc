// The command table and helpers shared by the command files.
#include "client/synodctl/commands.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace synod::ctl {

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"endpoints", true, 0}, {"output", true, 'o'},        {"timeout", true, 0},
      {"help", false, 'h'},   {"session_timeout", true, 0},
  };
  return *flags;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"create",
       "",
       "[--ephemeral] [--sequential] [--container] [--ttl=DUR] PATH [DATA]",
       "create a node, print its path (--ephemeral: hold it until interrupted)",
       {{"ephemeral", false, 0, "deleted when this command's session ends; held until interrupted"},
        {"sequential", false, 0, "append a 10-digit counter from the parent to the name"},
        {"container", false, 0, "deleted by the server once its last child is gone"},
        {"ttl", true, 0, "deleted once unchanged and childless for DUR (e.g. 30s)"}},
       1,
       2,
       CmdCreate},
      {"get",
       "",
       "[--version=V | --revision=R] [--consistency=linearizable|serializable] "
       "[--min_revision=R] PATH",
       "print a node's data (now, at a data version, or as it was at a revision)",
       {{"version", true, 0, "the data at this version of the node (0 at create)"},
        {"revision", true, 0, "the node as it was at this revision"},
        {"consistency", true, 0, "linearizable (default) or serializable (this replica's state)"},
        {"min_revision", true, 0, "wait until the replica has applied at least this revision"}},
       1,
       1,
       CmdGet},
      {"stat",
       "",
       "[--consistency=...] PATH",
       "print a node's stat",
       {{"consistency", true, 0, "linearizable (default) or serializable (this replica's state)"},
        {"min_revision", true, 0, "wait until the replica has applied at least this revision"}},
       1,
       1,
       CmdStat},
      {"set",
       "",
       "[--version=V] PATH DATA",
       "set a node's data (if its version is V)",
       {{"version", true, 0, "only if the node's version is V (else BAD_VERSION)"}},
       2,
       2,
       CmdSet},
      {"delete",
       "",
       "[--version=V] [--recursive] PATH",
       "delete a node (--recursive: and its subtree, leaves first; not atomic)",
       {{"version", true, 0, "only if the node's version is V (else BAD_VERSION)"},
        {"recursive", false, 0,
         "delete the subtree too, leaves first, one request (and deadline) per node"}},
       1,
       1,
       CmdDelete},
      {"ls",
       "",
       "[--stat] [--limit=N [--page_token=T]] PATH",
       "list a node's children (all unless --limit; then the last line of text output is "
       "\"next_page_token: T\" while more remain)",
       {{"stat", false, 0, "each child's version, children, size, mzxid"},
        {"limit", true, 0, "at most N children"},
        {"page_token", true, 0, "go on from a previous listing's next_page_token"},
        {"consistency", true, 0, "linearizable (default) or serializable (this replica's state)"}},
       1,
       1,
       CmdLs},
      {"history",
       "",
       "[--limit=N] PATH",
       "list a node's retained versions, newest first",
       {{"limit", true, 0, "at most N versions"}},
       1,
       1,
       CmdHistory},
      {"watch",
       "",
       "[--recursive] [--from_revision=R] PATH",
       "print events on PATH (--recursive: its subtree) as they come, until interrupted",
       {{"recursive", false, 0, "events of the whole subtree"},
        {"from_revision", true, 0, "replay the events after revision R first"}},
       1,
       1,
       CmdWatch},
      {"multi",
       "",
       "< OPS",
       "apply the ops read from stdin atomically (all or none)",
       {},
       0,
       0,
       CmdMulti},
      {"elect",
       "",
       "NAME [VALUE]",
       "campaign with VALUE (without: only observe) and print the leader's value at each "
       "change, until interrupted; NAME is a path or lives under /synod/elections",
       {},
       1,
       2,
       CmdElect},
      {"lock",
       "",
       "NAME [-- COMMAND...]",
       "take the lock, print its fencing token, then run COMMAND (env SYNOD_LOCK_TOKEN) or "
       "hold until interrupted; NAME is a path or lives under /synod/locks",
       {},
       1,
       1,
       CmdLock},
      {"status",
       "",
       "",
       "table of the members: id, addresses, role, term, commit/applied, lag, digest",
       {},
       0,
       0,
       CmdStatus},
      {"member", "list", "", "list the members", {}, 0, 0, CmdMemberList},
      {"member",
       "add",
       "ID PEER_ADDR CLIENT_ADDR",
       "add a member as a learner",
       {},
       3,
       3,
       CmdMemberAdd},
      {"member", "promote", "ID", "make a caught-up learner a voter", {}, 1, 1, CmdMemberPromote},
      {"member", "remove", "ID", "remove a member", {}, 1, 1, CmdMemberRemove},
      {"leader", "transfer", "ID", "move leadership to member ID", {}, 1, 1, CmdLeaderTransfer},
      {"settings",
       "get",
       "",
       "print the cluster settings recorded in the log (the limits every replica applies)",
       {},
       0,
       0,
       CmdSettingsGet},
      {"settings",
       "set",
       "[--max_data_bytes=N] [--max_multi_ops=N] [--min_session_timeout_ms=N] "
       "[--max_session_timeout_ms=N]",
       "change cluster settings through the log and print them (history_per_node is fixed "
       "when the cluster starts)",
       {{"max_data_bytes", true},
        {"max_multi_ops", true},
        {"history_per_node", true},
        {"min_session_timeout_ms", true},
        {"max_session_timeout_ms", true}},
       0,
       0,
       CmdSettingsSet},
      {"snapshot",
       "save",
       "FILE",
       "back up: stream a consistent snapshot from one replica into FILE (via FILE.tmp, "
       "synced and verified before the rename); print its revision, digest, size, nodes "
       "(default --timeout here: 10m for the whole transfer)",
       {},
       1,
       1,
       CmdSnapshotSave},
      {"snapshot",
       "status",
       "FILE",
       "verify a backup file offline (checksums, digest) and print its revision, digest, "
       "nodes; exit 13 if it is damaged",
       {},
       1,
       1,
       CmdSnapshotStatus},
  };
  return *commands;
}

std::string FormatTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

void PrintData(Ctx& ctx, const std::string& data) {
  if (ctx.io().out_is_tty && (data.empty() || data.back() != '\n')) {
    ctx.io().Out(absl::StrCat(data, "\n"));
  } else {
    ctx.io().Out(data);
  }
}

std::string RecipePath(const std::string& base, const std::string& name) {
  if (!name.empty() && name[0] == '/') return name;
  return absl::StrCat(base, "/", name);
}

}  // namespace synod::ctl
