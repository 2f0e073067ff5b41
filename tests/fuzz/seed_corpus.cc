// Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/):
// a few small valid inputs each, in the layout its target reads (the top
// comment of fuzz_<target>.cc), built with Synod's own writers so they stay
// valid when a format changes. Deterministic: the same build writes the
// same bytes (check_corpus.sh compares them with the committed ones).
//
// Usage: fuzz_seed_corpus <output dir>   (writes <dir>/<target>/<seed>)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "server/raft_link.h"
#include "server/zk/jute.h"
#include "server/zk/records.h"
#include "storage/acl.h"
#include "storage/cluster_settings.h"
#include "storage/fault_file_io.h"
#include "storage/log_store.h"
#include "storage/node.h"
#include "storage/snapshot_descriptor.h"
#include "storage/snapshot_format.h"
#include "synod/v1/command.pb.h"
#include "synod/v1/tree.pb.h"
#include "tests/fuzz/fuzz_input.h"
#include "zstd.h"

namespace synod::fuzz {
namespace {

namespace fs = std::filesystem;

void CheckOk(const absl::Status& s) {
  if (!s.ok()) Broken("seed writer", s.ToString());
}

class Seeds {
 public:
  explicit Seeds(fs::path root) : root_(std::move(root)) {}
  void Put(const std::string& target, const std::string& name, std::string_view bytes) {
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) Broken("cannot write", (dir / name).string());
  }

 private:
  fs::path root_;
};

storage::Node SampleNode(std::string data, storage::NodeKind kind = storage::NodeKind::kPersistent) {
  storage::Node node;
  node.kind = kind;
  node.stat.czxid = 3;
  node.stat.mzxid = 5;
  node.stat.pzxid = 3;
  node.stat.ctime = 1700000000000;
  node.stat.mtime = 1700000000500;
  node.stat.version = 1;
  node.stat.data_length = static_cast<int64_t>(data.size());
  if (kind == storage::NodeKind::kTtl) node.ttl_ms = 60000;
  if (kind == storage::NodeKind::kEphemeral) node.stat.ephemeral_owner = 2;
  node.history_seq = 2;
  node.data = std::move(data);
  return node;
}

storage::HistoryEntry SampleHistory(bool deleted) {
  storage::HistoryEntry entry;
  entry.revision = 5;
  entry.deleted = deleted;
  entry.stat = SampleNode("v1").stat;
  if (!deleted) entry.data = "v1";
  return entry;
}

storage::Session SampleSession() {
  storage::Session s;
  s.id = 2;
  s.timeout_ms = 10000;
  s.secret = "0123456789abcdef";
  s.acked_below = 3;
  v1::CommandResult result;
  result.set_code(v1::OK);
  s.results = {{3, result.SerializeAsString()}, {5, result.SerializeAsString()}};
  return s;
}

std::vector<v1::Member> SampleMembers() {
  std::vector<v1::Member> members(3);
  for (int i = 0; i < 3; ++i) {
    members[i].set_id(i + 1);
    members[i].set_peer_addr(absl::StrFormat("127.0.0.1:%d", 7001 + i));
    members[i].set_client_addr(absl::StrFormat("127.0.0.1:%d", 6001 + i));
  }
  members[2].set_learner(true);
  return members;
}

void PathSeeds(Seeds* seeds) {
  const auto put = [&](const std::string& name, std::string_view first, std::string_view second) {
    ByteWriter w;
    w.U8(static_cast<uint8_t>(first.size())).Bytes(first).Bytes(second);
    seeds->Put("path", name, w.str());
  };
  put("root", "/", "/");
  put("nested", "/app/config/db", "/app");
  put("sibling-prefix", "/app/configs", "/app/config");
  put("utf8", "/\xc3\xa9t\xc3\xa9/\xe2\x82\xac", "/\xc3\xa9t\xc3\xa9");
  put("sequential", "/queue/item-0000000042", "/queue/item-");
  put("invalid", "/a//b", "/a/./b/");
}

void RecordSeeds(Seeds* seeds) {
  const auto put = [&](const std::string& name, uint8_t which, std::string_view bytes) {
    ByteWriter w;
    w.U8(which).Bytes(bytes);
    seeds->Put("records", name, w.str());
  };
  put("node", 0, storage::EncodeNode(SampleNode("hello")));
  put("node-ttl", 0, storage::EncodeNode(SampleNode("", storage::NodeKind::kTtl)));
  put("history", 1, storage::EncodeHistoryEntry(SampleHistory(false)));
  put("history-tombstone", 1, storage::EncodeHistoryEntry(SampleHistory(true)));
  put("session", 2, storage::EncodeSession(SampleSession()));
  put("settings", 3, storage::EncodeSettings(storage::ClusterSettings()));
  put("descriptor", 4, storage::EncodeSnapshotDescriptor(SampleMembers()));
}

// A snapshot file holding a little of everything, written by the real
// writer into memory.
std::string SnapshotFile(bool with_settings) {
  storage::FaultFileIO io;
  CheckOk(io.CreateDir("/s").status());
  const std::vector<std::pair<std::string, storage::Node>> nodes = {
      {"/", storage::InitialRoot()},
      {"/app", SampleNode("config")},
      {"/app/ttl", SampleNode("", storage::NodeKind::kTtl)},
      {"/app/lock-0000000001", SampleNode("me", storage::NodeKind::kEphemeral)},
  };
  storage::StoreMeta meta;
  meta.applied_index = 9;
  meta.compact_revision = 2;
  for (const auto& [path, node] : nodes) meta.digest += storage::NodeDigestTerm(path, node);
  if (with_settings) meta.settings = storage::ClusterSettings();
  auto writer = storage::SnapshotFileWriter::Create(&io, "/s/snap", meta);
  CheckOk(writer.status());
  for (const auto& [path, node] : nodes) CheckOk((*writer)->AddNode(path, node));
  CheckOk((*writer)->AddHistory("/app", 1, SampleHistory(false)));
  CheckOk((*writer)->AddHistory("/gone", 2, SampleHistory(true)));
  CheckOk((*writer)->AddSession(SampleSession()));
  CheckOk((*writer)->AddGrave(storage::Grave{7, "/gone", 2}));
  v1::WatchEvent event;
  event.set_type(v1::EVENT_NODE_CREATED);
  event.set_path("/app/ttl");
  event.set_revision(8);
  CheckOk((*writer)->AddEvent(event, 0));
  CheckOk((*writer)->Finish().status());
  return io.Contents("/s/snap");
}

// The same file in fuzz_snapshot_file's plain layout: the header, then the
// decompressed blocks.
std::string PlainLayout(const std::string& file, uint8_t mode) {
  ByteReader in(file);
  const std::string_view fixed = in.Bytes(8 + 4 + 8 + 8 + 8);
  const uint32_t settings_len = in.U32();
  std::string header(fixed);
  ByteWriter len;
  len.U32(settings_len);
  header += len.str();
  header += in.Bytes(settings_len);
  // The auth state and the quotas: u8 present | u32 length | bytes each.
  for (int part = 0; part < 2; ++part) {
    ByteWriter head;
    head.U8(in.U8());
    const uint32_t length = in.U32();
    head.U32(length);
    header += head.str();
    header += in.Bytes(length);
  }
  std::string body;
  while (!in.empty()) {
    const uint32_t packed = in.U32();
    const uint32_t plain = in.U32();
    const std::string_view frame = in.Bytes(packed);
    std::string out(plain, '\0');
    const size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
    if (ZSTD_isError(n) || n != plain) Broken("seed writer: cannot decompress its own snapshot");
    body += out;
  }
  ByteWriter w;
  w.U8(mode).U16(0).Field(header).Bytes(body);
  return w.str();
}

void SnapshotSeeds(Seeds* seeds) {
  for (const bool settings : {false, true}) {
    const std::string file = SnapshotFile(settings);
    const std::string suffix = settings ? "-settings" : "";
    seeds->Put("snapshot_file", "raw" + suffix, std::string(1, '\0') + file);
    seeds->Put("snapshot_file", "plain" + suffix, PlainLayout(file, 1));
    seeds->Put("snapshot_file", "plain-fixed" + suffix, PlainLayout(file, 1 | 2 | 4));
  }
}

raft::Entry Entry(raft::LogIndex index, raft::Term term, std::string data) {
  raft::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

raft::HardState Hard(raft::Term term, raft::NodeId vote, raft::LogIndex commit) {
  raft::HardState h;
  h.set_term(term);
  h.set_vote(vote);
  h.set_commit(commit);
  return h;
}

raft::Snapshot Snap(raft::LogIndex index, raft::Term term) {
  raft::Snapshot s;
  s.mutable_metadata()->set_index(index);
  s.mutable_metadata()->set_term(term);
  s.mutable_metadata()->mutable_conf_state()->add_voters(1);
  s.set_data(storage::EncodeSnapshotDescriptor(SampleMembers()));
  return s;
}

// Segment files written by LogStore itself: bootstrap, entries of two
// terms, a compaction, across several small segments.
std::string RawLog(int batches) {
  storage::FaultFileIO io;
  CheckOk(io.CreateDir("/log").status());
  storage::LogStore::Options options;
  options.dir = "/log";
  options.segment_bytes = 512;
  options.io = &io;
  options.background_spare = false;
  auto log = storage::LogStore::Open(options);
  CheckOk(log.status());
  raft::ConfState conf;
  conf.add_voters(1);
  CheckOk((*log)->Bootstrap(conf, storage::EncodeSnapshotDescriptor(SampleMembers())));
  raft::LogIndex next = 2;
  for (int b = 0; b < batches; ++b) {
    const raft::Term term = 1 + b / 2;
    std::vector<raft::Entry> entries;
    for (int i = 0; i < 3; ++i, ++next) entries.push_back(Entry(next, term, "command data"));
    (*log)->Save(std::nullopt, std::move(entries), Hard(term, 1, next - 2), /*sync=*/true);
  }
  if (batches >= 3) CheckOk((*log)->SaveSnapshot(Snap(4, 1)));
  log->reset();
  std::vector<std::string> files;
  for (uint32_t seq = 1;; ++seq) {
    const std::string bytes = io.Contents(absl::StrFormat("/log/%016x.seg", seq));
    if (bytes.empty()) break;
    files.push_back(bytes);
  }
  // Segments 1..n, as the layout names them (deleted ones are not there).
  if (files.empty() || files.size() > 3) Broken("seed writer: unexpected segment count");
  ByteWriter w;
  w.U8(0).U8(static_cast<uint8_t>(files.size() - 1));
  for (size_t i = 0; i + 1 < files.size(); ++i) w.Field(files[i]);
  w.Bytes(files.back());
  return w.str();
}

void LogSeeds(Seeds* seeds) {
  seeds->Put("log_segments", "raw-bootstrap", RawLog(0));
  seeds->Put("log_segments", "raw-two-terms", RawLog(2));
  seeds->Put("log_segments", "raw-empty-segment", std::string("\0\0", 2) + std::string(4096, '\0'));

  // The records layout: ops written by LogSegments in fuzz_log_segments.
  const auto records = [](bool torn, bool rotate) {
    ByteWriter w;
    w.U8(1).U16(256);
    w.U8(4).Field(Snap(1, 1).SerializeAsString());
    w.U8(2).Field(Hard(1, 0, 1).SerializeAsString());
    w.U8(0);
    w.U8(1).Field(Entry(2, 1, "a").SerializeAsString());
    w.U8(1).Field(Entry(3, 1, "b").SerializeAsString());
    w.U8(2).Field(Hard(1, 1, 2).SerializeAsString());
    if (rotate) w.U8(5);
    w.U8(1).Field(Entry(3, 2, "b'").SerializeAsString());
    w.U8(1).Field(Entry(4, 2, "c").SerializeAsString());
    w.U8(2).Field(Hard(2, 1, 3).SerializeAsString());
    if (torn) w.U8(7).U32(0x60);
    return w.str();
  };
  seeds->Put("log_segments", "records", records(false, false));
  seeds->Put("log_segments", "records-rotated", records(false, true));
  seeds->Put("log_segments", "records-torn", records(true, false));
  ByteWriter reset;
  reset.U8(1).U16(0);
  reset.U8(1).Field(Entry(1, 1, "x").SerializeAsString());
  reset.U8(0);
  reset.U8(3).Field(Snap(10, 3).SerializeAsString());
  reset.U8(1).Field(Entry(11, 3, "y").SerializeAsString());
  reset.U8(6).U8(0).U32(40).U8(0x01);
  seeds->Put("log_segments", "records-reset-damaged", reset.str());
}

raft::Message Msg(raft::MessageType type, raft::NodeId from, raft::NodeId to) {
  raft::Message m;
  m.set_type(type);
  m.set_from(from);
  m.set_to(to);
  m.set_term(3);
  return m;
}

void LinkSeeds(Seeds* seeds) {
  v1::RaftBatch batch;
  batch.set_cluster_id(7);
  batch.set_from(2);
  raft::Message app = Msg(raft::MessageType::MSG_APP, 2, 1);
  app.set_log_term(3);
  app.set_index(10);
  app.set_commit(10);
  *app.add_entries() = Entry(11, 3, "command");
  *batch.add_messages() = app;
  *batch.add_messages() = Msg(raft::MessageType::MSG_HEARTBEAT, 2, 1);
  std::string frames;
  server::AppendLinkFrame(batch, &frames);
  v1::RaftBatch forwarded;
  forwarded.set_cluster_id(7);
  forwarded.set_from(2);
  raft::Message prop = Msg(raft::MessageType::MSG_PROP, 3, 1);
  *prop.add_entries() = Entry(0, 0, "proposal");
  *forwarded.add_messages() = prop;
  server::AppendLinkFrame(forwarded, &frames);
  for (const uint16_t chunk : {uint16_t{0}, uint16_t{6}, uint16_t{4095}}) {
    ByteWriter w;
    w.U16(chunk).Bytes(frames);
    seeds->Put("raft_link", absl::StrFormat("frames-chunk%d", chunk + 1), w.str());
  }
  v1::RaftBatch foreign = batch;
  foreign.set_cluster_id(8);
  std::string refused;
  server::AppendLinkFrame(batch, &refused);
  server::AppendLinkFrame(foreign, &refused);
  ByteWriter w;
  w.U16(100).Bytes(refused);
  seeds->Put("raft_link", "foreign-cluster", w.str());
  ByteWriter hello;
  hello.U16(31).Bytes(server::EncodeLinkHello(server::LinkHello{7, 2, 1}));
  seeds->Put("raft_link", "hello", hello.str());
}

v1::Op Create(const std::string& path, v1::CreateMode mode, std::string data = "",
              int64_t ttl = 0) {
  v1::Op op;
  op.mutable_create()->set_path(path);
  op.mutable_create()->set_mode(mode);
  op.mutable_create()->set_data(std::move(data));
  op.mutable_create()->set_ttl_ms(ttl);
  return op;
}

void ApplySeeds(Seeds* seeds) {
  const auto command = [](ByteWriter* w, const v1::Command& c) {
    w->U8(0).Field(c.SerializeAsString());
  };
  const auto multi = [](ByteWriter* w, const v1::MultiRequest& m) {
    w->U8(1).Field(m.SerializeAsString());
  };
  v1::Command open;
  open.set_leader_time_ms(1000);
  open.mutable_open_session()->set_timeout_ms(10000);
  open.mutable_open_session()->set_secret("secret");

  // A multi that builds a small tree, then one that fails half way.
  {
    ByteWriter w;
    v1::MultiRequest m;
    *m.add_ops() = Create("/app", v1::PERSISTENT, "a");
    *m.add_ops() = Create("/app/config", v1::PERSISTENT, "v1");
    *m.add_ops() = Create("/app/q-", v1::PERSISTENT_SEQUENTIAL);
    multi(&w, m);
    v1::MultiRequest fail;
    v1::Op set;
    set.mutable_set()->set_path("/app/config");
    set.mutable_set()->set_data("v2");
    set.mutable_set()->set_expected_version(0);
    *fail.add_ops() = set;
    v1::Op check;
    check.mutable_check()->set_path("/app/config");
    check.mutable_check()->set_expected_version(7);
    *fail.add_ops() = check;
    multi(&w, fail);
    seeds->Put("apply", "multi", w.str());
  }
  // A session, an ephemeral node written exactly once, a retry, close.
  {
    ByteWriter w;
    command(&w, open);
    v1::Command eph;
    eph.set_leader_time_ms(2000);
    eph.mutable_write()->set_session_id(1);
    eph.mutable_write()->set_sequence(1);
    eph.mutable_write()->set_session_secret(open.open_session().secret());
    *eph.mutable_txn()->add_ops() = Create("/lock-", v1::EPHEMERAL_SEQUENTIAL, "me");
    command(&w, eph);
    command(&w, eph);
    v1::Command close;
    close.mutable_close_session()->set_session_id(1);
    command(&w, close);
    seeds->Put("apply", "session", w.str());
  }
  // TTL and container nodes, their expiry, history compaction.
  {
    ByteWriter w;
    v1::Command c;
    c.set_leader_time_ms(1000);
    *c.mutable_txn()->add_ops() = Create("/ttl", v1::PERSISTENT_WITH_TTL, "t", 500);
    command(&w, c);
    *c.mutable_txn()->mutable_ops(0) = Create("/box", v1::CONTAINER);
    command(&w, c);
    *c.mutable_txn()->mutable_ops(0) = Create("/box/item", v1::PERSISTENT);
    command(&w, c);
    v1::Command del;
    v1::Op d;
    d.mutable_delete_()->set_path("/box/item");
    *del.mutable_txn()->add_ops() = d;
    command(&w, del);
    v1::Command expire;
    expire.set_leader_time_ms(5000);
    expire.mutable_delete_expired()->add_paths("/ttl");
    expire.mutable_delete_expired()->add_paths("/box");
    command(&w, expire);
    v1::Command compact;
    compact.mutable_compact_history()->set_revision(5);
    command(&w, compact);
    seeds->Put("apply", "ttl-container", w.str());
  }
  // Cluster settings: bootstrap, then a change.
  {
    ByteWriter w;
    v1::Command s;
    storage::ToProto(storage::ClusterSettings(), s.mutable_set_settings()->mutable_settings());
    s.mutable_set_settings()->set_bootstrap(true);
    command(&w, s);
    v1::Command change;
    change.mutable_set_settings()->mutable_settings()->set_max_multi_ops(2);
    command(&w, change);
    v1::MultiRequest m;
    for (int i = 0; i < 3; ++i) *m.add_ops() = Create(absl::StrFormat("/n%d", i), v1::PERSISTENT);
    multi(&w, m);
    seeds->Put("apply", "settings", w.str());
  }
}

void AclSeeds(Seeds* seeds) {
  const auto put = [&](const std::string& name, uint8_t perm, std::string_view text,
                       const std::vector<std::string>& create_acl, const v1::Caller& caller) {
    v1::CreateOp create;
    create.set_path("/app");
    for (const std::string& entry : create_acl) {
      absl::StatusOr<v1::Acl> parsed = storage::ParseAclEntry(entry);
      CheckOk(parsed.status());
      *create.add_acl() = *parsed;
    }
    ByteWriter w;
    w.U8(perm).Field(text).Field(create.SerializeAsString()).Bytes(caller.SerializeAsString());
    seeds->Put("acl", name, w.str());
  };
  v1::Caller nobody;
  v1::Caller bob;
  v1::Identity* id = bob.add_ids();
  id->set_scheme("digest");
  id->set_id(storage::DigestId("bob", "secret"));
  id = bob.add_ids();
  id->set_scheme("ip");
  id->set_id("10.1.2.3");
  const std::string bob_entry = "digest:" + storage::DigestId("bob", "secret") + ":rw";
  put("open", storage::kPermAll, "world:anyone:cdrwa", {"world:anyone:cdrwa"}, nobody);
  put("digest-ip", storage::kPermRead, bob_entry + ",ip:10.0.0.0/8:r", {bob_entry, "ip:10.0.0.0/8:r"},
      bob);
  put("auth", storage::kPermWrite | storage::kPermRead, "auth::cdrwa", {"auth::cdrwa"}, bob);
  put("ipv6", storage::kPermAdmin, "ip:2001:db8::/32:a, x509:CN=client:r",
      {"ip:2001:db8::/32:a", "x509:CN=client:r"}, nobody);
}

// One record per kind fuzz_jute decodes: byte 0 = its case there.
void JuteSeeds(Seeds* seeds) {
  const auto put = [&](const std::string& name, uint8_t which, const auto& record, auto... args) {
    zk::JuteWriter w;
    zk::Encode(w, record, args...);
    seeds->Put("jute", name, std::string(1, static_cast<char>(which)) + w.Take());
  };
  const std::vector<zk::Acl> acl = {{31, "world", "anyone"}, {1, "digest", "bob:x0TGm5ef"}};
  put("connect", 0, zk::ConnectRequest{0, 7, 10000, 0, std::string(16, 'p'), true, false});
  put("header", 1, zk::RequestHeader{5, 1});
  put("create", 2, zk::CreateRequest{"/app/n-", "data", acl, 2, 0}, false);
  put("create-ttl", 3, zk::CreateRequest{"/app/t", "x", acl, 5, 60000}, true);
  put("get-watch", 4, zk::PathWatchRequest{"/app", true});
  put("delete", 5, zk::PathVersionRequest{"/app", 3});
  put("set", 6, zk::SetDataRequest{"/app", "v2", -1});
  put("multi-header", 7, zk::MultiHeader{1, false, -1});
  put("set-watches", 8, zk::SetWatchesRequest{9, {"/a"}, {"/b"}, {"/c"}, {}, {}}, false);
  put("set-watches2", 9, zk::SetWatchesRequest{9, {"/a"}, {}, {}, {"/p"}, {"/r"}}, true);
  put("add-watch", 10, zk::AddWatchRequest{"/app", 1});
  put("remove-watches", 11, zk::WatchesRequest{"/app", 3});
  put("auth", 12, zk::AuthPacket{0, "digest", "bob:secret"});
  put("set-acl", 13, zk::SetAclRequest{"/app", acl, 0});
  put("multi-read", 14,
      zk::MultiReadRequest{{{zk::kOpGetData, "/app"}, {zk::kOpGetChildren, "/app"}}});
}

}  // namespace
}  // namespace synod::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
    return 2;
  }
  synod::fuzz::Seeds seeds{std::filesystem::path(argv[1])};
  synod::fuzz::PathSeeds(&seeds);
  synod::fuzz::RecordSeeds(&seeds);
  synod::fuzz::SnapshotSeeds(&seeds);
  synod::fuzz::LogSeeds(&seeds);
  synod::fuzz::LinkSeeds(&seeds);
  synod::fuzz::ApplySeeds(&seeds);
  synod::fuzz::AclSeeds(&seeds);
  synod::fuzz::JuteSeeds(&seeds);
  return 0;
}
