// Diagnostics. Log: one line to stderr, prefixed with the local time in
// milliseconds, so a replica's log tells when things happened (elections,
// snapshots, stops); printf-style; thread-safe (one fprintf per line).
// NameThread: names the calling thread (top -H, gdb, perf), at most 15
// characters.
#pragma once

namespace synod::server {

void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void NameThread(const char* name);

}  // namespace synod::server
