#include "server/settings_seed.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace synod::server {
namespace {

// "--flag=mine (log: theirs)" for each setting that differs.
std::string Differences(const storage::ClusterSettings& flags,
                        const storage::ClusterSettings& log) {
  std::string out;
  auto one = [&out](const char* name, int64_t mine, int64_t theirs) {
    if (mine == theirs) return;
    absl::StrAppend(&out, out.empty() ? "" : ", ", "--", name, "=", mine, " (log: ", theirs, ")");
  };
  one("max_data_bytes", flags.max_data_bytes, log.max_data_bytes);
  one("max_multi_ops", flags.max_multi_ops, log.max_multi_ops);
  one("history_per_node", flags.history_per_node, log.history_per_node);
  one("min_session_timeout_ms", flags.min_session_timeout_ms, log.min_session_timeout_ms);
  one("max_session_timeout_ms", flags.max_session_timeout_ms, log.max_session_timeout_ms);
  one("max_ephemerals_per_session", flags.max_ephemerals_per_session,
      log.max_ephemerals_per_session);
  return out;
}

}  // namespace

std::optional<v1::Command> SettingsSeed::BootstrapProposal(
    const std::optional<storage::ClusterSettings>& recorded, absl::Time now) {
  if (recorded.has_value() || now < next_proposal_) return std::nullopt;
  next_proposal_ = now + retry_;
  v1::Command command;
  storage::ToProto(flags_, command.mutable_set_settings()->mutable_settings());
  command.mutable_set_settings()->set_bootstrap(true);
  return command;
}

bool SettingsSeed::Check(const std::optional<storage::ClusterSettings>& recorded) {
  if (!recorded.has_value()) return false;
  const bool differ = !(*recorded == flags_);
  if (last_checked_.has_value() && *last_checked_ == *recorded) return differ;
  last_checked_ = recorded;
  if (differ) {
    base::Log(base::LogLevel::kWarning,
              "cluster settings: this replica's flags differ from the settings the log records, "
              "which are the ones used: %s",
              Differences(flags_, *recorded).c_str());
  }
  return differ;
}

}  // namespace synod::server
