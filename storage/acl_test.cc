#include "storage/acl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace synod::storage {
namespace {

v1::Caller CallerWith(std::vector<std::pair<std::string, std::string>> ids, bool superuser = false) {
  v1::Caller caller;
  for (auto& [scheme, id] : ids) {
    v1::Identity* out = caller.add_ids();
    out->set_scheme(scheme);
    out->set_id(id);
  }
  caller.set_superuser(superuser);
  return caller;
}

v1::Acl Entry(std::string_view text) {
  absl::StatusOr<v1::Acl> entry = ParseAclEntry(text);
  EXPECT_TRUE(entry.ok()) << entry.status();
  return entry.value_or(v1::Acl());
}

Acl Resolved(std::vector<std::string_view> texts, const v1::Caller& caller = v1::Caller()) {
  std::vector<v1::Acl> given;
  for (std::string_view t : texts) given.push_back(Entry(t));
  absl::StatusOr<Acl> acl = ResolveAcl(given, caller);
  EXPECT_TRUE(acl.ok()) << acl.status();
  return acl.value_or(Acl());
}

TEST(DigestId, MatchesZooKeepersDigestAuthenticationProvider) {
  // ZooKeeper's administrator guide gives this superDigest for super:test.
  EXPECT_EQ(DigestId("super", "test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
}

TEST(Perms, RoundTripInZooKeepersLetterOrder) {
  EXPECT_EQ(FormatPerms(kPermAll), "cdrwa");
  EXPECT_EQ(FormatPerms(kPermRead | kPermAdmin), "ra");
  EXPECT_EQ(*ParsePerms("ar"), kPermRead | kPermAdmin);
  EXPECT_FALSE(ParsePerms("rx").ok());
  EXPECT_FALSE(ParsePerms("").ok());
}

TEST(ParseAcl, IdsMayContainColons) {
  v1::Acl digest = Entry("digest:bob:abc=:rw");
  EXPECT_EQ(digest.scheme(), "digest");
  EXPECT_EQ(digest.id(), "bob:abc=");
  EXPECT_EQ(digest.perms(), kPermRead | kPermWrite);
  v1::Acl ip6 = Entry("ip:::1:r");
  EXPECT_EQ(ip6.id(), "::1");
  EXPECT_EQ(FormatAcl(digest), "digest:bob:abc=:rw");
  absl::StatusOr<std::vector<v1::Acl>> list = ParseAclList("world:anyone:r, ip:10.0.0.0/8:cdrwa");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 2u);
  EXPECT_FALSE(ParseAclEntry("world:anyone").ok());
  EXPECT_FALSE(ParseAclList("").ok());
}

TEST(ResolveAcl, RefusesWhatZooKeeperRefuses) {
  const v1::Caller anonymous;
  for (std::string_view bad : {"world:someone:r", "digest:bob:r", "digest:bob:notbase64!:r",
                               "ip:10.0.0.300:r", "ip:10.0.0.0/33:r", "x509::r", "sasl::r",
                               "kerberos:bob:r", "auth::r"}) {
    v1::Acl entry = Entry(bad);
    EXPECT_FALSE(ResolveAcl({entry}, anonymous).ok()) << bad;
  }
  v1::Acl unknown_perm = Entry("world:anyone:r");
  unknown_perm.set_perms(kPermAll + 1);
  EXPECT_FALSE(ResolveAcl({unknown_perm}, anonymous).ok());
  std::vector<v1::Acl> too_many(kMaxAclEntries + 1, Entry("world:anyone:r"));
  EXPECT_FALSE(ResolveAcl(too_many, anonymous).ok());
}

TEST(ResolveAcl, AuthBecomesTheCallersIdentitiesButNotItsAddress) {
  v1::Caller caller = CallerWith({{"ip", "127.0.0.1"}, {"digest", "bob:xyz="}, {"x509", "svc"}});
  Acl acl = Resolved({"auth::cdr"}, caller);
  ASSERT_EQ(acl.size(), 2u);
  EXPECT_EQ(acl[0], (AclEntry{kPermCreate | kPermDelete | kPermRead, "digest", "bob:xyz="}));
  EXPECT_EQ(acl[1], (AclEntry{kPermCreate | kPermDelete | kPermRead, "x509", "svc"}));
}

// ZooKeeper accepts an entry with no permission: it grants nothing, so a
// node whose ACL has only such entries is the superuser's alone.
TEST(ResolveAcl, AnEntryWithNoPermissionGrantsNothing) {
  v1::Acl none;
  none.set_scheme("world");
  none.set_id("anyone");
  absl::StatusOr<Acl> acl = ResolveAcl({none}, v1::Caller());
  ASSERT_TRUE(acl.ok()) << acl.status();
  ASSERT_EQ(acl->size(), 1u);
  for (uint32_t perm : {kPermRead, kPermWrite, kPermCreate, kPermDelete, kPermAdmin}) {
    EXPECT_FALSE(Permits(*acl, perm, v1::Caller())) << perm;
    EXPECT_TRUE(Permits(*acl, perm, CallerWith({}, /*superuser=*/true))) << perm;
  }
}

TEST(ResolveAcl, OpenAclIsStoredEmpty) {
  EXPECT_TRUE(Resolved({"world:anyone:cdrwa"}).empty());
  EXPECT_EQ(Resolved({"world:anyone:r"}).size(), 1u);
}

TEST(Permits, EachSchemeMatchesItsOwnIdentities) {
  std::string bob = DigestId("bob", "secret");
  Acl acl = Resolved({"digest:" + bob + ":rw", "ip:10.1.0.0/16:r", "x509:svc:c", "user:alice:d",
                      "sasl:carol:a"});
  EXPECT_TRUE(Permits(acl, kPermWrite, CallerWith({{"digest", bob}})));
  EXPECT_FALSE(Permits(acl, kPermWrite, CallerWith({{"digest", DigestId("bob", "wrong")}})));
  EXPECT_TRUE(Permits(acl, kPermRead, CallerWith({{"ip", "10.1.200.3"}})));
  EXPECT_FALSE(Permits(acl, kPermRead, CallerWith({{"ip", "10.2.0.1"}})));
  EXPECT_FALSE(Permits(acl, kPermWrite, CallerWith({{"ip", "10.1.200.3"}})));
  EXPECT_TRUE(Permits(acl, kPermCreate, CallerWith({{"x509", "svc"}})));
  EXPECT_FALSE(Permits(acl, kPermCreate, CallerWith({{"user", "svc"}})));
  EXPECT_TRUE(Permits(acl, kPermDelete, CallerWith({{"user", "alice"}})));
  EXPECT_FALSE(Permits(acl, kPermAdmin, CallerWith({{"user", "alice"}, {"digest", bob}})));
  EXPECT_TRUE(Permits(acl, kPermAdmin, CallerWith({{"sasl", "carol"}})));
  EXPECT_FALSE(Permits(acl, kPermAdmin, CallerWith({{"user", "carol"}, {"sasl", "alice"}})));
  EXPECT_TRUE(Permits(acl, kPermAdmin, CallerWith({}, /*superuser=*/true)));
  EXPECT_FALSE(Permits(acl, kPermRead, v1::Caller()));
}

TEST(Permits, AllBitsOfTheAskedPermissionAreNeeded) {
  Acl acl = Resolved({"world:anyone:r", "user:alice:w"});
  v1::Caller alice = CallerWith({{"user", "alice"}});
  EXPECT_TRUE(Permits(acl, kPermRead, alice));
  EXPECT_TRUE(Permits(acl, kPermWrite, alice));
  EXPECT_FALSE(Permits(acl, kPermRead | kPermWrite, alice));
}

TEST(Permits, IpPrefixesOfBothFamilies) {
  Acl acl = Resolved({"ip:fd00::/8:r", "ip:192.168.1.7:w", "ip:10.0.0.0/9:c"});
  EXPECT_TRUE(Permits(acl, kPermRead, CallerWith({{"ip", "fd12::1"}})));
  EXPECT_FALSE(Permits(acl, kPermRead, CallerWith({{"ip", "fe80::1"}})));
  EXPECT_TRUE(Permits(acl, kPermWrite, CallerWith({{"ip", "192.168.1.7"}})));
  EXPECT_FALSE(Permits(acl, kPermWrite, CallerWith({{"ip", "192.168.1.8"}})));
  EXPECT_TRUE(Permits(acl, kPermCreate, CallerWith({{"ip", "10.127.0.1"}})));
  EXPECT_FALSE(Permits(acl, kPermCreate, CallerWith({{"ip", "10.128.0.1"}})));
  EXPECT_FALSE(Permits(acl, kPermCreate, CallerWith({{"ip", "not-an-address"}})));
}

TEST(Permits, TheMessageFormAgreesWithTheStoredForm) {
  Acl acl = Resolved({"ip:10.0.0.0/8:r", "user:alice:rw", "world:anyone:c"});
  google::protobuf::RepeatedPtrField<v1::Acl> carried;
  ToProto(acl, &carried);
  const std::vector<v1::Caller> callers = {
      v1::Caller(), CallerWith({{"ip", "10.9.9.9"}}), CallerWith({{"ip", "11.0.0.1"}}),
      CallerWith({{"user", "alice"}}), CallerWith({{"user", "bob"}}), CallerWith({}, true)};
  for (const v1::Caller& caller : callers) {
    for (uint32_t perm : {kPermRead, kPermWrite, kPermCreate, kPermAdmin, kPermRead | kPermWrite}) {
      EXPECT_EQ(Permits(carried, perm, caller), Permits(acl, perm, caller))
          << caller.ShortDebugString() << " perm " << perm;
    }
  }
  EXPECT_TRUE(Permits(google::protobuf::RepeatedPtrField<v1::Acl>(), kPermAll, v1::Caller()));
}

TEST(Permits, EmptyAclIsOpenToEveryone) {
  EXPECT_TRUE(Permits(Acl(), kPermAll, v1::Caller()));
  google::protobuf::RepeatedPtrField<v1::Acl> shown;
  ToProto(Acl(), &shown);
  ASSERT_EQ(shown.size(), 1);
  EXPECT_EQ(FormatAcl(shown[0]), "world:anyone:cdrwa");
}

TEST(RedactDigests, HidesTheHashOnly) {
  google::protobuf::RepeatedPtrField<v1::Acl> acl;
  *acl.Add() = Entry("digest:bob:abc=:r");
  *acl.Add() = Entry("user:alice:r");
  RedactDigests(&acl);
  EXPECT_EQ(acl[0].id(), "bob:x");
  EXPECT_EQ(acl[1].id(), "alice");
}

}  // namespace
}  // namespace synod::storage
