// The active policy, swapped atomically on reload. A policy that fails to load on reload leaves
// the last good one serving.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy.hpp"
#include "policy/tenancy.hpp"

namespace exportgate::webhook {

struct PolicySource {
  std::string file;                                        // "" = the embedded default preset
  std::vector<policy::NamespaceTenant> tenant_namespaces;  // --tenant-namespace NS=CC
  std::string in_force_on = {};  // --in-force-on DATE|today ("" = as the policy says)
};

class PolicyStore {
 public:
  explicit PolicyStore(PolicySource source);

  // Loads the policy from the source. Throws policy::PolicyError (or std::runtime_error for an
  // unreadable file) and leaves the current policy in place.
  void load();
  std::shared_ptr<const policy::Policy> current() const;
  const PolicySource& source() const { return source_; }

 private:
  PolicySource source_;
  mutable std::mutex mu_;
  std::shared_ptr<const policy::Policy> policy_;
};

}  // namespace exportgate::webhook
