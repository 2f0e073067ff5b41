// Password hashing for Synod users (command.proto User): PBKDF2-HMAC-SHA256
// with a random 16-byte salt and the iteration count stored beside the hash,
// so that the default can grow without invalidating stored hashes.
//
// Hashing is deliberately slow (kDefaultPbkdf2Iterations takes tens of ms):
// callers run it off gRPC threads (AuthService's workers). A password is
// never logged or kept: only its hash leaves these functions.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "synod/v1/command.pb.h"

namespace synod::server {

// About 25 ms of one core per hash (OpenSSL 3 on the 2-core build machine:
// 30000 iterations took 7.5 ms of CPU), so a login stays quick while each
// guess against a stolen snapshot costs as much.
inline constexpr uint32_t kDefaultPbkdf2Iterations = 100000;
// A stored count beyond this is refused rather than run: a corrupt or
// hostile value must not pin a worker for minutes.
inline constexpr uint32_t kMaxPbkdf2Iterations = 10000000;
inline constexpr size_t kSaltBytes = 16;
inline constexpr size_t kPasswordHashBytes = 32;
// Longest password accepted (InvalidArgument beyond).
inline constexpr size_t kMaxPasswordBytes = 1024;

// `n` bytes from OpenSSL's CSPRNG. Internal if it fails.
absl::StatusOr<std::string> RandomBytes(size_t n);

// Sets user->salt (fresh, random), hash and iterations for `password`.
// Errors: InvalidArgument (empty or longer than kMaxPasswordBytes, or
// iterations outside [1, kMaxPbkdf2Iterations]); Internal (OpenSSL failed).
absl::Status HashPassword(std::string_view password, uint32_t iterations, v1::User* user);

// True if `password` hashes to user.hash() under user's salt and
// iterations, compared in constant time. False for a user with no hash, or
// one whose stored parameters are out of range.
bool CheckPassword(const v1::User& user, std::string_view password);

// Spends about as long as CheckPassword with the default iterations, so
// that "no such user" answers as slowly as "wrong password".
void BurnPasswordCheck(std::string_view password);

}  // namespace synod::server
