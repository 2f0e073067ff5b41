// Jute primitives and records: round trips, the wire bytes of a known
// record, and malformed input (truncated at every byte, bad lengths, huge
// counts), which must fail with the typed error and never read past the end.
#include "server/zk/jute.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/zk/records.h"

namespace synod::zk {
namespace {

template <typename T>
std::string EncodeOne(const T& v) {
  JuteWriter w;
  Encode(w, v);
  return w.Take();
}

TEST(JuteTest, IntsAreBigEndian) {
  JuteWriter w;
  w.WriteInt(0x01020304);
  w.WriteLong(-2);
  w.WriteBool(true);
  EXPECT_EQ(w.bytes(), std::string("\x01\x02\x03\x04\xff\xff\xff\xff\xff\xff\xff\xfe\x01", 13));
  JuteReader r(w.bytes());
  int32_t i = 0;
  int64_t l = 0;
  bool b = false;
  ASSERT_TRUE(r.ReadInt(&i).ok());
  ASSERT_TRUE(r.ReadLong(&l).ok());
  ASSERT_TRUE(r.ReadBool(&b).ok());
  EXPECT_EQ(i, 0x01020304);
  EXPECT_EQ(l, -2);
  EXPECT_TRUE(b);
  EXPECT_TRUE(r.ExpectEnd().ok());
}

TEST(JuteTest, NullBufferReadsEmpty) {
  JuteWriter w;
  w.WriteNullBuffer();
  w.WriteBuffer("");
  JuteReader r(w.bytes());
  std::string s = "x";
  bool is_null = false;
  ASSERT_TRUE(r.ReadBuffer(&s, &is_null).ok());
  EXPECT_TRUE(is_null);
  EXPECT_EQ(s, "");
  ASSERT_TRUE(r.ReadBuffer(&s, &is_null).ok());
  EXPECT_FALSE(is_null);
}

TEST(JuteTest, BadLengthsAreTypedErrors) {
  {
    JuteWriter w;
    w.WriteInt(-2);
    JuteReader r(w.bytes());
    std::string s;
    absl::Status st = r.ReadBuffer(&s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  }
  {
    JuteWriter w;
    w.WriteInt(1000);
    w.WriteInt(7);
    JuteReader r(w.bytes());
    std::string s;
    EXPECT_EQ(r.ReadBuffer(&s).code(), absl::StatusCode::kOutOfRange);
  }
  {
    // A count of two billion strings in a few bytes is refused before any
    // allocation.
    JuteWriter w;
    w.WriteInt(0x7fffffff);
    w.WriteInt(0);
    JuteReader r(w.bytes());
    std::vector<std::string> v;
    EXPECT_EQ(r.ReadStringVector(&v).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    JuteReader r(std::string_view("\x00", 1));
    EXPECT_TRUE(r.ExpectEnd().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST(RecordsTest, ConnectRequestWireBytes) {
  ConnectRequest c;
  c.protocol_version = 0;
  c.last_zxid_seen = 5;
  c.timeout_ms = 10000;
  c.session_id = 0x0102;
  c.password = std::string(16, '\0');
  c.has_read_only = true;
  const std::string bytes = EncodeOne(c);
  ASSERT_EQ(bytes.size(), 4 + 8 + 4 + 8 + 4 + 16 + 1u);
  EXPECT_EQ(bytes.substr(12, 4), std::string("\x00\x00\x27\x10", 4));  // 10000
  JuteReader r(bytes);
  ConnectRequest d;
  ASSERT_TRUE(Decode(r, &d).ok());
  EXPECT_TRUE(r.ExpectEnd().ok());
  EXPECT_EQ(d.last_zxid_seen, 5);
  EXPECT_EQ(d.session_id, 0x0102);
  EXPECT_EQ(d.password.size(), 16u);
  EXPECT_TRUE(d.has_read_only);
}

TEST(RecordsTest, ConnectRequestWithoutReadOnlyByte) {
  ConnectRequest c;
  c.timeout_ms = 3000;
  const std::string bytes = EncodeOne(c);
  JuteReader r(bytes);
  ConnectRequest d;
  ASSERT_TRUE(Decode(r, &d).ok());
  EXPECT_FALSE(d.has_read_only);
  EXPECT_EQ(d.timeout_ms, 3000);
}

TEST(RecordsTest, RoundTrips) {
  Stat st{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  {
    const std::string bytes = EncodeOne(st);
    JuteReader r(bytes);
    Stat d;
    ASSERT_TRUE(Decode(r, &d).ok());
    EXPECT_EQ(d.czxid, 1);
    EXPECT_EQ(d.version, 5);
    EXPECT_EQ(d.ephemeral_owner, 8);
    EXPECT_EQ(d.pzxid, 11);
    EXPECT_TRUE(r.ExpectEnd().ok());
  }
  for (bool ttl : {false, true}) {
    CreateRequest c{"/a/b", std::string("d\0ta", 4), {{31, "world", "anyone"}}, 5, 1234};
    JuteWriter w;
    Encode(w, c, ttl);
    JuteReader r(w.bytes());
    CreateRequest d;
    ASSERT_TRUE(Decode(r, &d, ttl).ok());
    EXPECT_TRUE(r.ExpectEnd().ok());
    EXPECT_EQ(d.path, "/a/b");
    EXPECT_EQ(d.data, c.data);
    ASSERT_EQ(d.acl.size(), 1u);
    EXPECT_EQ(d.acl[0].scheme, "world");
    EXPECT_EQ(d.flags, 5);
    EXPECT_EQ(d.ttl, ttl ? 1234 : 0);
  }
  {
    SetWatchesRequest s{42, {"/d"}, {"/e1", "/e2"}, {}, {}, {}};
    const std::string bytes = EncodeOne(s);
    JuteReader r(bytes);
    SetWatchesRequest d;
    ASSERT_TRUE(Decode(r, &d).ok());
    EXPECT_EQ(d.relative_zxid, 42);
    EXPECT_EQ(d.exist_watches.size(), 2u);
    EXPECT_TRUE(d.child_watches.empty());
  }
  {
    ReplyHeader h{-1, -1, kZNoNode};
    const std::string bytes = EncodeOne(h);
    JuteReader r(bytes);
    ReplyHeader d;
    ASSERT_TRUE(Decode(r, &d).ok());
    EXPECT_EQ(d.err, -101);
  }
  {
    MultiHeader h{kOpError, true, -1};
    const std::string bytes = EncodeOne(h);
    JuteReader r(bytes);
    MultiHeader d;
    ASSERT_TRUE(Decode(r, &d).ok());
    EXPECT_TRUE(d.done);
    EXPECT_EQ(d.type, -1);
  }
}

// Every proper prefix of a valid record fails (never crashes, never reads
// past the end: the ASan build checks the latter).
template <typename T, typename DecodeFn>
void ExpectEveryPrefixFails(const std::string& bytes, DecodeFn decode) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string prefix = bytes.substr(0, n);
    JuteReader r(prefix);
    T d;
    absl::Status s = decode(r, &d);
    if (s.ok()) s = r.ExpectEnd();
    EXPECT_FALSE(s.ok()) << "prefix of " << n << " bytes decoded";
  }
}

TEST(RecordsTest, TruncatedRecordsFail) {
  CreateRequest c{"/x", "data", {{31, "world", "anyone"}, {1, "digest", "u:p"}}, 0, 0};
  JuteWriter w;
  Encode(w, c, true);
  ExpectEveryPrefixFails<CreateRequest>(
      w.bytes(), [](JuteReader& r, CreateRequest* d) { return Decode(r, d, true); });
  ExpectEveryPrefixFails<SetDataRequest>(
      EncodeOne(SetDataRequest{"/p", "v", 3}),
      [](JuteReader& r, SetDataRequest* d) { return Decode(r, d); });
  ExpectEveryPrefixFails<SetWatchesRequest>(
      EncodeOne(SetWatchesRequest{1, {"/a"}, {"/b"}, {"/c"}, {}, {}}),
      [](JuteReader& r, SetWatchesRequest* d) { return Decode(r, d); });
  ExpectEveryPrefixFails<Stat>(EncodeOne(Stat{}),
                               [](JuteReader& r, Stat* d) { return Decode(r, d); });
}

// The auth and ACL records, byte for byte as zookeeper.jute lays them out.
TEST(RecordsTest, AuthPacketWireBytes) {
  const std::string bytes = EncodeOne(AuthPacket{0, "digest", "u:p"});
  EXPECT_EQ(bytes, std::string("\0\0\0\0"
                               "\0\0\0\x06" "digest"
                               "\0\0\0\x03u:p",
                               4 + 4 + 6 + 4 + 3));
  JuteReader r(bytes);
  AuthPacket d;
  ASSERT_TRUE(Decode(r, &d).ok());
  EXPECT_TRUE(r.ExpectEnd().ok());
  EXPECT_EQ(d.scheme, "digest");
  EXPECT_EQ(d.auth, "u:p");
}

TEST(RecordsTest, AclRecordsRoundTrip) {
  const std::vector<Acl> acl = {{31, "digest", "u:abc="}, {1, "world", "anyone"}};
  {
    const std::string bytes = EncodeOne(SetAclRequest{"/n", acl, 4});
    // path, count 2, then each ACL, then the version.
    EXPECT_EQ(bytes.substr(0, 10), std::string("\0\0\0\x02/n\0\0\0\x02", 10));
    EXPECT_EQ(bytes.substr(bytes.size() - 4), std::string("\0\0\0\x04", 4));
    JuteReader r(bytes);
    SetAclRequest d;
    ASSERT_TRUE(Decode(r, &d).ok());
    EXPECT_TRUE(r.ExpectEnd().ok());
    EXPECT_EQ(d.path, "/n");
    ASSERT_EQ(d.acl.size(), 2u);
    EXPECT_EQ(d.acl[0].perms, 31);
    EXPECT_EQ(d.acl[0].id, "u:abc=");
    EXPECT_EQ(d.acl[1].scheme, "world");
    EXPECT_EQ(d.version, 4);
  }
  {
    GetAclResponse g{acl, Stat{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}};
    const std::string bytes = EncodeOne(g);
    EXPECT_EQ(bytes.size(), 4 + (4 + 4 + 6 + 4 + 6) + (4 + 4 + 5 + 4 + 6) + 68u);
    JuteReader r(bytes);
    GetAclResponse d;
    ASSERT_TRUE(Decode(r, &d).ok());
    EXPECT_TRUE(r.ExpectEnd().ok());
    ASSERT_EQ(d.acl.size(), 2u);
    EXPECT_EQ(d.acl[1].id, "anyone");
    EXPECT_EQ(d.stat.aversion, 7);
  }
}

TEST(RecordsTest, WhoAmIAndSaslRecords) {
  const std::string bytes =
      EncodeOne(WhoAmIResponse{{{"ip", "127.0.0.1"}, {"digest", "alice"}, {"super", ""}}});
  EXPECT_EQ(bytes.substr(0, 4), std::string("\0\0\0\x03", 4));
  JuteReader r(bytes);
  WhoAmIResponse d;
  ASSERT_TRUE(Decode(r, &d).ok());
  EXPECT_TRUE(r.ExpectEnd().ok());
  ASSERT_EQ(d.client_info.size(), 3u);
  EXPECT_EQ(d.client_info[0].auth_scheme, "ip");
  EXPECT_EQ(d.client_info[0].user, "127.0.0.1");
  EXPECT_EQ(d.client_info[1].user, "alice");
  EXPECT_EQ(d.client_info[2].user, "");
  // A server with no SASL answers a null token: length -1.
  EXPECT_EQ(EncodeOne(SaslToken{"", true}), std::string("\xff\xff\xff\xff", 4));
  const std::string token_bytes = EncodeOne(SaslToken{"tok", false});  // the reader views it
  JuteReader t(token_bytes);
  SaslToken token;
  ASSERT_TRUE(Decode(t, &token).ok());
  EXPECT_EQ(token.token, "tok");
  EXPECT_FALSE(token.is_null);
}

TEST(RecordsTest, TruncatedAuthAndAclRecordsFail) {
  ExpectEveryPrefixFails<AuthPacket>(EncodeOne(AuthPacket{0, "digest", "u:p"}),
                                     [](JuteReader& r, AuthPacket* d) { return Decode(r, d); });
  ExpectEveryPrefixFails<SetAclRequest>(
      EncodeOne(SetAclRequest{"/n", {{31, "world", "anyone"}}, 0}),
      [](JuteReader& r, SetAclRequest* d) { return Decode(r, d); });
  ExpectEveryPrefixFails<GetAclResponse>(
      EncodeOne(GetAclResponse{{{1, "ip", "10.0.0.0/8"}}, Stat{}}),
      [](JuteReader& r, GetAclResponse* d) { return Decode(r, d); });
  ExpectEveryPrefixFails<WhoAmIResponse>(
      EncodeOne(WhoAmIResponse{{{"ip", "::1"}}}),
      [](JuteReader& r, WhoAmIResponse* d) { return Decode(r, d); });
}

TEST(RecordsTest, WatchRequests) {
  EXPECT_EQ(EncodeOne(AddWatchRequest{"/w", kAddWatchPersistentRecursive}),
            std::string("\0\0\0\x02/w\0\0\0\x01", 10));
  EXPECT_EQ(EncodeOne(WatchesRequest{"/w", kWatcherAny}),
            std::string("\0\0\0\x02/w\0\0\0\x03", 10));
  ExpectEveryPrefixFails<AddWatchRequest>(
      EncodeOne(AddWatchRequest{"/w", 0}),
      [](JuteReader& r, AddWatchRequest* d) { return Decode(r, d); });
  ExpectEveryPrefixFails<WatchesRequest>(
      EncodeOne(WatchesRequest{"/w", 2}),
      [](JuteReader& r, WatchesRequest* d) { return Decode(r, d); });
  // setWatches2: setWatches' three lists, then persistent and recursive.
  SetWatchesRequest s{7, {"/d"}, {}, {"/c"}, {"/p"}, {"/r1", "/r2"}};
  JuteWriter w;
  Encode(w, s, /*v2=*/true);
  JuteReader r(w.bytes());
  SetWatchesRequest d;
  ASSERT_TRUE(Decode(r, &d, /*v2=*/true).ok());
  EXPECT_TRUE(r.ExpectEnd().ok());
  EXPECT_EQ(d.persistent_watches, std::vector<std::string>{"/p"});
  EXPECT_EQ(d.persistent_recursive_watches, (std::vector<std::string>{"/r1", "/r2"}));
  // The same bytes read as setWatches leave the persistent lists unread.
  JuteReader v1(w.bytes());
  ASSERT_TRUE(Decode(v1, &d).ok());
  EXPECT_FALSE(v1.ExpectEnd().ok());
  EXPECT_TRUE(d.persistent_watches.empty());
  ExpectEveryPrefixFails<SetWatchesRequest>(
      w.bytes(), [](JuteReader& r, SetWatchesRequest* d) { return Decode(r, d, true); });
}

TEST(RecordsTest, HugeAclCountRefused) {
  JuteWriter w;
  w.WriteString("/x");
  w.WriteBuffer("");
  w.WriteInt(100000000);
  JuteReader r(w.bytes());
  CreateRequest d;
  EXPECT_EQ(Decode(r, &d, false).code(), absl::StatusCode::kInvalidArgument);
  JuteWriter set;
  set.WriteString("/x");
  set.WriteInt(100000000);
  JuteReader sr(set.bytes());
  SetAclRequest sd;
  EXPECT_EQ(Decode(sr, &sd).code(), absl::StatusCode::kInvalidArgument);
}

// multiRead (22), byte for byte as ZooKeeper 3.8's MultiOperationRecord and
// MultiResponse lay them out.
TEST(RecordsTest, MultiReadRequestWireBytes) {
  const std::string bytes =
      EncodeOne(MultiReadRequest{{{kOpGetData, "/a"}, {kOpGetChildren, "/"}}});
  EXPECT_EQ(bytes, std::string("\0\0\0\x04" "\0" "\xff\xff\xff\xff"  // getData, not done
                               "\0\0\0\x02/a" "\0"                   // path, watch false
                               "\0\0\0\x08" "\0" "\xff\xff\xff\xff"  // getChildren
                               "\0\0\0\x01/" "\0"
                               "\xff\xff\xff\xff" "\x01" "\xff\xff\xff\xff",  // done
                               9 + 7 + 9 + 6 + 9));
  JuteReader r(bytes);
  MultiReadRequest d;
  ASSERT_TRUE(Decode(r, &d).ok());
  ASSERT_TRUE(r.ExpectEnd().ok());
  ASSERT_EQ(d.ops.size(), 2u);
  EXPECT_EQ(d.ops[0].type, kOpGetData);
  EXPECT_EQ(d.ops[0].path, "/a");
  EXPECT_EQ(d.ops[1].type, kOpGetChildren);
  EXPECT_EQ(d.ops[1].path, "/");
  ExpectEveryPrefixFails<MultiReadRequest>(
      bytes, [](JuteReader& r, MultiReadRequest* d) { return Decode(r, d); });
}

TEST(RecordsTest, MultiReadRefusesWriteOps) {
  JuteWriter w;
  Encode(w, MultiHeader{kOpGetData, false, -1});
  Encode(w, PathWatchRequest{"/a", false});
  Encode(w, MultiHeader{kOpDelete, false, -1});
  Encode(w, PathVersionRequest{"/a", -1});
  Encode(w, MultiHeader{-1, true, -1});
  JuteReader r(w.bytes());
  MultiReadRequest d;
  absl::Status s = Decode(r, &d);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(RecordsTest, MultiReadResponseRoundTrip) {
  ReadOpResult data;
  data.type = kOpGetData;
  data.data = "v";
  data.stat = Stat{1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 9};
  ReadOpResult children;
  children.type = kOpGetChildren;
  children.children = {"x", "y"};
  ReadOpResult error;
  error.type = kOpError;
  error.err = kZNoAuth;
  const std::string bytes = EncodeOne(MultiReadResponse{{data, error, children}});
  // The error result: MultiHeader{-1, false, -102}, then ErrorResult{-102}.
  const std::string error_bytes = EncodeOne(error);
  EXPECT_EQ(error_bytes, std::string("\xff\xff\xff\xff" "\0" "\xff\xff\xff\x9a"
                                     "\xff\xff\xff\x9a",
                                     13));
  JuteReader r(bytes);
  MultiReadResponse d;
  ASSERT_TRUE(Decode(r, &d).ok());
  ASSERT_TRUE(r.ExpectEnd().ok());
  ASSERT_EQ(d.results.size(), 3u);
  EXPECT_EQ(d.results[0].type, kOpGetData);
  EXPECT_EQ(d.results[0].data, "v");
  EXPECT_EQ(d.results[0].stat.pzxid, 9);
  EXPECT_EQ(d.results[0].stat.data_length, 1);
  EXPECT_EQ(d.results[1].type, kOpError);
  EXPECT_EQ(d.results[1].err, kZNoAuth);
  EXPECT_EQ(d.results[2].type, kOpGetChildren);
  EXPECT_EQ(d.results[2].children, (std::vector<std::string>{"x", "y"}));
  ExpectEveryPrefixFails<MultiReadResponse>(
      bytes, [](JuteReader& r, MultiReadResponse* d) { return Decode(r, d); });
  // An empty multiRead is answered with the end marker alone.
  EXPECT_EQ(EncodeOne(MultiReadResponse{}),
            std::string("\xff\xff\xff\xff" "\x01" "\xff\xff\xff\xff", 9));
}

}  // namespace
}  // namespace synod::zk
