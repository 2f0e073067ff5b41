#include "tests/e2e/synodctl_run.h"

#include <fstream>
#include <iterator>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"

namespace synod::e2e {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

CtlRun RunSynodctl(const std::vector<std::string>& args, const std::string& log_path) {
  ::synod::testing::Subprocess::Options o;
  o.binary = SYNODCTL_BIN;
  o.args = args;
  o.log_path = log_path;
  absl::StatusOr<::synod::testing::Subprocess> p = ::synod::testing::Subprocess::Start(o);
  if (!p.ok()) return CtlRun{p.status().ToString(), ""};
  absl::StatusOr<int> status = p->Wait(absl::Seconds(60));
  CtlRun r;
  r.status = status.ok() ? ::synod::testing::DescribeWaitStatus(*status) : "timeout";
  r.output = Slurp(log_path);
  return r;
}

}  // namespace synod::e2e
