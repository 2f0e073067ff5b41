#include "tests/faults/history.h"

#include <algorithm>
#include <chrono>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace synod::faults {

const char* OpTypeName(OpType type) {
  switch (type) {
    case OpType::kRead:
      return "read";
    case OpType::kWrite:
      return "write";
    case OpType::kCas:
      return "cas";
    case OpType::kCreate:
      return "create";
    case OpType::kList:
      return "list";
    case OpType::kClose:
      return "close";
    case OpType::kSession:
      return "session";
  }
  return "?";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

std::string ToJsonLine(const Op& op) {
  nlohmann::json j = {{"id", op.id},
                      {"client", op.client},
                      {"replica", op.replica},
                      {"key", op.key},
                      {"type", OpTypeName(op.type)},
                      {"outcome", OutcomeName(op.outcome)},
                      {"invoke_ns", op.invoke_ns},
                      {"complete_ns", op.complete_ns},
                      {"revision", op.revision},
                      {"version", op.version}};
  if (op.type != OpType::kRead && op.type != OpType::kList) j["value"] = op.value;
  if (op.type == OpType::kCas) j["expected_version"] = op.expected_version;
  if ((op.type == OpType::kRead || op.type == OpType::kCreate) && op.outcome == Outcome::kOk) {
    j["read_value"] = op.read_value;
  }
  if (!op.error.empty()) j["error"] = op.error;
  if (op.session != 0) j["session"] = op.session;
  if (op.attempts != 1) j["attempts"] = op.attempts;
  if (op.type == OpType::kList) {
    nlohmann::json children = nlohmann::json::array();
    for (const ListedChild& c : op.children) children.push_back({c.name, c.data, c.owner});
    j["children"] = std::move(children);
  }
  return j.dump();
}

absl::StatusOr<Op> FromJsonLine(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("not a JSON object: ", line));
  }
  Op op;
  try {
    op.id = j.at("id").get<int64_t>();
    op.client = j.at("client").get<int>();
    op.replica = j.at("replica").get<int>();
    op.key = j.at("key").get<std::string>();
    const std::string type = j.at("type").get<std::string>();
    bool known = false;
    for (OpType t : {OpType::kRead, OpType::kWrite, OpType::kCas, OpType::kCreate, OpType::kList,
                     OpType::kClose, OpType::kSession}) {
      if (type == OpTypeName(t)) {
        op.type = t;
        known = true;
      }
    }
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown op type '", type, "'"));
    const std::string outcome = j.at("outcome").get<std::string>();
    if (outcome == "ok") {
      op.outcome = Outcome::kOk;
    } else if (outcome == "fail") {
      op.outcome = Outcome::kFail;
    } else if (outcome == "unknown") {
      op.outcome = Outcome::kUnknown;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown outcome '", outcome, "'"));
    }
    op.invoke_ns = j.at("invoke_ns").get<int64_t>();
    op.complete_ns = j.at("complete_ns").get<int64_t>();
    op.revision = j.value("revision", uint64_t{0});
    op.version = j.value("version", int64_t{-1});
    op.value = j.value("value", std::string());
    op.expected_version = j.value("expected_version", int64_t{-1});
    op.read_value = j.value("read_value", std::string());
    op.error = j.value("error", std::string());
    op.session = j.value("session", uint64_t{0});
    op.attempts = j.value("attempts", 1);
    if (j.contains("children")) {
      for (const nlohmann::json& c : j.at("children")) {
        op.children.push_back(
            {c.at(0).get<std::string>(), c.at(1).get<std::string>(), c.at(2).get<uint64_t>()});
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad op (", e.what(), "): ", line));
  }
  if (op.complete_ns < op.invoke_ns) {
    return absl::InvalidArgumentError(absl::StrCat("op ", op.id, " completes before it starts"));
  }
  return op;
}

absl::Status WriteHistory(const std::string& path, const std::vector<Op>& ops) {
  std::ofstream out(path, std::ios::trunc);
  for (const Op& op : ops) out << ToJsonLine(op) << "\n";
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Op>> ReadHistory(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<Op> ops;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    absl::StatusOr<Op> op = FromJsonLine(line);
    if (!op.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": ", op.status().message()));
    }
    ops.push_back(*std::move(op));
  }
  return ops;
}

std::string Seconds(int64_t ns) { return absl::StrFormat("%.3fs", ns / 1e9); }

std::string Describe(const Op& op) {
  std::string what;
  switch (op.type) {
    case OpType::kRead:
      what = absl::StrCat("read ", op.key);
      if (op.outcome == Outcome::kOk) {
        what += absl::StrCat(" -> '", op.read_value, "' v", op.version);
      }
      break;
    case OpType::kWrite:
      what = absl::StrCat("write ", op.key, " := '", op.value, "'");
      if (op.outcome == Outcome::kOk) what += absl::StrCat(" -> v", op.version);
      break;
    case OpType::kCas:
      what = absl::StrCat("cas ", op.key, " if v", op.expected_version, " := '", op.value, "'");
      if (op.outcome == Outcome::kOk) what += absl::StrCat(" -> v", op.version);
      break;
    case OpType::kCreate:
      what = absl::StrCat("create ", op.key, " := '", op.value, "'");
      if (op.outcome == Outcome::kOk) what += absl::StrCat(" -> ", op.read_value);
      break;
    case OpType::kList:
      what = absl::StrCat("list ", op.key, " -> ", op.children.size(), " children");
      break;
    case OpType::kClose:
      what = "close";
      break;
    case OpType::kSession:
      what = absl::StrCat("session ", op.value);
      break;
  }
  if (op.session != 0) what += absl::StrFormat(" session %#x", op.session);
  if (op.attempts != 1) what += absl::StrCat(" (", op.attempts, " attempts)");
  return absl::StrCat("#", op.id, " client ", op.client, " ", what, " ", OutcomeName(op.outcome),
                      op.error.empty() ? "" : absl::StrCat(" (", op.error, ")"), " on replica ",
                      op.replica, " rev ", op.revision, " [", Seconds(op.invoke_ns), ", ",
                      Seconds(op.complete_ns), "]");
}

int64_t RunClockNs() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

int64_t HistoryRecorder::NextId() {
  absl::MutexLock lock(&mu_);
  return next_id_++;
}

void HistoryRecorder::Add(Op op) {
  absl::MutexLock lock(&mu_);
  ops_.push_back(std::move(op));
}

std::vector<Op> HistoryRecorder::Take() {
  absl::MutexLock lock(&mu_);
  std::vector<Op> out = std::move(ops_);
  ops_.clear();
  std::sort(out.begin(), out.end(), [](const Op& a, const Op& b) { return a.id < b.id; });
  return out;
}

}  // namespace synod::faults
