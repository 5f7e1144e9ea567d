// How the devices a DRA driver publishes map onto the accelerator catalog: which attribute names
// the model, which attribute tells whole devices from partitions, and which catalog resource the
// driver's models serve. The models themselves (names, node labels, partitions and their
// fractions) come from the catalog, so a policy's catalog additions extend DRA too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/catalog.hpp"

namespace exportgate::policy {

struct DraDriverMapping {
  std::string_view driver;    // "gpu.nvidia.com"
  std::string_view resource;  // the catalog resource whose models this driver serves
  // Attributes whose value names the model ("NVIDIA H100 80GB HBM3"); matched against a model's
  // name, id and node-label values ignoring case, spaces and underscores ('-').
  std::vector<std::string_view> model_attributes;
  std::string_view type_attribute;                // "type"
  std::vector<std::string_view> whole_types;      // values for whole devices: "gpu", "vfio"
  std::vector<std::string_view> partition_types;  // values for partitions: "mig"
  std::string_view partition_attribute;           // "profile" ("1g.10gb")
  std::string_view partition_prefix;              // catalog partition = prefix + profile
};

// The built-in mappings (NVIDIA gpu.nvidia.com; AMD gpu.amd.com and Intel gpu.intel.com best
// effort). nullptr for a driver exportgate does not know.
const DraDriverMapping* find_dra_driver(std::string_view driver);
const std::vector<DraDriverMapping>& dra_drivers();

// Catalog models that serve the driver's resource.
std::vector<const AcceleratorModel*> dra_driver_models(const Catalog& catalog,
                                                       const DraDriverMapping& driver);
// Models of the driver whose name, id or a node-label value equals `value` (ignoring case and
// spaces vs. dashes).
std::vector<const AcceleratorModel*> dra_models_named(const Catalog& catalog,
                                                      const DraDriverMapping& driver,
                                                      std::string_view value);

}  // namespace exportgate::policy
