#include "tests/testing/test_certs.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"

namespace synod::testing {
namespace {

// Runs openssl with `args`, its output appended to `log`.
absl::Status RunOpenssl(const std::vector<std::string>& args, const std::string& log) {
  Subprocess::Options o;
  o.binary = "/usr/bin/openssl";
  o.args = args;
  o.log_path = log;
  absl::StatusOr<Subprocess> p = Subprocess::Start(o);
  if (!p.ok()) return p.status();
  absl::StatusOr<int> status = p->Wait(absl::Seconds(60));
  if (!status.ok()) return status.status();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat("openssl ", args[0], " failed, see ", log));
  }
  return absl::OkStatus();
}

}  // namespace

TestCa::TestCa(std::string dir, std::string name)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      cert_(absl::StrCat(dir_, "/", name_, ".crt")),
      key_(absl::StrCat(dir_, "/", name_, ".key")) {}

absl::StatusOr<TestCa> TestCa::Create(const std::string& dir, const std::string& name) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", dir));
  }
  TestCa ca(dir, name);
  const std::string log = dir + "/openssl.log";
  if (absl::Status s = RunOpenssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                                   "/CN=" + name, "-keyout", ca.key_, "-out", ca.cert_},
                                  log);
      !s.ok()) {
    return s;
  }
  return ca;
}

absl::StatusOr<TestCert> TestCa::Issue(const std::string& name) const {
  return IssueValidFor(name, "30");
}

absl::StatusOr<TestCert> TestCa::IssueExpired(const std::string& name) const {
  return IssueValidFor(name, "-1");
}

absl::StatusOr<TestCert> TestCa::IssueValidFor(const std::string& name,
                                               const std::string& days) const {
  const std::string log = dir_ + "/openssl.log";
  TestCert out{absl::StrCat(dir_, "/", name, ".crt"), absl::StrCat(dir_, "/", name, ".key")};
  const std::string csr = absl::StrCat(dir_, "/", name, ".csr");
  const std::string ext = absl::StrCat(dir_, "/", name, ".ext");
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n"
                        "basicConstraints=CA:FALSE\n";
  if (absl::Status s = RunOpenssl({"req", "-new", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + name,
                                   "-keyout", out.key, "-out", csr},
                                  log);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = RunOpenssl({"x509", "-req", "-in", csr, "-CA", cert_, "-CAkey", key_,
                                   "-CAcreateserial", "-days", days, "-extfile", ext, "-out",
                                   out.cert},
                                  log);
      !s.ok()) {
    return s;
  }
  return out;
}

}  // namespace synod::testing
