// SettingsSeed: what this replica's flags still do for the cluster
// settings (storage/cluster_settings.h) once the log holds them.
//
// Flags only seed them: a leader whose applied state records no settings
// yet (a new cluster) proposes its flags in a bootstrap SetSettingsCommand,
// which applies only while none are recorded, so the first one committed
// holds for every replica. Every replica then compares the recorded
// settings with its own flags and, when they differ, logs one line saying
// so (once per recorded value): the log's value is the one used.
//
// Thread: one caller (the PeriodicDuties thread).
#pragma once

#include <optional>

#include "absl/time/time.h"
#include "storage/cluster_settings.h"
#include "synod/v1/command.pb.h"

namespace synod::server {

class SettingsSeed {
 public:
  // `flags`: this replica's flag values; `retry`: how long a proposed
  // bootstrap may take to apply before it is proposed again.
  explicit SettingsSeed(const storage::ClusterSettings& flags,
                        absl::Duration retry = absl::Seconds(1))
      : flags_(flags), retry_(retry) {}

  // On the leader: the bootstrap command to propose if `recorded` holds no
  // settings and none was proposed within `retry`; else nullopt.
  std::optional<v1::Command> BootstrapProposal(
      const std::optional<storage::ClusterSettings>& recorded, absl::Time now);

  // Logs one line the first time `recorded` differs from the flags (and
  // again for each new recorded value that differs). Returns whether they
  // differ.
  bool Check(const std::optional<storage::ClusterSettings>& recorded);

 private:
  const storage::ClusterSettings flags_;
  const absl::Duration retry_;
  absl::Time next_proposal_ = absl::InfinitePast();
  std::optional<storage::ClusterSettings> last_checked_;
};

}  // namespace synod::server
