#include "client/synodctl/help.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace synod::ctl {
namespace {

constexpr size_t kNameColumn = 28;

// "member add": the command's words after "synodctl".
std::string CommandPath(const CLI::App& app) {
  std::vector<std::string> words;
  for (const CLI::App* a = &app; a->get_parent() != nullptr; a = a->get_parent()) {
    words.insert(words.begin(), a->get_name());
  }
  return absl::StrJoin(words, " ");
}

bool TakesValue(const CLI::Option& opt) { return opt.get_expected_max() != 0; }

// "-o, --output=FORMAT", "--recursive".
std::string FlagName(const CLI::Option& opt) {
  std::vector<std::string> names;
  for (const std::string& s : opt.get_snames()) names.push_back(absl::StrCat("-", s));
  for (const std::string& l : opt.get_lnames()) names.push_back(absl::StrCat("--", l));
  std::string out = absl::StrJoin(names, ", ");
  if (TakesValue(opt)) absl::StrAppend(&out, "=", opt.get_type_name());
  return out;
}

// "PATH", "[DATA]", or the argument's own usage text.
std::string ArgUsage(const CLI::Option& opt) {
  if (!opt.get_option_text().empty()) return opt.get_option_text();
  return opt.get_required() ? opt.get_name() : absl::StrCat("[", opt.get_name(), "]");
}

std::vector<const CLI::Option*> Flags(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) { return o->nonpositional(); });
}

std::vector<const CLI::Option*> Positionals(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) { return o->get_positional(); });
}

std::vector<const CLI::App*> Subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App*) { return true; });
}

// What follows the command's words in its usage: its flags (but --help),
// then its arguments, or COMMAND when it has sub-commands.
std::string UsageTail(const CLI::App& app) {
  std::vector<std::string> parts;
  for (const CLI::Option* f : Flags(app)) {
    if (f == app.get_help_ptr()) continue;
    parts.push_back(absl::StrCat("[", FlagName(*f), "]"));
  }
  for (const CLI::Option* p : Positionals(app)) parts.push_back(ArgUsage(*p));
  if (!Subcommands(app).empty()) parts.push_back("COMMAND");
  return absl::StrJoin(parts, " ");
}

void AppendRow(std::string* out, const std::string& name, const std::string& help) {
  const std::string left = absl::StrCat("  ", name);
  if (left.size() + 2 > kNameColumn) {
    absl::StrAppend(out, left, "\n", std::string(kNameColumn, ' '), help, "\n");
  } else {
    absl::StrAppend(out, left, std::string(kNameColumn - left.size(), ' '), help, "\n");
  }
}

void AppendFlags(std::string* out, const CLI::App& app) {
  for (const CLI::Option* f : Flags(app)) AppendRow(out, FlagName(*f), f->get_description());
}

// Every runnable command under `app`, with its usage and summary.
void AppendCommands(std::string* out, const CLI::App& app) {
  for (const CLI::App* sub : Subcommands(app)) {
    if (!Subcommands(*sub).empty()) {
      AppendCommands(out, *sub);
      continue;
    }
    const std::string tail = UsageTail(*sub);
    absl::StrAppend(out, "  ", CommandPath(*sub), tail.empty() ? "" : " ", tail, "\n      ",
                    sub->get_description(), "\n");
  }
}

}  // namespace

std::string RootHelpText(const CLI::App& root) {
  std::string out = absl::StrCat(root.get_description(),
                                 "\n\nUsage: synodctl [global flags] COMMAND [flags] [ARGS...]\n"
                                 "\nGlobal flags (anywhere before \"--\"):\n");
  AppendFlags(&out, root);
  absl::StrAppend(&out, "\nCommands:\n");
  AppendCommands(&out, root);
  absl::StrAppend(&out, "\n", root.get_footer());
  return out;
}

std::string CommandHelpText(const CLI::App& app) {
  const std::string tail = UsageTail(app);
  std::string out =
      absl::StrCat("Usage: synodctl [global flags] ", CommandPath(app), tail.empty() ? "" : " ",
                   tail, "\n\n", app.get_description(), "\n");
  if (const std::vector<const CLI::Option*> args = Positionals(app); !args.empty()) {
    absl::StrAppend(&out, "\nArguments:\n");
    for (const CLI::Option* a : args) AppendRow(&out, a->get_name(), a->get_description());
  }
  absl::StrAppend(&out, "\nFlags:\n");
  AppendFlags(&out, app);
  if (!Subcommands(app).empty()) {
    absl::StrAppend(&out, "\nCommands:\n");
    AppendCommands(&out, app);
  }
  absl::StrAppend(&out,
                  "\nGlobal flags: --endpoints=LIST, -o text|json, --timeout=DUR,\n"
                  "--session_timeout=DUR, --cacert/--cert/--key=FILE (synodctl --help\n"
                  "describes them, the other commands and the exit statuses).\n");
  return out;
}

}  // namespace synod::ctl
