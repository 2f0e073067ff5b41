// WatchHub: a watcher never sees an event on a node it may not read (the
// ACL each event carries, checked against the stream's caller), live and in
// catch-up, and the ACL never reaches the client.

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_test_util.h"
#include "storage/acl.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::Caller As(std::string scheme, std::string id, bool superuser = false) {
  v1::Caller caller;
  v1::Identity* identity = caller.add_ids();
  identity->set_scheme(std::move(scheme));
  identity->set_id(std::move(id));
  caller.set_superuser(superuser);
  return caller;
}

// An event on a node only alice may read.
v1::WatchEvent AlicesOnly(v1::EventType type, std::string path) {
  v1::WatchEvent e = Ev(type, std::move(path), 0);
  v1::Acl* acl = e.add_acl();
  acl->set_perms(storage::kPermRead | storage::kPermWrite);
  acl->set_scheme("user");
  acl->set_id("alice");
  return e;
}

class WatchAclTest : public WatchHubTest {
 protected:
  // One revision with a hidden change of `path`.
  void HiddenSet(const std::string& path) {
    Apply({AlicesOnly(v1::EVENT_NODE_DATA_CHANGED, path)});
  }
};

TEST_F(WatchAclTest, LiveEventsGoOnlyToCallersWhoMayReadTheNode) {
  auto alice = Open(As("user", "alice"));
  auto bob = Open(As("user", "bob"));
  auto anonymous = Open();
  for (auto s : {alice, bob, anonymous}) hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  HiddenSet("/a");  // 1
  Set("/a");        // 2: open
  EXPECT_THAT(Drain(alice).Revisions(1), ElementsAre(1, 2));
  EXPECT_THAT(Drain(bob).Revisions(1), ElementsAre(2));
  EXPECT_THAT(Drain(anonymous).Revisions(1), ElementsAre(2));
}

TEST_F(WatchAclTest, AHiddenEventDoesNotFireAOneShotWatch) {
  auto bob = Open(As("user", "bob"));
  hub_->Create(bob, Req(1, "/a", v1::WATCH_DATA));
  HiddenSet("/a");  // 1
  Seen seen = Drain(bob);
  EXPECT_THAT(seen.events, IsEmpty());
  EXPECT_FALSE(seen.canceled.contains(1));
  Set("/a");  // 2
  seen = Drain(bob);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(2));
  EXPECT_EQ(seen.canceled[1], v1::OK);  // fired with the event it could see
}

TEST_F(WatchAclTest, ARecursiveWatchSeesOnlyTheReadableNodesOfItsSubtree) {
  auto bob = Open(As("user", "bob"));
  hub_->Create(bob, Req(1, "/app", v1::WATCH_PERSISTENT_RECURSIVE));
  Apply({AlicesOnly(v1::EVENT_NODE_CREATED, "/app/secret")});  // 1
  Apply({Ev(v1::EVENT_NODE_CREATED, "/app/public", 0)});       // 2
  HiddenSet("/app/secret");                                    // 3
  Set("/app/public");                                          // 4
  EXPECT_THAT(Drain(bob).Revisions(1), ElementsAre(2, 4));
}

TEST_F(WatchAclTest, CatchUpFromHistoryIsFilteredAlike) {
  for (int i = 0; i < 6; ++i) i % 2 == 0 ? HiddenSet("/a") : Set("/a");  // 1..6, hidden at odd
  auto bob = Open(As("user", "bob"));
  auto alice = Open(As("user", "alice"));
  hub_->Create(bob, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  hub_->Create(alice, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  hub_->Create(bob, Req(2, "/a", v1::WATCH_DATA, /*start_revision=*/2));
  runner_.RunAll();
  Seen seen = Drain(bob);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(2, 4, 6));
  // The one-shot skipped the hidden revision 3 and fired on 4.
  EXPECT_THAT(seen.Revisions(2), ElementsAre(4));
  EXPECT_THAT(Drain(alice).Revisions(1), ElementsAre(2, 3, 4, 5, 6));
}

TEST_F(WatchAclTest, TheSuperuserSeesEverything) {
  auto super = Open(As("digest", "super:x", /*superuser=*/true));
  hub_->Create(super, Req(1, "/a", v1::WATCH_PERSISTENT));
  HiddenSet("/a");
  EXPECT_THAT(Drain(super).Revisions(1), ElementsAre(1));
}

TEST_F(WatchAclTest, TheAclIsNeverHandedToTheClient) {
  auto alice = Open(As("user", "alice"));
  hub_->Create(alice, Req(1, "/a", v1::WATCH_PERSISTENT));
  HiddenSet("/a");
  v1::WatchResponse r;
  int events = 0;
  while (hub_->Poll(alice, &r)) {
    for (const v1::WatchEvent& e : r.events()) {
      ++events;
      EXPECT_EQ(e.acl_size(), 0) << e.ShortDebugString();
    }
  }
  EXPECT_EQ(events, 1);
}

TEST_F(WatchAclTest, IpIdentitiesMatchByPrefix) {
  auto inside = Open(As("ip", "10.1.2.3"));
  auto outside = Open(As("ip", "10.2.0.1"));
  for (auto s : {inside, outside}) hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  v1::WatchEvent e = Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 0);
  v1::Acl* acl = e.add_acl();
  acl->set_perms(storage::kPermRead);
  acl->set_scheme("ip");
  acl->set_id("10.1.0.0/16");
  Apply({e});
  EXPECT_THAT(Drain(inside).Revisions(1), ElementsAre(1));
  EXPECT_THAT(Drain(outside).Revisions(1), IsEmpty());
}

}  // namespace
}  // namespace synod::server
