// CLI11 options for synodctl's value types: durations, bounded integers,
// create's node kinds. Each checks its value while the command line is
// parsed, so a bad value is a usage error that names the flag, and stores
// it typed (std::nullopt when the flag is absent).
//
// Thread: pure functions on the caller's CLI::App.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {

// "5s", "250ms", "1m30s" (absl duration syntax), or a bare number of
// seconds; positive.
CLI::Option* AddDurationFlag(CLI::App* app, const std::string& name,
                             std::optional<absl::Duration>* out, const std::string& help);
// A decimal integer in [min, max].
CLI::Option* AddIntFlag(CLI::App* app, const std::string& name, std::optional<int64_t>* out,
                        const std::string& help);
CLI::Option* AddUintFlag(CLI::App* app, const std::string& name, std::optional<uint64_t>* out,
                         uint64_t min, uint64_t max, const std::string& help);
CLI::Option* AddUint32Flag(CLI::App* app, const std::string& name, std::optional<uint32_t>* out,
                           uint32_t min, const std::string& help);
// One of `choices` (shown as "a|b" in --help); `set` gets the one given.
CLI::Option* AddChoiceFlag(CLI::App* app, const std::string& name,
                           const std::vector<std::string>& choices,
                           std::function<void(const std::string&)> set, const std::string& help);
// A string flag, std::nullopt when absent.
CLI::Option* AddStringFlag(CLI::App* app, const std::string& name, std::optional<std::string>* out,
                           const std::string& type_name, const std::string& help);
// A positional ID: a member id, 1 or more.
CLI::Option* AddIdArg(CLI::App* app, uint64_t* out);
// --ephemeral --sequential --container --ttl=DUR (create, and multi's
// create lines).
void AddCreateFlags(CLI::App* app, CreateFlags* out);
// --version=V of set, delete (and multi's set, delete, check lines).
CLI::Option* AddVersionFlag(CLI::App* app, std::optional<int64_t>* out);

// CLI11 reads "--name=" (an empty value) as "--name" and takes the next
// word as its value; spelled "--name" "" the empty value stays the value
// (an empty --endpoints= is then reported, not replaced by the command
// word). Words after "--" are left as they are.
std::vector<std::string> KeepEmptyValues(const std::vector<std::string>& args);

}  // namespace synod::ctl
