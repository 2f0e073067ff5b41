# The replicated state machine: the tree, history, sessions, apply and
# snapshots (TreeStore, Applier). Included by storage/CMakeLists.txt.
add_library(synod_tree STATIC
  apply.cc
  cluster_settings.cc
  format.cc
  hash.cc
  memory_tree_store.cc
  node.cc
  overlay.cc
  rocks_tree_store.cc
  snapshot.cc
  tree_store.cc)
synod_cc_defaults(synod_tree)
# Snapshot files are zstd-compressed (Debian libzstd-dev).
find_library(SYNOD_ZSTD_LIBRARY zstd REQUIRED)
target_link_libraries(synod_tree PUBLIC
  synod_rocks_env synod_proto synod_path
  absl::status absl::statusor absl::strings absl::synchronization absl::span)
target_link_libraries(synod_tree PRIVATE ${SYNOD_ZSTD_LIBRARY})


add_library(synod_tree_test_util STATIC tree_test_util.cc)
synod_cc_defaults(synod_tree_test_util)
target_link_libraries(synod_tree_test_util PUBLIC synod_tree synod_testing GTest::gtest)

add_executable(tree_store_test
  path_test.cc
  tree_store_test.cc
  differential_test.cc
  history_ring_test.cc
  applier_node_cache_test.cc
  reopen_snapshot_test.cc
  settings_test.cc)
synod_cc_defaults(tree_store_test)
target_link_libraries(tree_store_test PRIVATE synod_tree_test_util GTest::gtest_main GTest::gmock)
gtest_discover_tests(tree_store_test)
