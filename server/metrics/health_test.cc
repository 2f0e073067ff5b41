#include "server/metrics/health.h"

#include "gtest/gtest.h"

namespace synod::server::metrics {
namespace {

v1::Member Member(uint64_t id, bool learner = false) {
  v1::Member m;
  m.set_id(id);
  m.set_learner(learner);
  return m;
}

TEST(HealthTest, HealthyOnlyAsAServingMemberThatKnowsALeader) {
  ReplicaState state(7, 2);
  ProbeResult r = CheckHealth(state);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("joining"), std::string::npos) << r.reason;
  state.set_members({Member(1), Member(3)});
  r = CheckHealth(state);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("not in the cluster"), std::string::npos) << r.reason;
  state.set_members({Member(1), Member(2), Member(3)});
  state.set_term(4);
  r = CheckHealth(state);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("no known leader (term 4)"), std::string::npos) << r.reason;
  state.set_leader(3);
  r = CheckHealth(state);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.reason, "ok");
  state.set_serving(false);
  r = CheckHealth(state);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "stopping");
}

TEST(HealthTest, ReadyWithinTheLagOfTheKnownCommitIndex) {
  ReplicaState state(7, 2);
  state.set_members({Member(1), Member(2, /*learner=*/true)});
  state.set_commit(5000);
  state.set_applied(3999);
  EXPECT_FALSE(CheckReady(state, 1000).ok);  // no leader yet
  state.set_leader(1);
  ProbeResult r = CheckReady(state, 1000);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "applied index 3999 is 1001 behind commit index 5000 (max lag 1000)");
  state.set_applied(4000);
  EXPECT_TRUE(CheckReady(state, 1000).ok);
  EXPECT_FALSE(CheckReady(state, 0).ok);
  state.set_applied(5000);
  EXPECT_TRUE(CheckReady(state, 0).ok);
}

TEST(HealthTest, ProbeResponseCodes) {
  EXPECT_EQ(ProbeResponse({true, "ok"}).status, 200);
  EXPECT_EQ(ProbeResponse({true, "ok"}).body, "ok\n");
  EXPECT_EQ(ProbeResponse({false, "stopping"}).status, 503);
  EXPECT_EQ(ProbeResponse({false, "stopping"}).body, "stopping\n");
}

}  // namespace
}  // namespace synod::server::metrics
