// Policy loading and hot swap (see policy_store.hpp).
#include "webhook/policy_store.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "policy/errors.hpp"
#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"

namespace exportgate::webhook {

PolicyStore::PolicyStore(PolicySource source) : source_(std::move(source)) {}

void PolicyStore::load() {
  policy::Policy p;
  policy::LoadOptions options;
  options.in_force_on = source_.in_force_on;
  if (source_.file.empty()) {
    p = policy::load_preset(policy::kDefaultPreset, options);
  } else {
    std::ifstream in(source_.file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read policy file " + source_.file);
    std::ostringstream text;
    text << in.rdbuf();
    p = policy::load_policy(text.str(), source_.file, options);
  }
  policy::add_namespace_tenants(p, source_.tenant_namespaces);
  auto next = std::make_shared<const policy::Policy>(std::move(p));
  std::lock_guard lock(mu_);
  policy_ = std::move(next);
}

std::shared_ptr<const policy::Policy> PolicyStore::current() const {
  std::lock_guard lock(mu_);
  return policy_;
}

}  // namespace exportgate::webhook
