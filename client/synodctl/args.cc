#include "client/synodctl/args.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace synod::ctl {
namespace {

const FlagSpec* FindLong(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const FlagSpec& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const FlagSpec* FindShort(const std::vector<FlagSpec>& specs, char c) {
  for (const FlagSpec& s : specs) {
    if (s.short_name != 0 && s.short_name == c) return &s;
  }
  return nullptr;
}

bool IsFlag(const std::string& a) { return a.size() > 1 && a[0] == '-'; }

}  // namespace

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.saw_dashdash = true;
      out.rest.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (!IsFlag(a)) {
      out.positional.push_back(a);
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::string value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2);
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      spec = FindLong(specs, name);
      if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    } else {
      if (a.size() != 2) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", a));
      spec = FindShort(specs, a[1]);
      if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", a));
    }
    if (spec->takes_value && !has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", spec->name, " needs a value"));
      }
      value = args[++i];
    } else if (!spec->takes_value) {
      if (has_value && value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("flag --", spec->name, " takes no value"));
      }
      if (has_value && value == "false") continue;
      value = "true";
    }
    out.flags[spec->name] = value;
  }
  return out;
}

std::vector<std::string> CommandWords(const std::vector<std::string>& args,
                                      const std::vector<FlagSpec>& specs, size_t count) {
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size() && words.size() < count; ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (!IsFlag(a)) {
      words.push_back(a);
      continue;
    }
    // Skip the separate value of a known value flag.
    const FlagSpec* spec = nullptr;
    if (a.rfind("--", 0) == 0) {
      if (a.find('=') == std::string::npos) spec = FindLong(specs, a.substr(2));
    } else if (a.size() == 2) {
      spec = FindShort(specs, a[1]);
    }
    if (spec != nullptr && spec->takes_value) ++i;
  }
  return words;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& name,
                                                 const std::string& value) {
  absl::Duration d;
  double seconds = 0;
  if (absl::ParseDuration(value, &d) && d > absl::ZeroDuration()) return d;
  if (absl::SimpleAtod(value, &seconds) && seconds > 0) return absl::Seconds(seconds);
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, "=", value, ": not a positive duration (e.g. 5s, 250ms)"));
}

absl::StatusOr<int64_t> ParseIntFlag(const std::string& name, const std::string& value) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, "=", value, ": not an integer"));
  }
  return v;
}

absl::StatusOr<uint64_t> ParseUintFlag(const std::string& name, const std::string& value) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " ", value, ": not a non-negative integer"));
  }
  return v;
}

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
    if (c == '\'' || c == '"') {
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
      if (!closed) return absl::InvalidArgumentError("unterminated quote");
      continue;
    }
    cur += c;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

}  // namespace synod::ctl
