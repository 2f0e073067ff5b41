// synodctl multi: reads one op per line from stdin (create, set, delete,
// check, with their flags, parsed by the same CLI11 options as the
// commands) and applies them all or none.
#include <algorithm>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/synodctl/commands.h"
#include "client/synodctl/flags.h"

namespace synod::ctl {
namespace {

// Splits one line into words: whitespace separates, '...' and "..." quote
// (backslash escapes inside double quotes: \n, \t, any other character as
// itself). Errors: usage (unterminated quote).
absl::StatusOr<std::vector<std::string>> SplitWords(const std::string& line) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c != '\'' && c != '"') {
      cur += c;
      continue;
    }
    const char quote = c;
    bool closed = false;
    for (++i; i < line.size(); ++i) {
      if (line[i] == quote) {
        closed = true;
        break;
      }
      if (quote == '"' && line[i] == '\\' && i + 1 < line.size()) {
        const char n = line[++i];
        cur += n == 'n' ? '\n' : n == 't' ? '\t' : n;
        continue;
      }
      cur += line[i];
    }
    if (!closed) return UsageError("unterminated quote");
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

// One op line: "create [flags] PATH [DATA]", "set [--version=N] PATH DATA",
// "delete [--version=N] PATH", "check [--version=N] PATH".
absl::StatusOr<Op> ParseOpLine(const std::vector<std::string>& words) {
  CLI::App app("one op of a multi", "op");
  app.require_subcommand(1, 1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CreateFlags create;
  std::optional<int64_t> version;
  std::string path, data;
  CLI::App* c = app.add_subcommand("create");
  AddCreateFlags(c, &create);
  c->add_option("PATH", path)->required();
  c->add_option("DATA", data);
  CLI::App* s = app.add_subcommand("set");
  AddVersionFlag(s, &version);
  s->add_option("PATH", path)->required();
  s->add_option("DATA", data)->required();
  for (const char* name : {"delete", "check"}) {
    CLI::App* d = app.add_subcommand(name);
    AddVersionFlag(d, &version);
    d->add_option("PATH", path)->required();
  }
  std::vector<std::string> reversed = words;
  std::reverse(reversed.begin(), reversed.end());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (app.get_subcommands().empty()) {
      return UsageError(absl::StrCat("bad op \"", words[0],
                                     "\": expected create, set, delete "
                                     "or check"));
    }
    return UsageError(absl::StrCat(words[0], ": ", e.what()));
  }
  const std::string op = app.get_subcommands().front()->get_name();
  if (op == "create") {
    absl::StatusOr<CreateOptions> o = CreateOptionsFrom(create);
    if (!o.ok()) return o.status();
    return Op::Create(path, data, *o);
  }
  if (op == "set") return Op::Set(path, data, version.value_or(-1));
  if (op == "delete") return Op::Delete(path, version.value_or(-1));
  return Op::Check(path, version.value_or(-1));
}

}  // namespace

absl::Status CmdMulti(Ctx& ctx) {
  if (ctx.io().in == nullptr) return UsageError("multi reads its ops from stdin");
  std::vector<Op> ops;
  std::string line;
  int line_no = 0;
  while (std::getline(*ctx.io().in, line)) {
    ++line_no;
    absl::StatusOr<std::vector<std::string>> words = SplitWords(line);
    if (!words.ok()) {
      return UsageError(absl::StrCat("line ", line_no, ": ", words.status().message()));
    }
    if (words->empty() || (*words)[0][0] == '#') continue;
    absl::StatusOr<Op> op = ParseOpLine(*words);
    if (!op.ok()) return UsageError(absl::StrCat("line ", line_no, ": ", op.status().message()));
    ops.push_back(*std::move(op));
  }
  if (ops.empty()) return UsageError("multi: no ops on stdin");
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<MultiResult> r = (*client)->Multi(ops, ctx.call());
  if (!r.ok()) return r.status();
  static constexpr const char* kNames[] = {"create", "set", "delete", "check"};
  if (ctx.json()) {
    Json results = Json::array();
    for (size_t i = 0; i < ops.size() && i < r->results.size(); ++i) {
      Json result;
      result["op"] = kNames[static_cast<int>(ops[i].type)];
      result["path"] = r->results[i].path.empty() ? ops[i].path : r->results[i].path;
      if (ops[i].type == Op::Type::kCreate || ops[i].type == Op::Type::kSet) {
        result["stat"] = StatJson(r->results[i].stat);
      }
      results.push_back(std::move(result));
    }
    Json j;
    j["results"] = std::move(results);
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out;
  for (size_t i = 0; i < ops.size() && i < r->results.size(); ++i) {
    const std::string& path = r->results[i].path.empty() ? ops[i].path : r->results[i].path;
    absl::StrAppend(&out, kNames[static_cast<int>(ops[i].type)], " ", path);
    if (ops[i].type == Op::Type::kSet) {
      absl::StrAppend(&out, " version=", r->results[i].stat.version);
    }
    absl::StrAppend(&out, "\n");
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

}  // namespace synod::ctl
