// synodctl's commands and what they share: the parsed command line, the
// output format, a lazily connected client.
//
// Thread: a Ctx belongs to one RunSynodctl call; commands may print from
// the client's callback thread through Io (serialized).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/synodctl/ctl.h"
#include "nlohmann/json.hpp"
#include "synod/client.h"

namespace synod::ctl {

// create's node kind flags (also the create lines of multi).
struct CreateFlags {
  bool ephemeral = false;
  bool sequential = false;
  bool container = false;
  std::optional<absl::Duration> ttl;
};

// Every value a command line can carry, as the parser (cli.cc) checked and
// converted it. A command reads the fields its --help lists; the others
// keep their defaults.
struct Args {
  // Global flags.
  std::optional<std::string> endpoints;
  bool json = false;  // -o json
  std::optional<absl::Duration> timeout;
  std::optional<absl::Duration> session_timeout;
  std::string cacert;  // PEM file paths; empty: not given
  std::string cert;
  std::string key;
  std::optional<std::string> user;   // --user NAME (password: SYNOD_PASSWORD or a prompt)
  std::vector<std::string> digests;  // --digest user:password, repeatable

  // Positional arguments, by their --help names.
  std::string path;                  // PATH
  std::string data;                  // DATA ("-": stdin)
  std::string name;                  // elect/lock NAME
  std::optional<std::string> value;  // elect VALUE (absent: only observe)
  std::vector<std::string> command;  // lock NAME -- COMMAND...
  bool command_given = false;        // "--" came after lock NAME
  uint64_t id = 0;                   // member/leader ID (>= 1)
  std::string peer_addr;             // member add PEER_ADDR
  std::string client_addr;           // member add CLIENT_ADDR
  std::string file;                  // snapshot FILE
  std::string acl_list;              // acl set LIST
  std::string user_name;             // user add/delete/passwd NAME

  // Command flags.
  CreateFlags create;
  std::optional<int64_t> version;
  std::optional<uint64_t> revision;
  std::optional<uint64_t> min_revision;
  Consistency consistency = Consistency::kLinearizable;
  bool recursive = false;
  bool stat = false;
  std::optional<uint32_t> limit;
  std::optional<std::string> page_token;
  std::optional<uint64_t> from_revision;
  std::optional<std::string> acl;  // create --acl=LIST
  std::optional<int64_t> aversion;  // acl set --aversion=N
  bool superuser = false;           // user add --superuser
  // settings set.
  std::optional<uint64_t> max_data_bytes;
  std::optional<uint64_t> max_multi_ops;
  std::optional<uint64_t> history_per_node;
  std::optional<uint64_t> min_session_timeout_ms;
  std::optional<uint64_t> max_session_timeout_ms;
  std::optional<uint64_t> max_ephemerals_per_session;
  // quota set (0: no limit in that dimension).
  std::optional<uint64_t> max_nodes;
  std::optional<uint64_t> max_bytes;
};

class Ctx {
 public:
  Ctx(Io& io, Args args) : io_(io), args_(std::move(args)) {}

  Io& io() { return io_; }
  const Args& args() const { return args_; }
  bool json() const { return args_.json; }
  absl::Duration timeout() const { return timeout_; }
  // A deadline `timeout` from now (each request gets its own).
  CallOptions call() const { return CallOptions::Timeout(timeout_); }
  // Connects on first use.
  absl::StatusOr<Client*> client();

  // A password: $`env` if set and not empty, else read from the terminal
  // after `prompt` (echo off). Errors: usage, naming `what`, when neither.
  absl::StatusOr<std::string> Secret(const std::string& env, const std::string& prompt,
                                     const std::string& what);

  // DATA: the argument, or all of stdin for "-".
  absl::StatusOr<std::string> Data();

  // Applies the global flags (and SYNOD_ENDPOINTS). Errors: usage.
  absl::Status Configure();

  // For lock -- COMMAND: the command's exit status replaces synodctl's.
  int exit_override = -1;

 private:
  Io& io_;
  const Args args_;
  absl::Duration timeout_ = absl::Seconds(10);
  absl::Duration session_timeout_ = absl::Seconds(10);
  std::vector<std::string> endpoints_;
  std::unique_ptr<Client> client_;
};

using CommandFn = absl::Status (*)(Ctx& ctx);

// Helpers shared by the command files.
std::string FormatTime(int64_t unix_ms);
// Node data for text output: raw bytes, plus a newline on a terminal when
// missing (a pipe gets exactly the bytes).
void PrintData(Ctx& ctx, const std::string& data);
// Where a recipe NAME lives: an absolute path as given, else under `base`.
std::string RecipePath(const std::string& base, const std::string& name);

// -o json output: keys stay in the order they are set.
using Json = nlohmann::ordered_json;
// {"czxid":..,"mzxid":..,...}: the Stat's fields in proto order.
Json StatJson(const Stat& stat);
// One JSON text and a newline. Bytes that are not UTF-8 become U+FFFD
// (node data is base64-encoded by the callers, never written raw).
std::string JsonLine(const Json& json);
// The create mode CreateFlags ask for. Errors: usage (exclusive flags).
absl::StatusOr<CreateOptions> CreateOptionsFrom(const CreateFlags& flags);

// tree.cc
absl::Status CmdCreate(Ctx& ctx);
absl::Status CmdGet(Ctx& ctx);
absl::Status CmdStat(Ctx& ctx);
absl::Status CmdSet(Ctx& ctx);
absl::Status CmdDelete(Ctx& ctx);
absl::Status CmdLs(Ctx& ctx);
absl::Status CmdHistory(Ctx& ctx);
// multi.cc
absl::Status CmdMulti(Ctx& ctx);
// live.cc
absl::Status CmdWatch(Ctx& ctx);
absl::Status CmdElect(Ctx& ctx);
absl::Status CmdLock(Ctx& ctx);
// cluster.cc
absl::Status CmdStatus(Ctx& ctx);
absl::Status CmdMemberList(Ctx& ctx);
absl::Status CmdMemberAdd(Ctx& ctx);
absl::Status CmdMemberPromote(Ctx& ctx);
absl::Status CmdMemberRemove(Ctx& ctx);
absl::Status CmdLeaderTransfer(Ctx& ctx);
// settings.cc
absl::Status CmdSettingsGet(Ctx& ctx);
absl::Status CmdSettingsSet(Ctx& ctx);
absl::Status CmdQuotaGet(Ctx& ctx);
absl::Status CmdQuotaSet(Ctx& ctx);
absl::Status CmdQuotaDelete(Ctx& ctx);
// snapshot.cc
absl::Status CmdSnapshotSave(Ctx& ctx);
absl::Status CmdSnapshotStatus(Ctx& ctx);
// access.cc
// The entries of a text ACL ("scheme:id:perms,..."). Errors: usage.
absl::StatusOr<std::vector<AclEntry>> ParseAclText(const std::string& text,
                                                   const std::string& flag);
absl::Status CmdAclGet(Ctx& ctx);
absl::Status CmdAclSet(Ctx& ctx);
absl::Status CmdWhoAmI(Ctx& ctx);
absl::Status CmdAuthEnable(Ctx& ctx);
absl::Status CmdAuthDisable(Ctx& ctx);
absl::Status CmdAuthStatus(Ctx& ctx);
absl::Status CmdUserAdd(Ctx& ctx);
absl::Status CmdUserDelete(Ctx& ctx);
absl::Status CmdUserPasswd(Ctx& ctx);
absl::Status CmdUserList(Ctx& ctx);

}  // namespace synod::ctl
