// The accelerator catalog: models with their datasheet inputs, and the extended resources and
// node labels that identify them. TPP, performance density and the 3A090 class are computed from
// the inputs with the rule's formulas, never typed in per chip.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exportgate::policy {

enum class ExportClass { kNotControlled, k3A090b, k3A090a };

// "3A090.a", "3A090.b", "not controlled"
std::string_view to_string(ExportClass c);
// True for 3A090.a and 3A090.b.
inline bool is_controlled(ExportClass c) {
  return c != ExportClass::kNotControlled;
}

// TPP = 2 x MacTOPS x bit length. `dense_tops` is the datasheet dense (no sparsity) figure,
// which BIS equates with 2 x MacTOPS.
double total_processing_performance(double dense_tops, int bit_length);
// PD = TPP / applicable die area (mm^2); nullopt when the area is unknown (<= 0).
std::optional<double> performance_density(double tpp, double die_area_mm2);
// The Oct 2023 3A090 thresholds (TPP >= 4800, or TPP >= 1600 and PD >= 5.92 -> .a; the .b bands).
// Without a known PD only the TPP-only tests apply. Non-datacenter parts are controlled only at
// TPP >= 4800.
ExportClass classify(double tpp, std::optional<double> pd, bool datacenter);

// The class a part is charged as, and why when the inputs do not prove it.
struct Classification {
  ExportClass export_class = ExportClass::kNotControlled;
  std::string note;  // "" when the inputs prove the class
};
// Fail-closed classification. `pd` is exact, or a lower bound when `pd_lower_bound` (the die area
// is an upper bound, e.g. the 858 mm2 reticle), or unknown. A lower bound on PD proves only a
// lower bound on the class: a datacenter part with 1,600 <= TPP < 4,800 whose PD is not known
// exactly cannot be shown to be outside 3A090.a, so it is charged as 3A090.a unless `stated`
// (a class a named source states; never below what the inputs prove) says otherwise.
Classification classify_fail_closed(double tpp, std::optional<double> pd, bool pd_lower_bound,
                                    bool datacenter, std::optional<ExportClass> stated);
// "3A090.a" / "3A090.b" / "not controlled" -> the class; nullopt otherwise.
std::optional<ExportClass> parse_export_class(std::string_view text);

struct NodeLabel {
  std::string key;    // "nvidia.com/gpu.product"
  std::string value;  // "NVIDIA-H100-80GB-HBM3"
};

struct AcceleratorModel {
  std::string id;                     // stable id used in policies and annotations: "h100-sxm"
  std::string vendor;                 // "NVIDIA"
  std::string display_name;           // "NVIDIA H100 SXM"
  double dense_tops = 0;              // dense TOPS/TFLOPS at `bit_length` (= 2 x MacTOPS)
  int bit_length = 0;                 // bit length of the operation that gives the highest TPP
  double die_area_mm2 = 0;            // applicable die area; 0 = unknown
  bool die_area_upper_bound = false;  // die_area_mm2 is an upper bound (PD a lower bound)
  // Total DRAM (HBM/GDDR) bandwidth and chip-to-chip interconnect bandwidth (NVLink, Infinity
  // Fabric, ICI; bidirectional, per device), GB/s; 0 = unknown. Rules that select parts by
  // bandwidth (April 2025 H20/MI308 licence requirement, the January 2026 review band) read them,
  // and treat an unknown figure as the one that makes the rule stricter.
  double dram_bandwidth_gbs = 0;
  double interconnect_bandwidth_gbs = 0;
  // A class a named source states (cited in `source`), for parts whose area is not published:
  // used instead of the fail-closed presumption, never below what the inputs prove.
  std::optional<ExportClass> stated_class;
  bool datacenter = true;              // designed or marketed for data centres
  std::vector<std::string> resources;  // whole-device extended resources: "nvidia.com/gpu"
  std::vector<NodeLabel> node_labels;  // node label values that identify this model
  std::string source;                  // where the inputs come from, with uncertainty marks

  // Derived, filled by Catalog::finalize().
  double tpp = 0;
  std::optional<double> pd;
  ExportClass export_class = ExportClass::kNotControlled;
  std::string class_note;  // why the class is charged as it is when the inputs do not prove it
};

// A partition of a device, e.g. a MIG slice. It counts as `fraction` of its parent device.
struct PartitionProfile {
  std::string resource;                    // "nvidia.com/mig-1g.10gb"
  std::vector<std::string> parent_models;  // model ids that offer this profile
  double fraction = 1.0;                   // share of the parent's compute, e.g. 1/7
};

// How a resource name is treated (see docs/catalog.md, "Names the catalog does not know").
enum class ResourceClass {
  kNotAccelerator,      // cpu, memory, example.com/foo, or declared under the policy's ignore
  kKnown,               // a model's resource or a partition (".shared" renames included)
  kUnknownAccelerator,  // accelerator-like but unlisted: charged as the worst case
};

class Catalog {
 public:
  std::string as_of;  // ISO date the catalog's data was last reviewed ("" = not stated)
  std::vector<AcceleratorModel> models;
  std::vector<PartitionProfile> partitions;
  // Extended-resource prefixes that denote accelerators even when no model serves them
  // (e.g. "nvidia.com/mig-"): such a resource is an unknown accelerator (worst case).
  std::vector<std::string> accelerator_resource_prefixes;
  // What the policy's spec.ignore declares as no accelerator: exact resource names and node
  // label values. Checked before every heuristic; never a name the catalog lists.
  std::vector<std::string> ignored_resources;
  std::vector<NodeLabel> ignored_labels;

  // Computes tpp/pd/class of every model and validates the catalog (unique ids, denseTops > 0,
  // bitLength > 0, partitions: known parents, 0 < fraction <= 1). Throws PolicyError listing
  // every problem. Call after editing. Lookups scan the (small) vectors, so a copy stays valid.
  void finalize();

  const AcceleratorModel* find_model(std::string_view id) const;
  // Models whose node_labels contain (key, value); value match is case-insensitive.
  std::vector<const AcceleratorModel*> models_for_label(std::string_view key,
                                                        std::string_view value) const;
  // Models that can serve `resource` (whole devices or as the parent of a partition). For a
  // resource known only by an accelerator prefix (an unlisted MIG profile): the parents of every
  // partition under that prefix. Catalog order.
  std::vector<const AcceleratorModel*> models_for_resource(std::string_view resource) const;
  // The partition `resource` names; "<partition>.shared" (a time-sliced or MPS rename) counts as
  // the partition itself.
  const PartitionProfile* find_partition(std::string_view resource) const;
  // True when `resource` names an accelerator, known or unknown (see ResourceClass).
  bool is_accelerator_resource(std::string_view resource) const;
  ResourceClass classify_resource(std::string_view resource) const;
  // The models an unknown accelerator-like resource could be: every model of the vendor whose
  // domain it carries (nvidia.com, gpu.intel.com -> Intel...), else the whole catalog.
  std::vector<const AcceleratorModel*> worst_case_models(std::string_view resource) const;
  // The vendor `worst_case_models` chose ("" = the whole catalog).
  std::string vendor_of_resource(std::string_view resource) const;

  // True when some model is identified by node label `key`.
  bool is_accelerator_label(std::string_view key) const;
  bool is_ignored_label(std::string_view key, std::string_view value) const;
  // The vendor of label `key` when every model identified by it has one vendor ("" otherwise,
  // e.g. node.kubernetes.io/instance-type).
  std::string vendor_of_label(std::string_view key) const;
  // Models a node with label key=value may carry, for the cluster inventory: the listed models;
  // for a value the catalog does not know on a vendor's key (nvidia.com/gpu.product), that
  // vendor's most capable model; nothing for ignored values and multi-vendor keys.
  std::vector<const AcceleratorModel*> models_for_node_label(std::string_view key,
                                                             std::string_view value) const;
  // The most capable model of `vendor` ("" = of the whole catalog); null for an empty catalog.
  const AcceleratorModel* most_capable_of_vendor(std::string_view vendor) const;
};

// The catalog compiled into the binary (policy/presets/catalog.yaml), finalized.
const Catalog& builtin_catalog();

}  // namespace exportgate::policy
