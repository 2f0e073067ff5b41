#include "server/zk/sasl_server.h"

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace synod::zk {
namespace {

constexpr char kService[] = "zookeeper";
constexpr char kServerName[] = "zk-sasl-server";
constexpr char kMechanism[] = "DIGEST-MD5";
constexpr char kAuxpropName[] = "synod-zk-users";

// The users of the exchange this thread is evaluating. Cyrus calls the
// auxprop plugin synchronously inside sasl_server_start/step, on the
// calling thread, so a thread-local reaches the right table without a
// process-wide registry.
thread_local const SaslUsers* tls_users = nullptr;

class UsersScope {
 public:
  explicit UsersScope(const SaslUsers* users) : previous_(tls_users) { tls_users = users; }
  ~UsersScope() { tls_users = previous_; }

 private:
  const SaslUsers* const previous_;
};

// A Cyrus user may come with "@realm" appended (canonicalisation); user
// names never hold '@' (ParseJaasUsers).
absl::string_view WithoutRealm(absl::string_view user) {
  const size_t at = user.find('@');
  return at == absl::string_view::npos ? user : user.substr(0, at);
}

// Fills the password property of the user being looked up from tls_users,
// as Cyrus's own sasldb plugin fills it from its database.
int LookupUser(void* /*glob_context*/, sasl_server_params_t* sparams, unsigned flags,
               const char* user, unsigned ulen) {
  if (sparams == nullptr || user == nullptr) return SASL_BADPARAM;
  const SaslUsers* users = tls_users;
  if (users == nullptr) return SASL_NOUSER;
  const auto it = users->find(std::string(WithoutRealm(absl::string_view(user, ulen))));
  if (it == users->end()) return SASL_NOUSER;
  for (const propval* cur = sparams->utils->prop_get(sparams->propctx);
       cur != nullptr && cur->name != nullptr; ++cur) {
    // "*name" is a property of the authentication id, "name" of the
    // authorization id.
    const bool authid = cur->name[0] == '*';
    if (authid == ((flags & SASL_AUXPROP_AUTHZID) != 0)) continue;
    if (std::strcmp(cur->name + (authid ? 1 : 0), SASL_AUX_PASSWORD_PROP) != 0) continue;
    if (cur->values != nullptr) {
      if ((flags & SASL_AUXPROP_OVERRIDE) == 0) continue;
      sparams->utils->prop_erase(sparams->propctx, cur->name);
    }
    sparams->utils->prop_set(sparams->propctx, cur->name, it->second.data(),
                             static_cast<int>(it->second.size()));
  }
  return SASL_OK;
}

sasl_auxprop_plug_t users_plugin = {
    /*features=*/0,           /*spare_int1=*/0,
    /*glob_context=*/nullptr, /*auxprop_free=*/nullptr,
    &LookupUser,              const_cast<char*>(kAuxpropName),
    /*auxprop_store=*/nullptr,
};

int InitUsersPlugin(const sasl_utils_t* /*utils*/, int max_version, int* out_version,
                    sasl_auxprop_plug_t** plug, const char* /*plugname*/) {
  if (max_version < SASL_AUXPROP_PLUG_VERSION) return SASL_BADVERS;
  *out_version = SASL_AUXPROP_PLUG_VERSION;
  *plug = &users_plugin;
  return SASL_OK;
}

// Options Cyrus would read from /etc/sasl2/<app>.conf: only our users
// plugin, only DIGEST-MD5.
int GetOption(void* /*context*/, const char* /*plugin_name*/, const char* option,
              const char** result, unsigned* len) {
  if (option == nullptr || result == nullptr) return SASL_BADPARAM;
  const char* value = nullptr;
  if (std::strcmp(option, "auxprop_plugin") == 0) value = kAuxpropName;
  if (std::strcmp(option, "mech_list") == 0) value = kMechanism;
  if (value == nullptr) return SASL_FAIL;
  *result = value;
  if (len != nullptr) *len = static_cast<unsigned>(std::strlen(value));
  return SASL_OK;
}

// Cyrus's messages go to Synod's log at debug level: a failed client
// attempt is the connection's to report, once.
int LogMessage(void* /*context*/, int level, const char* message) {
  if (message != nullptr && level <= SASL_LOG_WARN) {
    base::Log(base::LogLevel::kDebug, "sasl: %s", message);
  }
  return SASL_OK;
}

// Cyrus takes every callback as int (*)(void); the cast goes through
// void (*)(), which function-pointer casts may use without a warning.
template <typename F>
int (*AsCallback(F* f))() {
  return reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(f));
}

const sasl_callback_t kCallbacks[] = {
    {SASL_CB_GETOPT, AsCallback(&GetOption), nullptr},
    {SASL_CB_LOG, AsCallback(&LogMessage), nullptr},
    {SASL_CB_LIST_END, nullptr, nullptr},
};

absl::Status CyrusError(absl::string_view what, int code, sasl_conn_t* conn) {
  return absl::InternalError(absl::StrCat("Cyrus SASL ", what, ": ",
                                          sasl_errstring(code, nullptr, nullptr),
                                          conn != nullptr ? " (" : "",
                                          conn != nullptr ? sasl_errdetail(conn) : "",
                                          conn != nullptr ? ")" : ""));
}

}  // namespace

absl::Status InitSaslServer() {
  static absl::Status* const status = [] {
    int rc = sasl_server_init(kCallbacks, "synod");
    if (rc != SASL_OK) return new absl::Status(CyrusError("sasl_server_init", rc, nullptr));
    rc = sasl_auxprop_add_plugin(kAuxpropName, &InitUsersPlugin);
    if (rc != SASL_OK) return new absl::Status(CyrusError("auxprop plugin", rc, nullptr));
    // Without the DIGEST-MD5 plugin every exchange would fail later, one
    // client at a time: say so at start.
    const char** mechs = sasl_global_listmech();
    bool digest = false;
    for (; mechs != nullptr && *mechs != nullptr; ++mechs) {
      digest = digest || std::strcmp(*mechs, kMechanism) == 0;
    }
    if (!digest) {
      return new absl::Status(absl::InternalError(
          "Cyrus SASL has no DIGEST-MD5 plugin (install libsasl2-modules)"));
    }
    return new absl::Status();
  }();
  return *status;
}

absl::StatusOr<std::unique_ptr<ZkSaslServer>> ZkSaslServer::Create(const SaslUsers* users) {
  if (absl::Status s = InitSaslServer(); !s.ok()) return s;
  sasl_conn_t* conn = nullptr;
  // SASL_SUCCESS_DATA: the token that completes the exchange carries
  // DIGEST-MD5's rspauth, and the client sends nothing after it (as
  // ZooKeeper's Java server and client do).
  int rc = sasl_server_new(kService, kServerName, /*user_realm=*/nullptr, /*iplocalport=*/nullptr,
                           /*ipremoteport=*/nullptr, kCallbacks, SASL_SUCCESS_DATA, &conn);
  if (rc != SASL_OK) {
    if (conn != nullptr) sasl_dispose(&conn);
    return CyrusError("sasl_server_new", rc, nullptr);
  }
  // Authentication only (qop "auth"): ZooKeeper sends its packets unwrapped.
  sasl_security_properties_t props{};
  props.min_ssf = 0;
  props.max_ssf = 0;
  props.maxbufsize = 0;
  props.security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS;
  rc = sasl_setprop(conn, SASL_SEC_PROPS, &props);
  if (rc != SASL_OK) {
    absl::Status s = CyrusError("sasl_setprop", rc, conn);
    sasl_dispose(&conn);
    return s;
  }
  return std::unique_ptr<ZkSaslServer>(new ZkSaslServer(conn, users));
}

ZkSaslServer::~ZkSaslServer() {
  sasl_conn_t* conn = conn_;
  sasl_dispose(&conn);
}

absl::StatusOr<ZkSaslServer::Step> ZkSaslServer::Evaluate(absl::string_view token) {
  if (finished_) return absl::FailedPreconditionError("the SASL exchange already ended");
  if (steps_ >= kMaxSaslSteps) {
    finished_ = true;
    return absl::FailedPreconditionError("too many SASL steps");
  }
  const bool first = steps_++ == 0;
  const char* out = nullptr;
  unsigned out_len = 0;
  int rc;
  {
    UsersScope scope(users_);
    const char* in = token.empty() ? nullptr : token.data();
    const auto in_len = static_cast<unsigned>(token.size());
    rc = first ? sasl_server_start(conn_, kMechanism, in, in_len, &out, &out_len)
               : sasl_server_step(conn_, in, in_len, &out, &out_len);
  }
  if (rc != SASL_OK && rc != SASL_CONTINUE) {
    finished_ = true;
    // Cyrus keeps wrong password and unknown user apart in its detail;
    // the client is told neither.
    return absl::UnauthenticatedError(
        absl::StrCat("SASL authentication failed: ", sasl_errstring(rc, nullptr, nullptr)));
  }
  Step step;
  if (out != nullptr) step.challenge.assign(out, out_len);
  if (rc == SASL_OK) {
    finished_ = true;
    const void* name = nullptr;
    if (int prop = sasl_getprop(conn_, SASL_USERNAME, &name); prop != SASL_OK || name == nullptr) {
      return CyrusError("sasl_getprop(SASL_USERNAME)", prop, conn_);
    }
    step.complete = true;
    step.user = std::string(WithoutRealm(static_cast<const char*>(name)));
  }
  return step;
}

}  // namespace synod::zk
