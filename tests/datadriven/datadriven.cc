#include "tests/datadriven/datadriven.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace synod::datadriven {
namespace {

constexpr char kSeparator[] = "----";

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

bool RewriteRequested() {
  const char* v = std::getenv("SYNOD_REWRITE");
  return v != nullptr && std::string(v) != "" && std::string(v) != "0";
}

// Appends `output` under a command in the file format: single separator, or
// double separators when the output has blank lines.
void AppendOutput(const std::string& output, std::string* out) {
  std::string body = output;
  if (!body.empty() && body.back() != '\n') body += '\n';
  const bool has_blank =
      body.find("\n\n") != std::string::npos || (!body.empty() && body[0] == '\n');
  if (has_blank) {
    *out += "----\n----\n" + body + "----\n----\n";
  } else {
    *out += "----\n" + body;
  }
}

}  // namespace

const CmdArg* TestData::Arg(const std::string& key) const {
  for (const CmdArg& a : args) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

bool ParseCommandLine(const std::string& line, std::string* cmd, std::vector<CmdArg>* args,
                      std::string* error) {
  std::vector<std::string> tokens;
  std::string cur;
  int depth = 0;
  for (char c : line) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth < 0) {
      *error = "unbalanced ')'";
      return false;
    }
    if ((c == ' ' || c == '\t') && depth == 0) {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) {
    *error = "unbalanced '('";
    return false;
  }
  if (!cur.empty()) tokens.push_back(cur);
  if (tokens.empty()) {
    *error = "empty command";
    return false;
  }
  *cmd = tokens[0];
  args->clear();
  for (size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    CmdArg arg;
    const size_t eq = t.find('=');
    if (eq == std::string::npos) {
      arg.key = t;
    } else {
      arg.key = t.substr(0, eq);
      std::string v = t.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '(' && v.back() == ')') {
        v = v.substr(1, v.size() - 2);
        std::string item;
        std::istringstream in(v);
        while (std::getline(in, item, ',')) {
          item.erase(0, item.find_first_not_of(' '));
          item.erase(item.find_last_not_of(' ') + 1);
          if (!item.empty()) arg.vals.push_back(item);
        }
      } else {
        arg.vals.push_back(v);
      }
    }
    args->push_back(std::move(arg));
  }
  return true;
}

void RunDataDrivenTest(const std::string& path,
                       const std::function<std::string(const TestData&)>& handler) {
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::vector<std::string> lines = SplitLines(buf.str());
  const bool rewrite = RewriteRequested();
  std::string rewritten;

  size_t i = 0;
  while (i < lines.size()) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') {
      rewritten += line + "\n";
      ++i;
      continue;
    }
    TestData d;
    d.pos = path + ":" + std::to_string(i + 1);
    std::string error;
    if (!ParseCommandLine(line, &d.cmd, &d.args, &error)) {
      ADD_FAILURE() << d.pos << ": " << error;
      return;
    }
    rewritten += line + "\n";
    ++i;
    while (i < lines.size() && lines[i] != kSeparator) {
      d.input += lines[i] + "\n";
      rewritten += lines[i] + "\n";
      ++i;
    }
    if (i == lines.size()) {
      ADD_FAILURE() << d.pos << ": missing " << kSeparator << " after the command";
      return;
    }
    ++i;  // the separator
    if (i < lines.size() && lines[i] == kSeparator) {
      // Double-separator form: runs until "----\n----".
      ++i;
      while (i < lines.size() &&
             !(lines[i] == kSeparator && i + 1 < lines.size() && lines[i + 1] == kSeparator)) {
        d.expected += lines[i] + "\n";
        ++i;
      }
      if (i == lines.size()) {
        ADD_FAILURE() << d.pos << ": unterminated ----/---- output";
        return;
      }
      i += 2;
    } else {
      while (i < lines.size() && !lines[i].empty()) {
        d.expected += lines[i] + "\n";
        ++i;
      }
    }
    if (!d.input.empty()) d.input.pop_back();  // no trailing newline on input

    std::string actual = handler(d);
    if (!actual.empty() && actual.back() != '\n') actual += '\n';
    if (rewrite) {
      AppendOutput(actual, &rewritten);
    } else if (actual != d.expected) {
      ADD_FAILURE() << d.pos << ": output of `" << line << "` differs\n--- expected\n"
                    << d.expected << "--- actual\n"
                    << actual << "(rerun with SYNOD_REWRITE=1 to accept)";
    }
    // The blank line that ended the block is kept as it was.
  }
  if (rewrite) {
    while (rewritten.size() >= 2 && rewritten.substr(rewritten.size() - 2) == "\n\n") {
      rewritten.pop_back();
    }
    std::ofstream out(path, std::ios::trunc);
    out << rewritten;
    if (!out) ADD_FAILURE() << "cannot rewrite " << path;
  }
}

std::vector<std::string> ListTestFiles(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string p = entry.path().string();
    if (entry.is_regular_file() && p.size() >= suffix.size() &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace synod::datadriven
