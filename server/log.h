// Log: one line to stderr, prefixed with the local time in milliseconds, so
// a replica's log tells when things happened (elections, snapshots, stops).
// printf-style. Thread-safe (one fprintf per line).
#pragma once

namespace synod::server {

void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace synod::server
