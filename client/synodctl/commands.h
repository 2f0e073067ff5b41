// synodctl's commands and what they share: the parsed command line, the
// output format, a lazily connected client.
//
// Thread: a Ctx belongs to one RunSynodctl call; commands may print from
// the client's callback thread through Io (serialized).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/synodctl/args.h"
#include "client/synodctl/ctl.h"
#include "synod/client.h"

namespace synod::ctl {

class Ctx {
 public:
  Ctx(Io& io, ParsedArgs args) : io_(io), args_(std::move(args)) {}

  Io& io() { return io_; }
  const ParsedArgs& args() const { return args_; }
  bool json() const { return json_; }
  absl::Duration timeout() const { return timeout_; }
  // A deadline `timeout` from now (each request gets its own).
  CallOptions call() const { return CallOptions::Timeout(timeout_); }
  // Connects on first use.
  absl::StatusOr<Client*> client();

  // Positional argument i ("" if absent).
  std::string Arg(size_t i) const {
    return i < args_.positional.size() ? args_.positional[i] : std::string();
  }
  size_t num_args() const { return args_.positional.size(); }
  // DATA at position i: the argument, all of stdin for "-", "" if absent.
  absl::StatusOr<std::string> Data(size_t i);

  // Set by RunSynodctl from the global flags.
  absl::Status Configure();

  // For lock -- COMMAND: the command's exit status replaces synodctl's.
  int exit_override = -1;

 private:
  Io& io_;
  ParsedArgs args_;
  bool json_ = false;
  absl::Duration timeout_ = absl::Seconds(10);
  absl::Duration session_timeout_ = absl::Seconds(10);
  std::vector<std::string> endpoints_;
  std::unique_ptr<Client> client_;
};

using CommandFn = absl::Status (*)(Ctx& ctx);

struct Command {
  std::string name;  // "get", or "member" with sub "add"
  std::string sub;
  std::string usage;    // arguments, for --help
  std::string summary;  // one line
  std::vector<FlagSpec> flags;
  size_t min_args = 0;  // positional arguments after the command word(s)
  size_t max_args = 0;
  CommandFn fn = nullptr;
};

// Every command, in --help order.
const std::vector<Command>& Commands();
// The flags every command accepts.
const std::vector<FlagSpec>& GlobalFlags();

// Helpers shared by the command files.
std::string FormatTime(int64_t unix_ms);
// Node data for text output: raw bytes, plus a newline on a terminal when
// missing (a pipe gets exactly the bytes).
void PrintData(Ctx& ctx, const std::string& data);
// Where a recipe NAME lives: an absolute path as given, else under `base`.
std::string RecipePath(const std::string& base, const std::string& name);

// tree.cc
absl::Status CmdCreate(Ctx& ctx);
absl::Status CmdGet(Ctx& ctx);
absl::Status CmdStat(Ctx& ctx);
absl::Status CmdSet(Ctx& ctx);
absl::Status CmdDelete(Ctx& ctx);
absl::Status CmdLs(Ctx& ctx);
absl::Status CmdHistory(Ctx& ctx);
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
// snapshot.cc
absl::Status CmdSnapshotSave(Ctx& ctx);
absl::Status CmdSnapshotStatus(Ctx& ctx);

}  // namespace synod::ctl
