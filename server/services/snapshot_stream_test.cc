// Cluster.Snapshot against an in-process replica: the stream is a
// snapshot file that verifies, announced with its revision and digest, in
// contiguous chunks with a matching CRC32C; cancelled calls give their
// backup slot back.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/crc32c.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/replica.h"
#include "server/replica_testing.h"
#include "storage/format.h"
#include "storage/snapshot.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::WaitUntil;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  return ctx;
}

struct Received {
  grpc::Status status;
  std::vector<v1::SnapshotChunk> chunks;  // without their data (see bytes, sizes)
  std::vector<size_t> sizes;              // data bytes per chunk
  std::string bytes;
};

// Reads a whole Snapshot stream.
Received ReadStream(v1::Cluster::Stub* cluster) {
  Received r;
  auto ctx = Ctx();
  auto reader = cluster->Snapshot(ctx.get(), v1::SnapshotRequest());
  v1::SnapshotChunk chunk;
  while (reader->Read(&chunk)) {
    r.bytes += chunk.data();
    r.sizes.push_back(chunk.data().size());
    chunk.clear_data();
    r.chunks.push_back(chunk);
  }
  r.status = reader->Finish();
  return r;
}

TEST(SnapshotStreamTest, StreamsAVerifiableFileAndCancelledCallsFreeTheirSlot) {
  TempDir dir;
  ReplicaOptions options = SingleReplicaOptions(dir);
  auto replica = Replica::Start(options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  // One channel for the whole test process (gRPC 1.51 must not see its
  // last channel destroyed and a new one made).
  static auto* channel = new std::shared_ptr<grpc::Channel>(
      grpc::CreateChannel(options.client_addr, grpc::InsecureChannelCredentials()));
  auto tree = v1::Tree::NewStub(*channel);
  auto cluster = v1::Cluster::NewStub(*channel);
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::StatusResponse st;
        return cluster->Status(Ctx().get(), v1::StatusRequest(), &st).ok() &&
               st.role() == v1::ROLE_LEADER;
      },
      absl::Seconds(10)));
  // About 2.7 MiB of state: several 1 MiB chunks. Pseudo-random bytes, so
  // the file's compression leaves them that large.
  uint64_t noise = 88172645463325252u;
  for (int i = 0; i < 3; ++i) {
    v1::CreateRequest req;
    req.mutable_op()->set_path(absl::StrCat("/big", i));
    std::string data(900 << 10, '\0');
    for (char& c : data) {
      noise ^= noise << 13;
      noise ^= noise >> 7;
      noise ^= noise << 17;
      c = static_cast<char>(noise);
    }
    req.mutable_op()->set_data(std::move(data));
    v1::CreateResponse resp;
    ASSERT_TRUE(tree->Create(Ctx().get(), req, &resp).ok());
  }

  Received full = ReadStream(cluster.get());
  ASSERT_TRUE(full.status.ok()) << full.status.error_message();
  ASSERT_GE(full.chunks.size(), 3u);
  uint64_t offset = 0;
  for (size_t i = 0; i < full.chunks.size(); ++i) {
    const v1::SnapshotChunk& c = full.chunks[i];
    EXPECT_EQ(c.offset(), offset) << "chunk " << i;
    EXPECT_EQ(c.done(), i + 1 == full.chunks.size()) << "chunk " << i;
    EXPECT_EQ(c.file_name(), full.chunks[0].file_name());
    EXPECT_GT(full.sizes[i], 0u) << "chunk " << i;
    offset += full.sizes[i];
  }
  EXPECT_EQ(offset, full.bytes.size());
  base::Crc32cStream crc;
  crc.Update(full.bytes);
  EXPECT_EQ(full.chunks.back().crc32c(), crc.value());
  const v1::SnapshotChunk& manifest = full.chunks.front();
  EXPECT_EQ(manifest.format_version(), storage::kSnapshotFormatVersion);
  ASSERT_EQ(manifest.members_size(), 1);
  const std::string file = dir.Sub("backup.snap");
  std::ofstream(file, std::ios::binary) << full.bytes;
  absl::StatusOr<storage::SnapshotSummary> summary = storage::VerifySnapshot(file);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->info.meta.applied_index, manifest.applied_index());
  EXPECT_EQ(summary->info.meta.digest, manifest.digest());
  EXPECT_EQ(summary->nodes, 4u);  // "/" and /big0../big2
  v1::StatusResponse st;
  ASSERT_TRUE(cluster->Status(Ctx().get(), v1::StatusRequest(), &st).ok());
  EXPECT_GE(st.applied_index(), manifest.applied_index());

  // Calls cancelled after their first chunk: each must give its slot back
  // (a replica serves at most 2 backups at once).
  for (int i = 0; i < 4; ++i) {
    grpc::ClientContext ctx;
    auto reader = cluster->Snapshot(&ctx, v1::SnapshotRequest());
    v1::SnapshotChunk chunk;
    reader->Read(&chunk);
    ctx.TryCancel();
    reader->Finish().ok();  // CANCELLED, or UNAVAILABLE while a slot is still held
  }
  Received after;
  EXPECT_TRUE(WaitUntil(
      [&] {
        after = ReadStream(cluster.get());
        return after.status.ok();
      },
      absl::Seconds(10), absl::Milliseconds(100)))
      << after.status.error_message();
  ASSERT_FALSE(after.chunks.empty());
  EXPECT_TRUE(after.chunks.back().done());
  (*replica)->Shutdown();
}

}  // namespace
}  // namespace synod::server
