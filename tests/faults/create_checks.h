// Checks the create-based workloads (sequential, session, exactly-once)
// share: a listing of a parent's children against the creates the clients
// tried under it. Each create's data is a tag unique in the run, so a child
// names the create that made it.
//
// Thread: plain values and pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/faults/history.h"

namespace synod::faults {

// What a create-based workload's checker found.
struct CreateVerdict {
  std::vector<std::string> violations;  // empty: the history passes
  std::string summary;                  // counts, for the verdict file
};

// The kCreate ops of a history, by tag (Op::value).
std::map<std::string, const Op*> CreatesByTag(const std::vector<Op>& ops);

// The kList ops of a history (the final listings), in id order.
std::vector<const Op*> Listings(const std::vector<Op>& ops);

// Checks every child `listing` holds, and appends a line per violation:
//  - no two children share a name or a tag (a tag twice: one create
//    applied twice);
//  - each child's tag is that of a create under listing.key that Synod did
//    not call failed, at the path its reply named (ok) or under the path it
//    asked for (unknown);
//  - an ephemeral child (owner != 0) is owned by the session its ok create
//    reported.
void CheckListedChildren(const std::map<std::string, const Op*>& creates, const Op& listing,
                         std::vector<std::string>* violations);

// Appends a violation for each of the (ok) `creates` whose path, as its
// reply named it, `listing` lacks or holds with another tag.
void CheckCreatesListed(const std::vector<const Op*>& creates, const Op& listing,
                        std::vector<std::string>* violations);

// "/faults/seq/n-0000000042" -> "/faults/seq"; a path without '/' -> "".
std::string ParentOf(const std::string& path);

}  // namespace synod::faults
