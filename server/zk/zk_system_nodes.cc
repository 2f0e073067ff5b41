#include "server/zk/zk_system_nodes.h"

#include <algorithm>
#include <array>
#include <string>

#include "storage/acl.h"
#include "storage/path.h"

namespace synod::zk {
namespace {

constexpr std::string_view kRoot = storage::kZooKeeperSubtree;

struct SystemNode {
  std::string_view path;
  uint32_t perms;
  std::array<std::string_view, 2> children;  // empty names are none
};

// ZooKeeper 3.8's DataTree makes these three at start.
constexpr std::array<SystemNode, 3> kNodes = {{
    {"/zookeeper", storage::kPermAll, {"config", "quota"}},
    {"/zookeeper/config", storage::kPermRead, {}},
    {"/zookeeper/quota", storage::kPermAll, {}},
}};

const SystemNode* Find(std::string_view path) {
  for (const SystemNode& n : kNodes) {
    if (n.path == path) return &n;
  }
  return nullptr;
}

v1::Stat StatOf(const SystemNode& n) {
  v1::Stat stat;
  stat.set_num_children(
      std::count_if(n.children.begin(), n.children.end(), [](std::string_view c) { return !c.empty(); }));
  return stat;
}

std::string ParentOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : std::string(path.substr(0, slash));
}

bool IsSequential(v1::CreateMode mode) {
  return mode == v1::PERSISTENT_SEQUENTIAL || mode == v1::EPHEMERAL_SEQUENTIAL ||
         mode == v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
}

// A sequential create's suffix has no '/': its final path is in the subtree
// when the path it names is, except "/zookeeper" + suffix, a sibling.
bool CreateNamesSubtree(const v1::CreateOp& c) {
  return IsSystemPath(c.path()) && !(IsSequential(c.mode()) && c.path() == kRoot);
}

// The code of one multi op (or single write); OK for an op that does not
// name the subtree or that passes (a check).
v1::ErrorCode CodeOf(const v1::Op& op) {
  switch (op.op_case()) {
    case v1::Op::kCreate: {
      const v1::CreateOp& c = op.create();
      if (!CreateNamesSubtree(c)) return v1::OK;
      const std::string path = IsSequential(c.mode()) ? c.path() + "0000000000" : c.path();
      if (Find(path) != nullptr) return v1::NODE_EXISTS;
      return Find(ParentOf(path)) != nullptr ? v1::PERMISSION_DENIED : v1::NO_NODE;
    }
    case v1::Op::kSet:
      if (!IsSystemPath(op.set().path())) return v1::OK;
      return Find(op.set().path()) != nullptr ? v1::PERMISSION_DENIED : v1::NO_NODE;
    case v1::Op::kDelete:
      if (!IsSystemPath(op.delete_().path())) return v1::OK;
      if (op.delete_().path() == kRoot) return v1::NOT_EMPTY;
      return Find(op.delete_().path()) != nullptr ? v1::PERMISSION_DENIED : v1::NO_NODE;
    case v1::Op::kSetAcl:
      if (!IsSystemPath(op.set_acl().path())) return v1::OK;
      return Find(op.set_acl().path()) != nullptr ? v1::PERMISSION_DENIED : v1::NO_NODE;
    case v1::Op::kCheck: {
      const v1::CheckOp& c = op.check();
      if (!IsSystemPath(c.path())) return v1::OK;
      if (Find(c.path()) == nullptr) return v1::NO_NODE;
      const bool any = !c.has_expected_version() || c.expected_version() == -1;
      return any || c.expected_version() == 0 ? v1::OK : v1::BAD_VERSION;
    }
    default:
      return v1::OK;
  }
}

std::string_view PathOf(const v1::Op& op) {
  switch (op.op_case()) {
    case v1::Op::kCreate:
      return op.create().path();
    case v1::Op::kSet:
      return op.set().path();
    case v1::Op::kDelete:
      return op.delete_().path();
    case v1::Op::kSetAcl:
      return op.set_acl().path();
    case v1::Op::kCheck:
      return op.check().path();
    default:
      return "";
  }
}

bool NamesSubtree(const v1::Op& op) {
  return op.has_create() ? CreateNamesSubtree(op.create()) : IsSystemPath(PathOf(op));
}

// A multi that names the subtree: answered here unless split (see the
// header). False if it does not name the subtree.
bool AnswerMulti(const v1::MultiRequest& multi, v1::MultiResponse* out) {
  int failed = -1;
  bool names = false;
  bool others = false;
  for (int i = 0; i < multi.ops_size(); ++i) {
    if (!NamesSubtree(multi.ops(i))) {
      others = true;
      continue;
    }
    names = true;
    if (failed < 0 && CodeOf(multi.ops(i)) != v1::OK) failed = i;
  }
  if (!names || (failed < 0 && others)) return false;
  for (int i = 0; i < multi.ops_size(); ++i) {
    v1::OpResult* r = out->add_results();
    if (failed < 0) {
      r->set_code(v1::OK);
    } else if (i == failed) {
      r->set_code(CodeOf(multi.ops(i)));
    } else {
      r->set_code(i < failed ? v1::ROLLED_BACK : v1::RUNTIME_INCONSISTENCY);
    }
  }
  out->mutable_header()->set_code(failed < 0 ? v1::OK : CodeOf(multi.ops(failed)));
  return true;
}

v1::Acl Entry(uint32_t perms) {
  v1::Acl acl;
  acl.set_scheme("world");
  acl.set_id("anyone");
  acl.set_perms(perms);
  return acl;
}

// Sets `header` and says whether `path` names a system node; a path under
// /zookeeper that is none is NO_NODE.
const SystemNode* Read(std::string_view path, uint64_t revision, v1::ResponseHeader* header) {
  header->set_revision(revision);
  const SystemNode* n = Find(path);
  header->set_code(n != nullptr ? v1::OK : v1::NO_NODE);
  return n;
}

}  // namespace

bool IsSystemPath(std::string_view path) {
  return storage::InSubtree(path, storage::kZooKeeperSubtree);
}

bool IsSystemNode(std::string_view path) { return Find(path) != nullptr; }

int64_t SystemDescendants(std::string_view path) {
  if (path == "/") return static_cast<int64_t>(kNodes.size());
  if (path == kRoot) return static_cast<int64_t>(kNodes.size()) - 1;
  return 0;
}

bool AnswerSystemCall(const v1::PipelineCall& call, uint64_t revision, v1::PipelineReply* reply) {
  v1::ResponseHeader* header = nullptr;
  v1::Op write;
  switch (call.request_case()) {
    case v1::PipelineCall::kGet: {
      if (!IsSystemPath(call.get().path())) return false;
      v1::GetResponse* get = reply->mutable_get();
      if (const SystemNode* n = Read(call.get().path(), revision, get->mutable_header())) {
        *get->mutable_stat() = StatOf(*n);
      }
      return true;
    }
    case v1::PipelineCall::kExists: {
      if (!IsSystemPath(call.exists().path())) return false;
      v1::ExistsResponse* exists = reply->mutable_exists();
      const SystemNode* n = Read(call.exists().path(), revision, exists->mutable_header());
      // exists answers OK either way; whether the node is there is its flag.
      exists->mutable_header()->set_code(v1::OK);
      exists->set_exists(n != nullptr);
      if (n != nullptr) *exists->mutable_stat() = StatOf(*n);
      return true;
    }
    case v1::PipelineCall::kGetChildren: {
      if (!IsSystemPath(call.get_children().path())) return false;
      v1::GetChildrenResponse* list = reply->mutable_get_children();
      if (const SystemNode* n = Read(call.get_children().path(), revision, list->mutable_header())) {
        *list->mutable_stat() = StatOf(*n);
        for (std::string_view child : n->children) {
          if (child.empty()) continue;
          list->add_children(std::string(child));
          if (call.get_children().include_stat()) {
            *list->add_child_stats() = StatOf(*Find(std::string(n->path) + "/" + std::string(child)));
          }
        }
      }
      return true;
    }
    case v1::PipelineCall::kGetAcl: {
      if (!IsSystemPath(call.get_acl().path())) return false;
      v1::GetAclResponse* acl = reply->mutable_get_acl();
      if (const SystemNode* n = Read(call.get_acl().path(), revision, acl->mutable_header())) {
        *acl->add_acl() = Entry(n->perms);
        *acl->mutable_stat() = StatOf(*n);
      }
      return true;
    }
    // A single write: the code its op would get in a multi.
    case v1::PipelineCall::kCreate:
      if (!CreateNamesSubtree(call.create().op())) return false;
      *write.mutable_create() = call.create().op();
      header = reply->mutable_create()->mutable_header();
      break;
    case v1::PipelineCall::kSet:
      if (!IsSystemPath(call.set().op().path())) return false;
      *write.mutable_set() = call.set().op();
      header = reply->mutable_set()->mutable_header();
      break;
    case v1::PipelineCall::kDelete:
      if (!IsSystemPath(call.delete_().op().path())) return false;
      *write.mutable_delete_() = call.delete_().op();
      header = reply->mutable_delete_()->mutable_header();
      break;
    case v1::PipelineCall::kSetAcl:
      if (!IsSystemPath(call.set_acl().op().path())) return false;
      *write.mutable_set_acl() = call.set_acl().op();
      header = reply->mutable_set_acl()->mutable_header();
      break;
    case v1::PipelineCall::kMulti:
      if (!AnswerMulti(call.multi(), reply->mutable_multi())) {
        reply->clear_multi();
        return false;
      }
      header = reply->mutable_multi()->mutable_header();
      break;
    default:
      return false;
  }
  if (write.op_case() != v1::Op::OP_NOT_SET) header->set_code(CodeOf(write));
  header->set_revision(revision);
  return true;
}

bool SplitSystemChecks(const v1::PipelineCall& call, SplitMulti* split) {
  if (!call.has_multi()) return false;
  const v1::MultiRequest& multi = call.multi();
  bool others = false;
  std::vector<int> checks;
  for (int i = 0; i < multi.ops_size(); ++i) {
    if (!NamesSubtree(multi.ops(i))) {
      others = true;
    } else if (multi.ops(i).has_check() && CodeOf(multi.ops(i)) == v1::OK) {
      checks.push_back(i);
    } else {
      return false;  // a failing op: AnswerSystemCall answers the multi
    }
  }
  if (checks.empty() || !others) return false;
  split->forward = call;
  v1::MultiRequest* rest = split->forward.mutable_multi();
  rest->clear_ops();
  size_t next = 0;
  for (int i = 0; i < multi.ops_size(); ++i) {
    if (next < checks.size() && checks[next] == i) {
      ++next;
      continue;
    }
    *rest->add_ops() = multi.ops(i);
  }
  split->check_at = std::move(checks);
  return true;
}

void MergeSystemChecks(const SplitMulti& split, v1::PipelineReply* reply) {
  v1::MultiResponse* m = reply->mutable_multi();
  // A multi refused as a whole (no per-op results) stays as it is.
  if (m->results_size() != split.forward.multi().ops_size()) return;
  const int total = m->results_size() + static_cast<int>(split.check_at.size());
  int failed = -1;  // the failing op's index in the whole multi
  google::protobuf::RepeatedPtrField<v1::OpResult> forwarded;
  forwarded.Swap(m->mutable_results());
  size_t next_check = 0;
  int next_forwarded = 0;
  for (int i = 0; i < total; ++i) {
    if (next_check < split.check_at.size() && split.check_at[next_check] == i) {
      ++next_check;
      m->add_results();  // its code is set below, once the failing op is known
      continue;
    }
    v1::OpResult* r = m->add_results();
    *r = forwarded.Get(next_forwarded++);
    if (r->code() != v1::OK && r->code() != v1::ROLLED_BACK &&
        r->code() != v1::RUNTIME_INCONSISTENCY) {
      failed = i;
    }
  }
  for (int at : split.check_at) {
    v1::OpResult* r = m->mutable_results(at);
    if (failed < 0) {
      r->set_code(m->header().code() == v1::OK ? v1::OK : v1::RUNTIME_INCONSISTENCY);
    } else {
      r->set_code(at < failed ? v1::ROLLED_BACK : v1::RUNTIME_INCONSISTENCY);
    }
  }
}

bool IsAboutRoot(const v1::PipelineCall& call) {
  switch (call.request_case()) {
    case v1::PipelineCall::kGet:
      return call.get().path() == "/";
    case v1::PipelineCall::kExists:
      return call.exists().path() == "/";
    case v1::PipelineCall::kGetAcl:
      return call.get_acl().path() == "/";
    case v1::PipelineCall::kGetChildren:
      return call.get_children().path() == "/";
    default:
      return false;
  }
}

void ShowSystemNodesUnderRoot(const v1::PipelineCall& call, v1::PipelineReply* reply) {
  auto add_one = [](v1::Stat* stat) { stat->set_num_children(stat->num_children() + 1); };
  switch (call.request_case()) {
    case v1::PipelineCall::kGet:
      if (call.get().path() == "/" && reply->get().header().code() == v1::OK) {
        add_one(reply->mutable_get()->mutable_stat());
      }
      break;
    case v1::PipelineCall::kExists:
      if (call.exists().path() == "/" && reply->exists().exists()) {
        add_one(reply->mutable_exists()->mutable_stat());
      }
      break;
    case v1::PipelineCall::kGetAcl:
      if (call.get_acl().path() == "/" && reply->get_acl().header().code() == v1::OK) {
        add_one(reply->mutable_get_acl()->mutable_stat());
      }
      break;
    case v1::PipelineCall::kGetChildren: {
      v1::GetChildrenResponse* list = reply->mutable_get_children();
      if (call.get_children().path() != "/" || list->header().code() != v1::OK) break;
      add_one(list->mutable_stat());
      if (!list->next_page_token().empty()) break;  // the name goes on the last page
      list->add_children(std::string(kRoot.substr(1)));
      if (call.get_children().include_stat()) *list->add_child_stats() = StatOf(kNodes[0]);
      break;
    }
    default:
      break;
  }
}

}  // namespace synod::zk
