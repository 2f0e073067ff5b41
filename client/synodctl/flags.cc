#include "client/synodctl/flags.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace synod::ctl {
namespace {

std::optional<absl::Duration> ParseDuration(const std::string& value) {
  absl::Duration d;
  double seconds = 0;
  if (absl::ParseDuration(value, &d) && d > absl::ZeroDuration()) return d;
  if (absl::SimpleAtod(value, &seconds) && seconds > 0) return absl::Seconds(seconds);
  return std::nullopt;
}

template <typename T>
std::optional<T> ParseInRange(const std::string& value, T min, T max) {
  T v{};
  if (!absl::SimpleAtoi(value, &v) || v < min || v > max) return std::nullopt;
  return v;
}

template <typename T>
std::string RangeText(T min, T max) {
  if (max == std::numeric_limits<T>::max()) {
    return min == 0 ? std::string("a non-negative integer") : absl::StrCat("an integer >= ", min);
  }
  return absl::StrCat("an integer from ", min, " to ", max);
}

// An option whose text is checked by `parse` (nullopt: refused with
// `expected`) and stored through it.
template <typename T, typename Parse>
CLI::Option* AddParsed(CLI::App* app, const std::string& name, std::optional<T>* out,
                       const std::string& type_name, const std::string& expected, Parse parse,
                       const std::string& help) {
  CLI::Option* opt = app->add_option_function<std::string>(
      name, [out, parse](const std::string& v) { *out = parse(v); }, help);
  opt->type_name(type_name);
  opt->check(CLI::Validator(
      [parse, expected](std::string& v) -> std::string {
        if (parse(v).has_value()) return "";
        return absl::StrCat("\"", v, "\" is not ", expected);
      },
      "", type_name));
  return opt;
}

}  // namespace

CLI::Option* AddDurationFlag(CLI::App* app, const std::string& name,
                             std::optional<absl::Duration>* out, const std::string& help) {
  return AddParsed(app, name, out, "DUR", "a positive duration (e.g. 5s, 250ms, 1m30s)",
                   ParseDuration, help);
}

CLI::Option* AddIntFlag(CLI::App* app, const std::string& name, std::optional<int64_t>* out,
                        const std::string& help) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return AddParsed(
      app, name, out, "N", "an integer",
      [](const std::string& v) { return ParseInRange<int64_t>(v, kMin, kMax); }, help);
}

CLI::Option* AddUintFlag(CLI::App* app, const std::string& name, std::optional<uint64_t>* out,
                         uint64_t min, uint64_t max, const std::string& help) {
  return AddParsed(
      app, name, out, "N", RangeText(min, max),
      [min, max](const std::string& v) { return ParseInRange<uint64_t>(v, min, max); }, help);
}

CLI::Option* AddUint32Flag(CLI::App* app, const std::string& name, std::optional<uint32_t>* out,
                           uint32_t min, const std::string& help) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  return AddParsed(
      app, name, out, "N", RangeText<uint64_t>(min, kMax),
      [min](const std::string& v) { return ParseInRange<uint32_t>(v, min, kMax); }, help);
}

CLI::Option* AddChoiceFlag(CLI::App* app, const std::string& name,
                           const std::vector<std::string>& choices,
                           std::function<void(const std::string&)> set, const std::string& help) {
  const std::string type_name = absl::StrJoin(choices, "|");
  CLI::Option* opt = app->add_option_function<std::string>(name, std::move(set), help);
  opt->type_name(type_name);
  opt->check(CLI::Validator(
      [choices](std::string& v) -> std::string {
        if (std::find(choices.begin(), choices.end(), v) != choices.end()) return "";
        return absl::StrCat("\"", v, "\" is not one of ", absl::StrJoin(choices, ", "));
      },
      "", type_name));
  return opt;
}

CLI::Option* AddStringFlag(CLI::App* app, const std::string& name, std::optional<std::string>* out,
                           const std::string& type_name, const std::string& help) {
  CLI::Option* opt = app->add_option_function<std::string>(
      name, [out](const std::string& v) { *out = v; }, help);
  opt->type_name(type_name);
  return opt;
}

CLI::Option* AddIdArg(CLI::App* app, uint64_t* out) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  CLI::Option* opt = app->add_option_function<std::string>(
      "ID", [out](const std::string& v) { *out = ParseInRange<uint64_t>(v, 1, kMax).value_or(0); },
      "member id: 1, 2, ...");
  opt->required()->type_name("ID");
  opt->check(CLI::Validator(
      [](std::string& v) -> std::string {
        if (ParseInRange<uint64_t>(v, 1, kMax).has_value()) return "";
        return absl::StrCat("\"", v, "\" is not a member id (1, 2, ...)");
      },
      "", "ID"));
  return opt;
}

void AddCreateFlags(CLI::App* app, CreateFlags* out) {
  app->add_flag("--ephemeral", out->ephemeral,
                "deleted when this command's session ends; held until interrupted");
  app->add_flag("--sequential", out->sequential,
                "append a 10-digit counter from the parent to the name");
  app->add_flag("--container", out->container, "deleted by the server once its last child is gone");
  AddDurationFlag(app, "--ttl", &out->ttl,
                  "deleted once unchanged and childless for DUR (e.g. 30s)");
}

CLI::Option* AddVersionFlag(CLI::App* app, std::optional<int64_t>* out) {
  return AddIntFlag(app, "--version", out, "only if the node's version is N (else BAD_VERSION)");
}

std::vector<std::string> KeepEmptyValues(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  bool flags_done = false;
  for (const std::string& a : args) {
    if (a == "--") flags_done = true;
    if (!flags_done && a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=' &&
        a.find('=') == a.size() - 1) {
      out.push_back(a.substr(0, a.size() - 1));
      out.emplace_back();
      continue;
    }
    out.push_back(a);
  }
  return out;
}

}  // namespace synod::ctl
