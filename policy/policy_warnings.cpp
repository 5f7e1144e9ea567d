// Policy warnings (see policy_warnings.hpp).
#include "policy/policy_warnings.hpp"

namespace exportgate::policy {

namespace {
bool is_glob(const std::string& pattern) {
  return !pattern.empty() && pattern.back() == '*';
}
std::string stem(const std::string& pattern) {
  return pattern.substr(0, pattern.size() - 1);
}
}  // namespace

std::vector<std::string> policy_warnings(const Policy& policy) {
  std::vector<std::string> out;
  for (const auto& pattern : policy.exempt_namespaces) {
    if (!is_glob(pattern)) continue;
    out.push_back("spec.exemptions.namespaces: \"" + pattern +
                  "\" is a glob: anyone who can create a namespace whose name starts with \"" +
                  stem(pattern) +
                  "\" gets it exempt from every check; list the namespaces by their exact names");
  }
  for (const auto& t : policy.tenants) {
    for (const auto& pattern : t.namespaces) {
      if (!is_glob(pattern)) continue;
      out.push_back("spec.tenants[" + t.name + "].namespaces: \"" + pattern +
                    "\" is a glob: anyone who can create a namespace whose name starts with \"" +
                    stem(pattern) + "\" joins tenant \"" + t.name + "\" (" + t.jurisdiction +
                    ", its authorisation and cap); list exact names, or label the namespaces "
                    "exportgate.io/tenant=" +
                    t.name);
    }
  }
  return out;
}

}  // namespace exportgate::policy
