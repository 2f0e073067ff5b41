// Comparing secrets (session secrets, ZooKeeper session passwords) so that
// the time taken does not depend on where two inputs first differ: a caller
// timing replies cannot find a secret byte by byte. The length is not
// hidden (every secret of a kind has the same length).
#pragma once

#include <string_view>

namespace synod::base {

inline bool SecretsEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

}  // namespace synod::base
