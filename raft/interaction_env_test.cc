// Runs every raft/testdata/*.txt script through a fresh InteractionEnv.
#include "raft/interaction_env.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/datadriven/datadriven.h"

namespace synod::raft {
namespace {

class InteractionTest : public testing::TestWithParam<std::string> {};

TEST_P(InteractionTest, Script) {
  InteractionEnv env;
  datadriven::RunDataDrivenTest(GetParam(),
                                [&env](const datadriven::TestData& d) { return env.Handle(d); });
}

INSTANTIATE_TEST_SUITE_P(Scripts, InteractionTest,
                         testing::ValuesIn(datadriven::ListTestFiles(SYNOD_RAFT_TESTDATA_DIR,
                                                                     ".txt")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = std::filesystem::path(info.param).stem().string();
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace synod::raft
