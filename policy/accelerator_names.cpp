// The accelerator-name heuristic: vendor domains and name tokens (see accelerator_names.hpp).
#include "policy/accelerator_names.hpp"

#include <array>
#include <cctype>
#include <string>

namespace exportgate::policy {
namespace {

// Domains whose device plugins advertise accelerators only (GPUs, their partitions, their
// time-sliced and vGPU renames, passthrough devices).
constexpr std::array<std::string_view, 3> kAcceleratorDomains = {"nvidia.com", "amd.com",
                                                                 "habana.ai"};
// A token starting or ending with one of these is accelerator-like: gpu0, vgpu, neuroncore,
// accelerator, tpus, mlu370.
constexpr std::array<std::string_view, 11> kWords = {
    "gpu", "tpu", "npu", "xpu", "ipu", "neuron", "accel", "gaudi", "ascend", "mlu", "dcu"};

bool reserved_domain(std::string_view domain) {
  for (std::string_view reserved : {"kubernetes.io", "k8s.io"}) {
    if (domain == reserved) return true;
    if (domain.size() > reserved.size() && domain.ends_with(reserved) &&
        domain[domain.size() - reserved.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

bool accelerator_token(std::string_view token) {
  if (token == "mig") return true;  // MIG profiles: mig-1g.10gb (not "migration")
  for (std::string_view w : kWords) {
    if (token.starts_with(w) || token.ends_with(w)) return true;
  }
  return false;
}

}  // namespace

std::string_view registrable_domain(std::string_view resource) {
  const size_t slash = resource.find('/');
  if (slash == std::string_view::npos) return {};
  std::string_view domain = resource.substr(0, slash);
  const size_t last = domain.rfind('.');
  if (last == std::string_view::npos || last == 0) return domain;
  const size_t before = domain.rfind('.', last - 1);
  return before == std::string_view::npos ? domain : domain.substr(before + 1);
}

bool looks_like_accelerator(std::string_view resource) {
  const size_t slash = resource.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  const std::string_view domain = resource.substr(0, slash);
  if (reserved_domain(domain)) return false;
  const std::string_view registrable = registrable_domain(resource);
  for (std::string_view d : kAcceleratorDomains) {
    if (registrable == d) return true;
  }
  // Tokens of the whole name, lower-cased, split at anything but letters and digits.
  std::string token;
  for (size_t i = 0; i <= resource.size(); ++i) {
    const unsigned char c = i < resource.size() ? static_cast<unsigned char>(resource[i]) : 0;
    if (std::isalnum(c)) {
      token += static_cast<char>(std::tolower(c));
      continue;
    }
    if (!token.empty() && accelerator_token(token)) return true;
    token.clear();
  }
  return false;
}

}  // namespace exportgate::policy
