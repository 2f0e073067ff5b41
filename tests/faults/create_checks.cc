#include "tests/faults/create_checks.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace synod::faults {

std::map<std::string, const Op*> CreatesByTag(const std::vector<Op>& ops) {
  std::map<std::string, const Op*> out;
  for (const Op& op : ops) {
    if (op.type == OpType::kCreate) out[op.value] = &op;
  }
  return out;
}

std::vector<const Op*> Listings(const std::vector<Op>& ops) {
  std::vector<const Op*> out;
  for (const Op& op : ops) {
    if (op.type == OpType::kList && op.outcome == Outcome::kOk) out.push_back(&op);
  }
  return out;
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

void CheckListedChildren(const std::map<std::string, const Op*>& creates, const Op& listing,
                         std::vector<std::string>* violations) {
  std::set<std::string> names;
  std::map<std::string, std::string> tags;  // tag -> the first child holding it
  const std::string where = absl::StrCat("listing #", listing.id, " of ", listing.key);
  for (const ListedChild& c : listing.children) {
    const std::string path = absl::StrCat(listing.key, "/", c.name);
    if (!names.insert(c.name).second) {
      violations->push_back(absl::StrCat(where, ": ", c.name, " listed twice"));
    }
    if (auto [it, fresh] = tags.emplace(c.data, c.name); !fresh) {
      violations->push_back(absl::StrCat(where, ": tag '", c.data, "' on ", it->second, " and ",
                                         c.name, ": one create applied twice"));
    }
    auto it = creates.find(c.data);
    if (it == creates.end() || ParentOf(it->second->key) != listing.key) {
      violations->push_back(
          absl::StrCat(where, ": ", path, " holds '", c.data, "', which no client created here"));
      continue;
    }
    const Op& create = *it->second;
    if (create.outcome == Outcome::kFail) {
      violations->push_back(absl::StrCat(where, ": ", path, " exists, but its create failed: ",
                                         Describe(create)));
    } else if (create.outcome == Outcome::kOk && create.read_value != path) {
      violations->push_back(absl::StrCat(where, ": ", path, " holds the tag of a create acknowledged as ",
                                         create.read_value, ": ", Describe(create)));
    } else if (!absl::StartsWith(path, create.key)) {
      violations->push_back(
          absl::StrCat(where, ": ", path, " is not under the path its create asked for: ",
                       Describe(create)));
    }
    if (c.owner != 0 && create.outcome == Outcome::kOk && create.session != c.owner) {
      violations->push_back(absl::StrFormat("%s: %s is owned by session %#x, its create by %#x: %s",
                                            where, path, c.owner, create.session,
                                            Describe(create)));
    }
  }
}

void CheckCreatesListed(const std::vector<const Op*>& creates, const Op& listing,
                        std::vector<std::string>* violations) {
  std::map<std::string, const std::string*> data;
  for (const ListedChild& c : listing.children) data[absl::StrCat(listing.key, "/", c.name)] = &c.data;
  for (const Op* create : creates) {
    auto it = data.find(create->read_value);
    if (it == data.end()) {
      violations->push_back(absl::StrCat("acknowledged create missing from listing #", listing.id,
                                         " of ", listing.key, ": ", Describe(*create)));
    } else if (*it->second != create->value) {
      violations->push_back(absl::StrCat("acknowledged create's node holds '", *it->second,
                                         "' in listing #", listing.id, ": ", Describe(*create)));
    }
  }
}

}  // namespace synod::faults
