// TestCa (tests only): a throw-away certificate authority in a directory,
// made with the openssl command-line tool, that issues certificates for
// 127.0.0.1 / localhost (usable as server and as client certificates).
//
// Thread: one owner thread.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace synod::testing {

struct TestCert {
  std::string cert;  // PEM paths
  std::string key;
};

class TestCa {
 public:
  // Makes a CA (EC P-256 key, self-signed) named `name` in `dir` (created).
  // Errors: Internal (openssl failed; its output is in dir/openssl.log).
  static absl::StatusOr<TestCa> Create(const std::string& dir, const std::string& name);

  const std::string& cert() const { return cert_; }
  // Issues a certificate for `name` (the common name; the subject
  // alternative names are always IP 127.0.0.1 and DNS localhost), as
  // dir/<name>.crt and dir/<name>.key. Errors: Internal.
  absl::StatusOr<TestCert> Issue(const std::string& name) const;
  // As Issue, but the certificate expired the day before it was issued
  // (openssl x509 -days -1): every verifier refuses it as expired.
  absl::StatusOr<TestCert> IssueExpired(const std::string& name) const;

 private:
  TestCa(std::string dir, std::string name);
  absl::StatusOr<TestCert> IssueValidFor(const std::string& name, const std::string& days) const;
  std::string dir_;
  std::string name_;
  std::string cert_;
  std::string key_;
};

}  // namespace synod::testing
