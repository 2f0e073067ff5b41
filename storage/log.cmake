# The durable Raft log (LogStore). Included by storage/CMakeLists.txt.
# The file operations of the log and the snapshot files (FileIO).
add_library(synod_file_io STATIC ${CMAKE_CURRENT_SOURCE_DIR}/file_io.cc)
synod_cc_defaults(synod_file_io)
target_link_libraries(synod_file_io PUBLIC absl::status absl::statusor absl::strings)

add_library(synod_log_store STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/legacy_log.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/log_segments.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/log_store.cc)
synod_cc_defaults(synod_log_store)
target_link_libraries(synod_log_store PUBLIC synod_file_io synod_crc32c synod_rocks_env synod_raft_proto absl::status
                                             absl::statusor absl::strings absl::str_format absl::synchronization)

add_executable(log_store_test ${CMAKE_CURRENT_SOURCE_DIR}/log_store_test.cc)
synod_cc_defaults(log_store_test)
target_link_libraries(log_store_test PRIVATE synod_log_store synod_testing GTest::gtest_main)
gtest_discover_tests(log_store_test)

# A file system for tests: torn writes, failed syncs, full disks, power cuts.
add_library(synod_fault_file_io STATIC ${CMAKE_CURRENT_SOURCE_DIR}/fault_file_io.cc)
synod_cc_defaults(synod_fault_file_io)
target_link_libraries(synod_fault_file_io PUBLIC synod_file_io absl::synchronization)

add_executable(log_faults_test ${CMAKE_CURRENT_SOURCE_DIR}/log_faults_test.cc)
synod_cc_defaults(log_faults_test)
target_link_libraries(log_faults_test PRIVATE synod_fault_file_io synod_log_store GTest::gtest_main)
gtest_discover_tests(log_faults_test)
