// Built-in DRA driver mappings. Attribute names were checked against the drivers' sources:
// NVIDIA k8s-dra-driver-gpu (cmd/gpu-kubelet-plugin: "type" gpu|mig|vfio, "productName" from NVML
// e.g. "NVIDIA H100 80GB HBM3", "profile" of a MIG device e.g. "1g.10gb", "architecture"); AMD and
// Intel from their published DeviceClasses and examples ("type", "productName"; "model").
#include "policy/dra_catalog.hpp"

#include <algorithm>

namespace exportgate::policy {

namespace {

// Lower case, with spaces and underscores as '-': "NVIDIA H100 80GB HBM3" and the GPU operator's
// node label "NVIDIA-H100-80GB-HBM3" compare equal.
std::string normalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ' ' || c == '_') {
      out += '-';
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

const std::vector<DraDriverMapping>& dra_drivers() {
  static const std::vector<DraDriverMapping> drivers = {
      {"gpu.nvidia.com",
       "nvidia.com/gpu",
       {"productName"},
       "type",
       {"gpu", "vfio"},
       {"mig"},
       "profile",
       "nvidia.com/mig-"},
      // Partitions of AMD and Intel devices have no catalog fraction: charged as whole devices.
      {"gpu.amd.com", "amd.com/gpu", {"productName"}, "type", {}, {}, "", ""},
      {"gpu.intel.com", "intel.com/gpu", {"model"}, "", {}, {}, "", ""},
  };
  return drivers;
}

const DraDriverMapping* find_dra_driver(std::string_view driver) {
  for (const auto& d : dra_drivers()) {
    if (d.driver == driver) return &d;
  }
  return nullptr;
}

std::vector<const AcceleratorModel*> dra_driver_models(const Catalog& catalog,
                                                       const DraDriverMapping& driver) {
  std::vector<const AcceleratorModel*> out;
  for (const auto& m : catalog.models) {
    if (std::find(m.resources.begin(), m.resources.end(), driver.resource) != m.resources.end()) {
      out.push_back(&m);
    }
  }
  return out;
}

std::vector<const AcceleratorModel*> dra_models_named(const Catalog& catalog,
                                                      const DraDriverMapping& driver,
                                                      std::string_view value) {
  const std::string want = normalize(value);
  std::vector<const AcceleratorModel*> out;
  if (want.empty()) return out;
  for (const auto* m : dra_driver_models(catalog, driver)) {
    bool named = normalize(m->display_name) == want || normalize(m->id) == want;
    for (const auto& l : m->node_labels) named = named || normalize(l.value) == want;
    if (named) out.push_back(m);
  }
  return out;
}

}  // namespace exportgate::policy
