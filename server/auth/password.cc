#include "server/auth/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"

namespace synod::server {
namespace {

absl::StatusOr<std::string> Pbkdf2(std::string_view password, std::string_view salt,
                                   uint32_t iterations) {
  std::string out(kPasswordHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return absl::InternalError("PKCS5_PBKDF2_HMAC failed");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return out;
}

absl::Status HashPassword(std::string_view password, uint32_t iterations, v1::User* user) {
  if (password.empty()) return absl::InvalidArgumentError("empty password");
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("password longer than ", kMaxPasswordBytes, " bytes"));
  }
  if (iterations == 0 || iterations > kMaxPbkdf2Iterations) {
    return absl::InvalidArgumentError(
        absl::StrCat("PBKDF2 iterations must be in [1, ", kMaxPbkdf2Iterations, "]"));
  }
  absl::StatusOr<std::string> salt = RandomBytes(kSaltBytes);
  if (!salt.ok()) return salt.status();
  absl::StatusOr<std::string> hash = Pbkdf2(password, *salt, iterations);
  if (!hash.ok()) return hash.status();
  user->set_salt(*std::move(salt));
  user->set_hash(*std::move(hash));
  user->set_iterations(iterations);
  return absl::OkStatus();
}

bool CheckPassword(const v1::User& user, std::string_view password) {
  if (user.hash().size() != kPasswordHashBytes || user.iterations() == 0 ||
      user.iterations() > kMaxPbkdf2Iterations || password.size() > kMaxPasswordBytes) {
    return false;
  }
  absl::StatusOr<std::string> hash = Pbkdf2(password, user.salt(), user.iterations());
  if (!hash.ok()) return false;
  return CRYPTO_memcmp(hash->data(), user.hash().data(), kPasswordHashBytes) == 0;
}

void BurnPasswordCheck(std::string_view password) {
  static const std::string kSalt(kSaltBytes, 'x');
  // The result is thrown away: only the time spent matters.
  Pbkdf2(password.substr(0, kMaxPasswordBytes), kSalt, kDefaultPbkdf2Iterations).IgnoreError();
}

}  // namespace synod::server
