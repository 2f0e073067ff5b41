// Snapshot files of a TreeStore: TreeStore::WriteSnapshot and
// TreeStore::RestoreSnapshot (storage/tree_store.h) on top of the file
// format (storage/snapshot_format.h, which is all a tool that only reads or
// checks files needs). This header gives the format's functions to code
// that also writes or restores state.
#pragma once

#include "storage/snapshot_format.h"
#include "storage/tree_store.h"
