// Diagnostics.
//
// Log: one line to stderr per call, "<local time, ms> <L> <message>", where
// L is the level letter (D debug, I info, W warning, E error), so an
// operator can grep a replica's log by severity and tell when things
// happened. Events an operator looks for (leader change, member change,
// snapshot sent or received, session expiry) are written as
// "event=<name> key=value ...": one line per event, greppable by its name,
// parseable as logfmt. Values with spaces or quotes go through LogQuote.
// printf-style; thread-safe (one fprintf per line). Log(format, ...) logs at
// info. Lines below the minimum level (SetMinLogLevel, default info) are
// dropped before they are formatted.
//
// NameThread: names the calling thread (top -H, gdb, perf), at most 15
// characters. YieldThreadToForeground: gives the calling thread a lower CPU
// priority (nice +10) than the request path's threads, for work that can
// wait (snapshots): on a busy machine it then runs in what they leave.
#pragma once

#include <string>
#include <string_view>

namespace synod::base {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void Log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

// Lines below `level` are not written. Any thread; takes effect at once.
void SetMinLogLevel(LogLevel level);
// "debug", "info", "warning", "error" (or their first letter); false if
// `name` is none of them.
bool ParseLogLevel(std::string_view name, LogLevel* level);
// The level's letter in a log line: 'D', 'I', 'W', 'E'.
char LogLevelLetter(LogLevel level);

// `value` as a logfmt value: unchanged if it has no space, quote, '=' or
// control character and is not empty, else double-quoted with \" \\ \n
// escaped.
std::string LogQuote(std::string_view value);

void NameThread(const char* name);
void YieldThreadToForeground();

}  // namespace synod::base
