#include "server/error_mapping.h"

#include "gtest/gtest.h"

namespace synod::server {
namespace {

TEST(ErrorMappingTest, StyleTable) {
  EXPECT_EQ(GrpcCodeFor(v1::OK), grpc::StatusCode::OK);
  EXPECT_EQ(GrpcCodeFor(v1::NOT_LEADER), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcCodeFor(v1::UNAVAILABLE), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcCodeFor(v1::BAD_VERSION), grpc::StatusCode::ABORTED);
  EXPECT_EQ(GrpcCodeFor(v1::NO_NODE), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GrpcCodeFor(v1::NODE_EXISTS), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(GrpcCodeFor(v1::NOT_EMPTY), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GrpcCodeFor(v1::NO_CHILDREN_FOR_EPHEMERALS), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GrpcCodeFor(v1::SESSION_EXPIRED), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GrpcCodeFor(v1::INVALID_PATH), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcCodeFor(v1::TOO_LARGE), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcCodeFor(v1::COMPACTED), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(GrpcCodeFor(v1::REVISION_AHEAD), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(GrpcCodeFor(v1::RESOURCE_EXHAUSTED), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcCodeFor(v1::TOO_MANY_WATCHES), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcCodeFor(v1::DEADLINE_EXCEEDED), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(GrpcCodeFor(v1::DATA_LOSS), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(GrpcCodeFor(static_cast<v1::ErrorCode>(999)), grpc::StatusCode::INTERNAL);
}

TEST(ErrorMappingTest, EveryCodeIsMapped) {
  // Each defined code except INTERNAL maps to something more specific.
  for (int i = v1::ErrorCode_MIN; i <= v1::ErrorCode_MAX; ++i) {
    if (!v1::ErrorCode_IsValid(i) || i == v1::INTERNAL) continue;
    EXPECT_NE(GrpcCodeFor(static_cast<v1::ErrorCode>(i)), grpc::StatusCode::INTERNAL)
        << v1::ErrorCode_Name(static_cast<v1::ErrorCode>(i));
  }
}

TEST(ErrorMappingTest, MessageNamesTheCode) {
  grpc::Status s = ToGrpcStatus(v1::BAD_VERSION, "expected 3, is 4");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(s.error_message(), "BAD_VERSION: expected 3, is 4");
  EXPECT_TRUE(ToGrpcStatus(v1::OK, "ignored").ok());
}

}  // namespace
}  // namespace synod::server

namespace synod::server {
namespace {

TEST(ErrorMappingTest, HeaderTravelsInErrorDetails) {
  v1::ResponseHeader header;
  header.set_member_id(2);
  header.set_leader_id(3);
  header.set_revision(99);
  header.set_code(v1::NOT_LEADER);
  header.set_message("ask 3");
  grpc::Status s = ToGrpcStatus(header);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  v1::ResponseHeader back;
  ASSERT_TRUE(back.ParseFromString(s.error_details()));
  EXPECT_EQ(back.leader_id(), 3u);
  EXPECT_EQ(back.code(), v1::NOT_LEADER);
  header.set_code(v1::OK);
  EXPECT_TRUE(ToGrpcStatus(header).ok());
}

}  // namespace
}  // namespace synod::server
