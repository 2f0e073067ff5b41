#include "client/synodctl/cli.h"

#include <algorithm>
#include <map>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/synodctl/flags.h"
#include "client/synodctl/help.h"

namespace synod::ctl {
namespace {

constexpr uint64_t kInt32Max = 0x7fffffff;
constexpr uint64_t kInt64Max = 0x7fffffffffffffff;
constexpr uint64_t kUint64Max = ~uint64_t{0};

constexpr char kFooter[] =
    "DATA \"-\" reads stdin. Node data is printed raw in text mode (plus a newline on a\n"
    "terminal) and base64-encoded in JSON. Durations: 500ms, 5s, 1m30s.\n"
    "multi reads one op per line from stdin:\n"
    "  create [--ephemeral] [--sequential] [--container] [--ttl=DUR] PATH [DATA]\n"
    "  set [--version=N] PATH DATA | delete [--version=N] PATH | check [--version=N] PATH\n"
    "(words split on blanks; '...' and \"...\" quote; # starts a comment line).\n"
    "\n"
    "Backup and restore:\n"
    "  synodctl snapshot save backup.snap     one replica's state at one revision; FILE\n"
    "                                         appears only once synced and verified\n"
    "  synodctl snapshot status backup.snap   verify a file offline (exit 13: damaged)\n"
    "  synod --restore=backup.snap --initial_cluster=SPEC --id=N --data_dir=EMPTY_DIR\n"
    "      on each founding member of a NEW cluster, same file and SPEC everywhere: the\n"
    "      cluster starts at the backup's revision with its tree (equal digest).\n"
    "\n"
    "Errors go to stderr as \"Error: CODE: detail\". Exit status:\n"
    "   0  success\n"
    "   1  other error (INTERNAL, ROLLED_BACK, UNIMPLEMENTED, ...)\n"
    "   2  usage: bad command line\n"
    "   3  NO_NODE\n"
    "   4  NODE_EXISTS\n"
    "   5  BAD_VERSION\n"
    "   6  NOT_EMPTY\n"
    "   7  bad request: INVALID_PATH, INVALID_ARGUMENT, TOO_LARGE, TOO_MANY_OPS,\n"
    "      NO_CHILDREN_FOR_EPHEMERALS\n"
    "   8  session: SESSION_EXPIRED, AUTH_FAILED, EPHEMERAL_NEEDS_SESSION (a held lock or\n"
    "      leadership was lost)\n"
    "   9  UNAVAILABLE, NOT_LEADER: no replica could serve before the deadline\n"
    "  10  DEADLINE_EXCEEDED: no answer in time; a write may or may not have happened\n"
    "  11  COMPACTED: the revision asked for is no longer kept\n"
    "  12  membership: MEMBER_EXISTS, MEMBER_NOT_FOUND, LEARNER_NOT_READY,\n"
    "      MEMBERSHIP_CHANGE_IN_PROGRESS, UNSAFE_MEMBERSHIP_CHANGE\n"
    "  13  DATA_LOSS (status: the replicas' digests differ)\n"
    "  14  PERMISSION_DENIED, UNAUTHENTICATED: an ACL or the admin right refused the\n"
    "      call, or the credentials are missing, wrong or expired\n"
    "  lock NAME -- COMMAND exits with COMMAND's status.\n";

// The command tree over one Args. Not copyable: CLI11 keeps pointers into
// `args`.
class Parser {
 public:
  Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  CLI::App& app() { return app_; }
  Args& args() { return args_; }
  // The command `app` runs, or nullptr (the root, a group like "member").
  CommandFn FnOf(const CLI::App* app) const {
    auto it = fns_.find(app);
    return it == fns_.end() ? nullptr : it->second;
  }
  const CLI::App* help_command() const { return help_; }

 private:
  CLI::App* Command(CLI::App* parent, const std::string& name, const std::string& summary,
                    CommandFn fn) {
    CLI::App* c = parent->add_subcommand(name, summary);
    fns_[c] = fn;
    return c;
  }
  void AddPath(CLI::App* c, const std::string& help) {
    c->add_option("PATH", args_.path, help)->required();
  }
  void AddReadFlags(CLI::App* c, bool min_revision);
  void AddTreeCommands();
  void AddLiveCommands();
  void AddClusterCommands();
  void AddAccessCommands();

  Args args_;
  CLI::App app_{"synodctl: command-line client of a Synod cluster.", "synodctl"};
  std::map<const CLI::App*, CommandFn> fns_;
  CLI::App* help_ = nullptr;
};

Parser::Parser() {
  // Global flags are the root's; commands hand the ones they do not know
  // up to it.
  app_.fallthrough();
  // A flag given twice takes its last value (a script may append to a
  // command line that already has --endpoints or --timeout).
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.require_subcommand(0, 1);
  app_.set_help_flag("-h,--help", "print help (after a command: that command's)");
  app_.footer(kFooter);
  AddStringFlag(&app_, "--endpoints", &args_.endpoints, "LIST",
                "client addresses of some replicas (default: $SYNOD_ENDPOINTS, else "
                "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003); the others are discovered");
  AddChoiceFlag(
      &app_, "-o,--output", {"text", "json"},
      [this](const std::string& v) { args_.json = v == "json"; }, "output format (default text)");
  AddDurationFlag(&app_, "--timeout", &args_.timeout,
                  "deadline of each request, retries included (default 10s)");
  AddDurationFlag(&app_, "--session_timeout", &args_.session_timeout,
                  "session timeout for ephemeral nodes, elect, lock (default 10s)");
  app_.add_option("--cacert", args_.cacert,
                  "PEM file of the CA that signed the replicas' certificates: reach them over "
                  "TLS (default: plaintext)")
      ->type_name("FILE");
  app_.add_option("--cert", args_.cert,
                  "PEM file of this client's certificate, for replicas that require one "
                  "(with --cacert and --key)")
      ->type_name("FILE");
  app_.add_option("--key", args_.key, "PEM file of the private key of --cert")
      ->type_name("FILE");
  AddStringFlag(&app_, "--user", &args_.user, "NAME",
                "authenticate as Synod user NAME; the password comes from $SYNOD_PASSWORD, "
                "else a prompt on the terminal (never from the command line)");
  app_.add_option("--digest", args_.digests,
                  "ZooKeeper digest credentials user:password (repeatable): the calls also "
                  "hold identity digest:user:<base64 SHA-1>")
      ->type_name("USER:PASSWORD")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddTreeCommands();
  AddLiveCommands();
  AddClusterCommands();
  AddAccessCommands();
  help_ = app_.add_subcommand("help", "print this text");
  // Not inherited by the commands (set after them): leftover words are
  // collected here and reported by ParseCommandLine with a clear message.
  app_.allow_extras();
}

void Parser::AddReadFlags(CLI::App* c, bool min_revision) {
  AddChoiceFlag(
      c, "--consistency", {"linearizable", "serializable"},
      [this](const std::string& v) {
        args_.consistency =
            v == "serializable" ? Consistency::kSerializable : Consistency::kLinearizable;
      },
      "linearizable (default) or serializable (this replica's state)");
  if (min_revision) {
    AddUintFlag(c, "--min_revision", &args_.min_revision, 0, kUint64Max,
                "wait until the replica has applied at least this revision");
  }
}

void Parser::AddTreeCommands() {
  CLI::App* c =
      Command(&app_, "create",
              "create a node, print its path (--ephemeral: hold it until interrupted)", CmdCreate);
  AddCreateFlags(c, &args_.create);
  AddStringFlag(c, "--acl", &args_.acl, "LIST",
                "the node's ACL, scheme:id:perms[,...] (perms from cdrwa; e.g. "
                "world:anyone:r,user:alice:cdrwa); default world:anyone:cdrwa");
  AddPath(c, "the node to create (with --sequential: its name's prefix)");
  c->add_option("DATA", args_.data, "its data (\"-\": stdin; default empty)");

  c = Command(&app_, "get",
              "print a node's data (now, at a data version, or as it was at a revision)", CmdGet);
  CLI::Option* version = AddIntFlag(c, "--version", &args_.version,
                                    "the data at this version of the node (0 at create)");
  CLI::Option* revision = AddUintFlag(c, "--revision", &args_.revision, 0, kUint64Max,
                                      "the node as it was at this revision");
  version->excludes(revision);
  AddReadFlags(c, true);
  AddPath(c, "the node");

  c = Command(&app_, "stat", "print a node's stat", CmdStat);
  AddReadFlags(c, true);
  AddPath(c, "the node");

  c = Command(&app_, "set", "set a node's data (if its version is N)", CmdSet);
  AddVersionFlag(c, &args_.version);
  AddPath(c, "the node");
  c->add_option("DATA", args_.data, "its new data (\"-\": stdin)")->required();

  c = Command(&app_, "delete",
              "delete a node (--recursive: and its subtree, leaves first; not atomic)", CmdDelete);
  AddVersionFlag(c, &args_.version);
  c->add_flag("--recursive", args_.recursive,
              "delete the subtree too, leaves first, one request (and deadline) per node");
  AddPath(c, "the node");

  c = Command(&app_, "ls",
              "list a node's children (all unless --limit; then the last line of text output "
              "is \"next_page_token: T\" while more remain)",
              CmdLs);
  c->add_flag("--stat", args_.stat, "each child's version, children, size, mzxid");
  CLI::Option* limit = AddUint32Flag(c, "--limit", &args_.limit, 1, "at most N children");
  AddStringFlag(c, "--page_token", &args_.page_token, "TOKEN",
                "go on from a previous listing's next_page_token (needs --limit)")
      ->needs(limit);
  AddReadFlags(c, false);
  AddPath(c, "the parent node");

  c = Command(&app_, "history", "list a node's retained versions, newest first", CmdHistory);
  AddUint32Flag(c, "--limit", &args_.limit, 1, "at most N versions");
  AddPath(c, "the node");

  Command(&app_, "multi",
          "apply the ops read from stdin (one per line, see below) atomically: all or none",
          CmdMulti);
}

void Parser::AddLiveCommands() {
  CLI::App* c = Command(
      &app_, "watch",
      "print events on PATH (--recursive: its subtree) as they come, until interrupted", CmdWatch);
  c->add_flag("--recursive", args_.recursive, "events of the whole subtree");
  AddUintFlag(c, "--from_revision", &args_.from_revision, 0, kUint64Max,
              "replay the events after revision N first");
  AddPath(c, "the node watched");

  c = Command(&app_, "elect",
              "campaign with VALUE (without: only observe) and print the leader's value at each "
              "change, until interrupted; NAME is a path or lives under /synod/elections",
              CmdElect);
  c->add_option("NAME", args_.name, "the election")->required();
  c->add_option_function<std::string>(
      "VALUE", [this](const std::string& v) { args_.value = v; },
      "this candidate's value, shown while it leads");

  c = Command(&app_, "lock",
              "take the lock, print its fencing token, then run COMMAND (env SYNOD_LOCK_TOKEN) "
              "or hold until interrupted; NAME is a path or lives under /synod/locks",
              CmdLock);
  c->add_option("NAME", args_.name, "the lock")->required();
  c->add_option("COMMAND", args_.command,
                "run with the lock held (after \"--\"); synodctl exits with its status")
      ->option_text("[-- COMMAND...]");
}

void Parser::AddClusterCommands() {
  Command(&app_, "status",
          "table of the members: id, addresses, role, term, commit/applied, lag, digest",
          CmdStatus);

  CLI::App* member = app_.add_subcommand("member", "the membership: list, add, promote, remove");
  member->require_subcommand(0, 1);
  Command(member, "list", "list the members", CmdMemberList);
  CLI::App* c = Command(member, "add", "add a member as a learner", CmdMemberAdd);
  AddIdArg(c, &args_.id);
  c->add_option("PEER_ADDR", args_.peer_addr, "its peer address, HOST:PORT")->required();
  c->add_option("CLIENT_ADDR", args_.client_addr, "its client address, HOST:PORT")->required();
  AddIdArg(Command(member, "promote", "make a caught-up learner a voter", CmdMemberPromote),
           &args_.id);
  AddIdArg(Command(member, "remove", "remove a member", CmdMemberRemove), &args_.id);

  CLI::App* leader = app_.add_subcommand("leader", "leadership: transfer");
  leader->require_subcommand(0, 1);
  AddIdArg(Command(leader, "transfer", "move leadership to member ID", CmdLeaderTransfer),
           &args_.id);

  CLI::App* settings =
      app_.add_subcommand("settings", "the cluster settings recorded in the log: get, set");
  settings->require_subcommand(0, 1);
  Command(settings, "get",
          "print the cluster settings recorded in the log (the limits every replica applies)",
          CmdSettingsGet);
  c = Command(settings, "set",
              "change cluster settings through the log and print them; settings not given keep "
              "their value (history_per_node is fixed when the cluster starts)",
              CmdSettingsSet);
  AddUintFlag(c, "--max_data_bytes", &args_.max_data_bytes, 1, kInt64Max,
              "largest node data a write may carry");
  AddUintFlag(c, "--max_multi_ops", &args_.max_multi_ops, 1, kInt32Max, "most ops in one multi");
  AddUintFlag(c, "--history_per_node", &args_.history_per_node, 1, kInt32Max,
              "data versions kept per node");
  AddUintFlag(c, "--min_session_timeout_ms", &args_.min_session_timeout_ms, 1, kInt64Max,
              "shortest session timeout granted");
  AddUintFlag(c, "--max_session_timeout_ms", &args_.max_session_timeout_ms, 1, kInt64Max,
              "longest session timeout granted");
  AddUintFlag(c, "--max_ephemerals_per_session", &args_.max_ephemerals_per_session, 1, kInt64Max,
              "most ephemeral nodes one session may hold (beyond: QUOTA_EXCEEDED)");

  CLI::App* quota = app_.add_subcommand(
      "quota", "subtree quotas (hard limits on node count and data bytes): get, set, delete");
  quota->require_subcommand(0, 1);
  c = Command(quota, "get",
              "print every quota, or PATH's, as PATH nodes USED/MAX bytes USED/MAX (- : no limit)",
              CmdQuotaGet);
  c->add_option("PATH", args_.path, "only this path's quota (NO_NODE if it has none)");
  c = Command(quota, "set",
              "limit the nodes at and below PATH and their data bytes (the admin right); a "
              "create or set beyond a limit fails with QUOTA_EXCEEDED; a limit below the "
              "usage removes nothing, it stops growth",
              CmdQuotaSet);
  AddUintFlag(c, "--max_nodes", &args_.max_nodes, 0, kInt64Max,
              "most nodes at and below PATH, PATH included (0: no limit)");
  AddUintFlag(c, "--max_bytes", &args_.max_bytes, 0, kInt64Max,
              "most data bytes at and below PATH (0: no limit)");
  AddPath(c, "the subtree's root (it need not exist yet)");
  c = Command(quota, "delete", "remove PATH's quota (the admin right)", CmdQuotaDelete);
  AddPath(c, "the subtree's root");

  CLI::App* snapshot = app_.add_subcommand(
      "snapshot", "back up (snapshot save FILE) and verify a backup (snapshot status FILE)");
  snapshot->require_subcommand(0, 1);
  c = Command(snapshot, "save",
              "back up: stream a consistent snapshot from one replica into FILE (via FILE.tmp, "
              "synced and verified before the rename); print its revision, digest, size, nodes "
              "(default --timeout here: 10m for the whole transfer)",
              CmdSnapshotSave);
  c->add_option("FILE", args_.file, "the backup file to write")->required();
  c = Command(snapshot, "status",
              "verify a backup file offline (checksums, digest) and print its revision, digest, "
              "nodes; exit 13 if it is damaged",
              CmdSnapshotStatus);
  c->add_option("FILE", args_.file, "the backup file to check")->required();
}

void Parser::AddAccessCommands() {
  CLI::App* acl = app_.add_subcommand("acl", "a node's ACL: get, set");
  acl->require_subcommand(0, 1);
  CLI::App* c = Command(acl, "get",
                        "print a node's ACL, one scheme:id:perms per line, and its aversion "
                        "(needs READ or ADMIN on it; READ alone shows digest hashes as x)",
                        CmdAclGet);
  AddReadFlags(c, false);
  AddPath(c, "the node");
  c = Command(acl, "set", "replace a node's ACL (needs ADMIN on it), print the new aversion",
              CmdAclSet);
  AddIntFlag(c, "--aversion", &args_.aversion,
             "only if the node's ACL version is N (else BAD_VERSION)");
  AddPath(c, "the node");
  c->add_option("LIST", args_.acl_list,
                "the new ACL, scheme:id:perms[,...]: schemes world, auth, digest, ip, x509, "
                "user, sasl; perms from cdrwa")
      ->required();

  Command(&app_, "whoami", "print the identities these credentials authenticate as", CmdWhoAmI);

  CLI::App* auth = app_.add_subcommand("auth", "the cluster's authentication switch");
  auth->require_subcommand(0, 1);
  Command(auth, "enable",
          "require credentials for cluster operations (refused unless a superuser user "
          "exists; needs the admin right once enabled)",
          CmdAuthEnable);
  Command(auth, "disable", "turn authentication off (needs the admin right)", CmdAuthDisable);
  Command(auth, "status", "print whether authentication is enabled", CmdAuthStatus);

  CLI::App* user = app_.add_subcommand("user", "Synod users: add, delete, passwd, list");
  user->require_subcommand(0, 1);
  const std::string password_source =
      "; the password comes from $SYNOD_NEW_PASSWORD, else $SYNOD_PASSWORD without --user, "
      "else a prompt on the terminal";
  c = Command(user, "add", "add a user (the admin right while auth is enabled)" + password_source,
              CmdUserAdd);
  c->add_flag("--superuser", args_.superuser,
              "the user bypasses every ACL and holds the admin right");
  c->add_option("NAME", args_.user_name, "the user")->required();
  c = Command(user, "delete", "delete a user", CmdUserDelete);
  c->add_option("NAME", args_.user_name, "the user")->required();
  c = Command(user, "passwd",
              "change a user's password (a user may change its own)" + password_source,
              CmdUserPasswd);
  c->add_option("NAME", args_.user_name, "the user")->required();
  Command(user, "list", "list the users, with superuser marked", CmdUserList);
}

// The last command word given: a command, a group, or the root.
const CLI::App* Selected(const CLI::App& root) {
  const CLI::App* app = &root;
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  return app;
}

std::string CommandWords(const CLI::App& app) {
  std::vector<std::string> words;
  for (const CLI::App* a = &app; a->get_parent() != nullptr; a = a->get_parent()) {
    words.insert(words.begin(), a->get_name());
  }
  return absl::StrJoin(words, " ");
}

std::vector<std::string> SubcommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(s->get_name());
  }
  return names;
}

// "see synodctl get --help" for a command, "synodctl --help" otherwise.
std::string HelpHint(const CLI::App& app) {
  const std::string words = CommandWords(app);
  return absl::StrCat("synodctl ", words, words.empty() ? "" : " ", "--help");
}

}  // namespace

CommandLine ParseCommandLine(const std::vector<std::string>& raw) {
  Parser parser;
  CommandLine out;
  std::vector<std::string> reversed = KeepEmptyValues(raw);
  std::reverse(reversed.begin(), reversed.end());  // CLI11 takes them last first
  std::optional<std::string> error;
  bool help = false;
  try {
    parser.app().parse(reversed);
  } catch (const CLI::CallForHelp&) {
    help = true;
  } catch (const CLI::ParseError& e) {
    error = e.what();
  }
  const CLI::App* selected = Selected(parser.app());
  if (help || selected == parser.help_command()) {
    out.help = selected == &parser.app() || selected == parser.help_command()
                   ? RootHelpText(parser.app())
                   : CommandHelpText(*selected);
    return out;
  }
  const bool is_group = parser.FnOf(selected) == nullptr;
  // Words nobody took: the unknown flag or command explains any other
  // error that followed from it.
  for (const std::string& word : parser.app().remaining()) {
    if (word == "--") continue;
    if (word.size() > 1 && word[0] == '-') {
      out.error = UsageError(absl::StrCat("unknown flag ", word.substr(0, word.find('='))));
    } else if (is_group) {
      const std::string words = CommandWords(*selected);
      out.error = UsageError(absl::StrCat("unknown command \"", words, words.empty() ? "" : " ",
                                          word, "\" (", HelpHint(*selected), " lists them)"));
    } else {
      out.error = UsageError(
          absl::StrCat("unexpected argument \"", word, "\" (", HelpHint(*selected), ")"));
    }
    return out;
  }
  if (error.has_value()) {
    const std::string words = CommandWords(*selected);
    out.error = UsageError(
        absl::StrCat(words, words.empty() ? "" : ": ", *error, " (", HelpHint(*selected), ")"));
    return out;
  }
  if (selected == &parser.app()) {
    out.error = UsageError("no command given");
    out.help = RootHelpText(parser.app());
    out.show_help_after_error = true;
    return out;
  }
  if (is_group) {
    out.error = UsageError(absl::StrCat(CommandWords(*selected), " needs one of its commands: ",
                                        absl::StrJoin(SubcommandNames(*selected), ", ")));
    return out;
  }
  Args& args = parser.args();
  if (parser.FnOf(selected) == CmdLock) {
    // COMMAND is whatever follows "--", verbatim; words before it are not.
    auto dashdash = std::find(raw.begin(), raw.end(), "--");
    args.command_given = dashdash != raw.end();
    const std::vector<std::string> after(dashdash == raw.end() ? raw.end() : dashdash + 1,
                                         raw.end());
    if (args.command != after) {
      out.error = UsageError("lock NAME -- COMMAND: put \"--\" between NAME and COMMAND");
      return out;
    }
  }
  out.fn = parser.FnOf(selected);
  out.args = std::move(args);
  return out;
}

}  // namespace synod::ctl
