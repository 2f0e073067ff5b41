#include "server/zk/zk_convert.h"

#include <algorithm>
#include <cstddef>

namespace synod::zk {

Stat ToZkStat(const v1::Stat& s) {
  Stat z;
  z.czxid = static_cast<int64_t>(s.czxid());
  z.mzxid = static_cast<int64_t>(s.mzxid());
  z.ctime = s.ctime();
  z.mtime = s.mtime();
  z.version = static_cast<int32_t>(s.version());
  z.cversion = static_cast<int32_t>(s.cversion());
  z.aversion = static_cast<int32_t>(s.aversion());
  z.ephemeral_owner = static_cast<int64_t>(s.ephemeral_owner());
  z.data_length = static_cast<int32_t>(s.data_length());
  z.num_children = static_cast<int32_t>(s.num_children());
  z.pzxid = static_cast<int64_t>(s.pzxid());
  return z;
}

std::vector<Acl> ToZkAcl(const google::protobuf::RepeatedPtrField<v1::Acl>& acl) {
  std::vector<Acl> out;
  out.reserve(static_cast<size_t>(acl.size()));
  for (const v1::Acl& a : acl) out.push_back(Acl{static_cast<int32_t>(a.perms()), a.scheme(), a.id()});
  return out;
}

void ToV1Acl(const std::vector<Acl>& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out) {
  for (size_t i = 0; i < acl.size(); ++i) {
    const Acl& a = acl[i];
    // ZooKeeper's fixupACL drops an entry equal to an earlier one. Lists
    // are short (a frame's worth at most), so the quadratic scan is fine.
    const bool repeated = std::any_of(acl.begin(), acl.begin() + static_cast<ptrdiff_t>(i),
                                      [&a](const Acl& b) {
                                        return b.perms == a.perms && b.scheme == a.scheme &&
                                               b.id == a.id;
                                      });
    if (repeated) continue;
    v1::Acl* e = out->Add();
    e->set_perms(static_cast<uint32_t>(a.perms));
    e->set_scheme(a.scheme);
    e->set_id(a.id);
  }
}

int64_t FromZkVersion(int32_t version) {
  if (version == -1) return -1;
  return static_cast<int64_t>(static_cast<uint32_t>(version));
}

}  // namespace synod::zk
