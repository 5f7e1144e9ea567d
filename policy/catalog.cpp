// The rule's formulas (TPP, performance density, the Oct 2023 3A090 thresholds), catalog
// validation and lookups, and the catalog compiled into the binary.
#include "policy/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>

#include "policy/accelerator_names.hpp"
#include "policy/catalog_yaml.hpp"
#include "policy/embedded.hpp"
#include "policy/errors.hpp"

namespace exportgate::policy {
namespace {

// Thresholds of 3A090 as amended Oct 17 2023 (88 FR 73458); see docs/catalog.md.
constexpr double kTppA = 4800;      // .a on TPP alone
constexpr double kTppDense = 1600;  // .a with PD >= 5.92; .b with 3.2 <= PD < 5.92
constexpr double kTppB = 2400;      // .b band 2400 <= TPP < 4800 with 1.6 <= PD < 5.92
constexpr double kPdA = 5.92;
constexpr double kPdB = 3.2;
constexpr double kPdLow = 1.6;

// "value >= threshold", tolerating the rounding of a product or quotient of decimal inputs
// (e.g. 1307.4 x 16): a value within one part in 1e9 of a threshold has reached it.
bool at_least(double value, double threshold) {
  return value >= threshold * (1 - 1e-9);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

Diagnostic problem(std::string message) {
  Diagnostic d;
  d.message = std::move(message);
  return d;
}

}  // namespace

std::string_view to_string(ExportClass c) {
  switch (c) {
    case ExportClass::k3A090a:
      return "3A090.a";
    case ExportClass::k3A090b:
      return "3A090.b";
    case ExportClass::kNotControlled:
      break;
  }
  return "not controlled";
}

double total_processing_performance(double dense_tops, int bit_length) {
  // dense_tops already is 2 x MacTOPS, so TPP = 2 x MacTOPS x bit length = dense_tops x bits.
  return dense_tops * bit_length;
}

std::optional<double> performance_density(double tpp, double die_area_mm2) {
  if (die_area_mm2 <= 0) return std::nullopt;
  return tpp / die_area_mm2;
}

ExportClass classify(double tpp, std::optional<double> pd, bool datacenter) {
  if (at_least(tpp, kTppA)) return ExportClass::k3A090a;
  // Parts not designed or marketed for data centres are controlled only at TPP >= 4800.
  if (!datacenter || !pd) return ExportClass::kNotControlled;
  const double d = *pd;
  if (at_least(tpp, kTppDense) && at_least(d, kPdA)) return ExportClass::k3A090a;
  const bool below_a_density = !at_least(d, kPdA);
  if (at_least(tpp, kTppB) && at_least(d, kPdLow) && below_a_density) return ExportClass::k3A090b;
  if (at_least(tpp, kTppDense) && at_least(d, kPdB) && below_a_density) {
    return ExportClass::k3A090b;
  }
  return ExportClass::kNotControlled;
}

std::optional<ExportClass> parse_export_class(std::string_view text) {
  for (ExportClass c : {ExportClass::kNotControlled, ExportClass::k3A090b, ExportClass::k3A090a}) {
    if (to_string(c) == text) return c;
  }
  return std::nullopt;
}

Classification classify_fail_closed(double tpp, std::optional<double> pd, bool pd_lower_bound,
                                    bool datacenter, std::optional<ExportClass> stated) {
  // PD only raises the class (not controlled -> .b -> .a), so a lower bound on PD gives a lower
  // bound on the class.
  const ExportClass proven = classify(tpp, pd, datacenter);
  if (stated && *stated > proven) {
    return {*stated, std::string(to_string(*stated)) + " as its source states"};
  }
  const bool pd_exact = pd && !pd_lower_bound;
  if (proven == ExportClass::k3A090a || !datacenter || pd_exact || !at_least(tpp, kTppDense)) {
    return {proven, {}};
  }
  if (stated) {
    return {*stated, std::string(to_string(*stated)) + " as its source states (die area " +
                         (pd ? "only bounded" : "unknown") + ")"};
  }
  if (pd) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", *pd);
    return {ExportClass::k3A090a,
            std::string("charged as 3A090.a: the die area is only an upper bound, so PD >= ") +
                buf + " is a lower bound and PD >= 5.92 (3A090.a) cannot be ruled out"};
  }
  return {ExportClass::k3A090a,
          "charged as 3A090.a: the die area is unknown, and a datacenter part with 1,600 <= TPP "
          "< 4,800 is 3A090.a when PD >= 5.92, which cannot be ruled out"};
}

void Catalog::finalize() {
  std::vector<Diagnostic> problems;
  std::set<std::string> ids;
  std::set<std::string> whole_resources;
  for (auto& m : models) {
    const std::string who = "model \"" + m.id + "\"";
    if (m.id.empty()) problems.push_back(problem("a model has an empty id"));
    if (!ids.insert(m.id).second)
      problems.push_back(problem("duplicate model id \"" + m.id + "\""));
    if (!(m.dense_tops > 0))
      problems.push_back(problem(who + ": denseTops must be greater than 0"));
    if (m.bit_length <= 0) problems.push_back(problem(who + ": bitLength must be greater than 0"));
    if (!(m.die_area_mm2 >= 0)) {
      problems.push_back(problem(who + ": dieAreaMm2 must be 0 (unknown) or more"));
    }
    if (!(m.dram_bandwidth_gbs >= 0) || !(m.interconnect_bandwidth_gbs >= 0)) {
      problems.push_back(problem(who + ": bandwidths must be 0 (unknown) or more"));
    }
    for (const auto& r : m.resources) whole_resources.insert(r);
    m.tpp = total_processing_performance(m.dense_tops, m.bit_length);
    m.pd = performance_density(m.tpp, m.die_area_mm2);
    const bool lower_bound = m.die_area_upper_bound && m.pd.has_value();
    const ExportClass proven = classify(m.tpp, m.pd, m.datacenter);
    if (m.stated_class && *m.stated_class < proven) {
      problems.push_back(problem(who + ": statedClass " + std::string(to_string(*m.stated_class)) +
                                 " is below " + std::string(to_string(proven)) +
                                 ", which its inputs prove"));
    }
    const Classification c =
        classify_fail_closed(m.tpp, m.pd, lower_bound, m.datacenter, m.stated_class);
    m.export_class = c.export_class;
    m.class_note = c.note;
  }
  std::set<std::string> partition_resources;
  for (const auto& p : partitions) {
    const std::string who = "partition \"" + p.resource + "\"";
    if (!partition_resources.insert(p.resource).second) {
      problems.push_back(problem("duplicate " + who));
    }
    if (whole_resources.count(p.resource)) {
      problems.push_back(problem(who + " is also a whole-device resource of a model"));
    }
    if (!(p.fraction > 0 && p.fraction <= 1)) {
      problems.push_back(problem(who + ": fraction must be greater than 0 and at most 1"));
    }
    if (p.parent_models.empty()) problems.push_back(problem(who + " has no parent models"));
    for (const auto& parent : p.parent_models) {
      if (!ids.count(parent)) {
        problems.push_back(problem(who + ": unknown parent model \"" + parent + "\""));
      }
    }
  }
  if (!problems.empty()) throw PolicyError(std::move(problems));
}

const AcceleratorModel* Catalog::find_model(std::string_view id) const {
  for (const auto& m : models) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

std::vector<const AcceleratorModel*> Catalog::models_for_label(std::string_view key,
                                                               std::string_view value) const {
  std::vector<const AcceleratorModel*> out;
  for (const auto& m : models) {
    for (const auto& l : m.node_labels) {
      if (l.key == key && iequals(l.value, value)) {
        out.push_back(&m);
        break;
      }
    }
  }
  // GPU feature discovery appends "-SHARED" to the product of a time-sliced or MPS-shared GPU.
  constexpr std::string_view kShared = "-SHARED";
  if (out.empty() && value.size() > kShared.size() &&
      iequals(value.substr(value.size() - kShared.size()), kShared)) {
    return models_for_label(key, value.substr(0, value.size() - kShared.size()));
  }
  return out;
}

namespace {

// "<name>.shared": the NVIDIA device plugin's rename of a time-sliced or MPS-shared resource
// (sharing.*.renameByDefault). A replica gives the pod the whole device's compute, interleaved,
// so it is charged as the device it shares.
std::string_view unshared(std::string_view resource) {
  constexpr std::string_view kShared = ".shared";
  if (resource.size() > kShared.size() && resource.ends_with(kShared)) {
    return resource.substr(0, resource.size() - kShared.size());
  }
  return resource;
}

}  // namespace

std::vector<const AcceleratorModel*> Catalog::models_for_resource(std::string_view resource) const {
  std::vector<const AcceleratorModel*> out;
  const PartitionProfile* partition = find_partition(resource);
  for (const auto& m : models) {
    bool serves = contains(m.resources, resource) || contains(m.resources, unshared(resource));
    if (!serves && partition) serves = contains(partition->parent_models, m.id);
    if (serves) out.push_back(&m);
  }
  return out;
}

const PartitionProfile* Catalog::find_partition(std::string_view resource) const {
  for (const auto& p : partitions) {
    if (p.resource == resource) return &p;
  }
  const std::string_view base = unshared(resource);
  if (base.size() == resource.size()) return nullptr;
  for (const auto& p : partitions) {
    if (p.resource == base) return &p;
  }
  return nullptr;
}

ResourceClass Catalog::classify_resource(std::string_view resource) const {
  if (resource.find('/') == std::string_view::npos) return ResourceClass::kNotAccelerator;
  if (contains(ignored_resources, resource)) return ResourceClass::kNotAccelerator;
  if (find_partition(resource)) return ResourceClass::kKnown;
  for (const auto& m : models) {
    if (contains(m.resources, resource) || contains(m.resources, unshared(resource))) {
      return ResourceClass::kKnown;
    }
  }
  for (const auto& prefix : accelerator_resource_prefixes) {
    if (resource.starts_with(prefix)) return ResourceClass::kUnknownAccelerator;
  }
  return looks_like_accelerator(resource) ? ResourceClass::kUnknownAccelerator
                                          : ResourceClass::kNotAccelerator;
}

bool Catalog::is_accelerator_resource(std::string_view resource) const {
  return classify_resource(resource) != ResourceClass::kNotAccelerator;
}

std::string Catalog::vendor_of_resource(std::string_view resource) const {
  const std::string_view domain = registrable_domain(resource);
  if (domain.empty()) return {};
  for (const auto& m : models) {
    for (const auto& r : m.resources) {
      if (registrable_domain(r) == domain) return m.vendor;
    }
  }
  for (const auto& p : partitions) {
    if (registrable_domain(p.resource) != domain) continue;
    for (const auto& parent : p.parent_models) {
      if (const auto* m = find_model(parent)) return m->vendor;
    }
  }
  return {};
}

std::vector<const AcceleratorModel*> Catalog::worst_case_models(std::string_view resource) const {
  const std::string vendor = vendor_of_resource(resource);
  std::vector<const AcceleratorModel*> out;
  for (const auto& m : models) {
    if (vendor.empty() || m.vendor == vendor) out.push_back(&m);
  }
  return out;
}

const AcceleratorModel* Catalog::most_capable_of_vendor(std::string_view vendor) const {
  const AcceleratorModel* best = nullptr;
  for (const auto& m : models) {
    if (!vendor.empty() && m.vendor != vendor) continue;
    if (!best || m.tpp > best->tpp) best = &m;
  }
  return best;
}

bool Catalog::is_accelerator_label(std::string_view key) const {
  for (const auto& m : models) {
    for (const auto& l : m.node_labels) {
      if (l.key == key) return true;
    }
  }
  return false;
}

bool Catalog::is_ignored_label(std::string_view key, std::string_view value) const {
  for (const auto& l : ignored_labels) {
    if (l.key == key && iequals(l.value, value)) return true;
  }
  return false;
}

std::string Catalog::vendor_of_label(std::string_view key) const {
  std::string vendor;
  for (const auto& m : models) {
    for (const auto& l : m.node_labels) {
      if (l.key != key) continue;
      if (!vendor.empty() && vendor != m.vendor) return {};  // several vendors: no one vendor
      vendor = m.vendor;
      break;
    }
  }
  return vendor;
}

std::vector<const AcceleratorModel*> Catalog::models_for_node_label(std::string_view key,
                                                                    std::string_view value) const {
  auto out = models_for_label(key, value);
  if (!out.empty() || is_ignored_label(key, value)) return out;
  // An unknown value of a vendor's own key is that vendor's hardware, model unknown: worst
  // case. A multi-vendor key (instance types) says nothing: most such nodes have no
  // accelerator at all.
  const std::string vendor = vendor_of_label(key);
  if (vendor.empty()) return out;
  if (const auto* m = most_capable_of_vendor(vendor)) out.push_back(m);
  return out;
}

const Catalog& builtin_catalog() {
  // Parsed once; the embedded file is checked by the unit tests, so a failure here is a build bug
  // and surfaces as PolicyError rather than an empty catalog.
  static const Catalog catalog = [] {
    auto text = embedded_file("catalog");
    if (!text)
      throw PolicyError({problem("the embedded catalog (policy/presets/catalog.yaml) is missing")});
    return parse_catalog_yaml(*text, "policy/presets/catalog.yaml");
  }();
  return catalog;
}

}  // namespace exportgate::policy
