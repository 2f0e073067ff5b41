# The replicated state machine: the tree, history, sessions, apply and
# snapshots (TreeStore, Applier). Included by storage/CMakeLists.txt.
add_library(synod_tree STATIC
  apply.cc
  format.cc
  hash.cc
  memory_tree_store.cc
  node.cc
  overlay.cc
  path.cc
  rocks_tree_store.cc
  snapshot.cc
  tree_store.cc)
synod_cc_defaults(synod_tree)
target_link_libraries(synod_tree PUBLIC
  synod_rocks_env synod_proto
  absl::status absl::statusor absl::strings absl::synchronization absl::span)

