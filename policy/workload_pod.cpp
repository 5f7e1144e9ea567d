// Per-pod accelerator demand: effective requests (max of init containers vs. containers plus
// sidecars, plus overhead, limits standing in for requests) and the model each is charged as.
#include "policy/workload_pod.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "policy/errors.hpp"
#include "policy/json_member.hpp"
#include "policy/workload_device_access.hpp"

namespace exportgate::policy {

namespace {

using json = nlohmann::json;

// Running sums of one accelerator resource across the containers of a pod.
struct ResourceSum {
  std::string_view name;  // points into the pod spec, which outlives the computation
  double containers = 0;  // sum over regular containers
  double sidecars = 0;    // sum over restartable init containers seen so far
  double init_max = 0;    // max over init containers of (own request + sidecars started before)
  double overhead = 0;
  bool pod_level_set = false;
  double pod_level = 0;
};

ResourceSum& sum_for(std::vector<ResourceSum>& sums, std::string_view name) {
  for (auto& s : sums) {
    if (s.name == name) return s;
  }
  sums.push_back(ResourceSum{name});
  return sums.back();
}

std::string join(std::string_view a, std::string_view b) {
  std::string out(a);
  if (!out.empty()) out += '.';
  out += b;
  return out;
}

template <class Where>
double read_quantity(const json& v, Where&& where) {
  double q = 0;
  if (v.is_string()) {
    try {
      q = parse_quantity(v.get_ref<const std::string&>());
    } catch (const ManifestError& e) {
      throw ManifestError(where() + ": " + e.what());
    }
  } else if (v.is_number()) {
    q = v.get<double>();
  } else {
    throw ManifestError(where() + ": expected a quantity, got " + v.type_name());
  }
  if (!(q >= 0) || !std::isfinite(q)) {
    throw ManifestError(where() + ": quantity must be a finite non-negative number");
  }
  return q;
}

// Extended resources are always domain-qualified ("nvidia.com/gpu"); cpu and memory never are,
// which keeps the catalog out of the CPU-only path.
bool is_accelerator(std::string_view name, const Catalog& catalog) {
  return name.find('/') != std::string_view::npos && catalog.is_accelerator_resource(name);
}

// A `resources`-shaped object (requests/limits). Calls fn(name, quantity) for each accelerator
// resource: its request, or its limit when the request is absent. Validates every quantity.
template <class Where, class Fn>
void for_each_accelerator(const json* resources, const Catalog& catalog, Where&& where, Fn&& fn) {
  if (!resources || resources->is_null()) return;
  if (!resources->is_object()) throw ManifestError(where() + ": expected an object");
  const json* requests = nullptr;
  const json* limits = nullptr;
  if (auto it = resources->find("requests"); it != resources->end() && !it->is_null()) {
    if (!it->is_object()) throw ManifestError(where() + ".requests: expected an object");
    requests = &*it;
  }
  if (auto it = resources->find("limits"); it != resources->end() && !it->is_null()) {
    if (!it->is_object()) throw ManifestError(where() + ".limits: expected an object");
    limits = &*it;
  }
  if (requests) {
    for (auto it = requests->begin(); it != requests->end(); ++it) {
      const double q =
          read_quantity(*it, [&] { return where() + ".requests[\"" + it.key() + "\"]"; });
      if (is_accelerator(it.key(), catalog)) fn(std::string_view(it.key()), q);
    }
  }
  if (limits) {
    for (auto it = limits->begin(); it != limits->end(); ++it) {
      const double q =
          read_quantity(*it, [&] { return where() + ".limits[\"" + it.key() + "\"]"; });
      if (requests && requests->contains(it.key())) continue;  // the request wins
      if (is_accelerator(it.key(), catalog)) fn(std::string_view(it.key()), q);
    }
  }
}

const json* array_member(const json& spec, std::string_view key, std::string_view spec_path) {
  const json* list = json_member(spec, key);
  if (list && !list->is_array()) {
    throw ManifestError(join(spec_path, key) + ": expected an array, got " + list->type_name());
  }
  return list;
}

void collect_sums(const json& spec, std::string_view spec_path, const Catalog& catalog,
                  std::vector<ResourceSum>& sums) {
  const json* containers = array_member(spec, "containers", spec_path);
  if (!containers) throw ManifestError(join(spec_path, "containers") + ": required, missing");
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& c = (*containers)[i];
    auto item = [&] { return join(spec_path, "containers") + "[" + std::to_string(i) + "]"; };
    auto where = [&] { return item() + ".resources"; };
    if (!c.is_object()) throw ManifestError(item() + ": expected an object");
    for_each_accelerator(
        json_member(c, "resources"), catalog, where,
        [&](std::string_view name, double q) { sum_for(sums, name).containers += q; });
  }
  if (const json* inits = array_member(spec, "initContainers", spec_path)) {
    for (size_t i = 0; i < inits->size(); ++i) {
      const json& c = (*inits)[i];
      auto item = [&] { return join(spec_path, "initContainers") + "[" + std::to_string(i) + "]"; };
      auto where = [&] { return item() + ".resources"; };
      if (!c.is_object()) throw ManifestError(item() + ": expected an object");
      const json* policy = json_member(c, "restartPolicy");
      const bool sidecar = policy && policy->is_string() && *policy == "Always";
      for_each_accelerator(json_member(c, "resources"), catalog, where,
                           [&](std::string_view name, double q) {
                             ResourceSum& s = sum_for(sums, name);
                             if (sidecar) {
                               // A sidecar keeps running: it adds to everything after it.
                               s.sidecars += q;
                               s.init_max = std::max(s.init_max, s.sidecars);
                             } else {
                               s.init_max = std::max(s.init_max, q + s.sidecars);
                             }
                           });
    }
  }
  // Pod-level resources, when set, replace the aggregate of the containers.
  for_each_accelerator(
      json_member(spec, "resources"), catalog, [&] { return join(spec_path, "resources"); },
      [&](std::string_view name, double q) {
        ResourceSum& s = sum_for(sums, name);
        s.pod_level_set = true;
        s.pod_level = q;
      });
  if (const json* overhead = json_member(spec, "overhead")) {
    if (!overhead->is_object())
      throw ManifestError(join(spec_path, "overhead") + ": expected an object");
    for (auto it = overhead->begin(); it != overhead->end(); ++it) {
      const double q = read_quantity(
          *it, [&] { return join(spec_path, "overhead") + "[\"" + it.key() + "\"]"; });
      if (is_accelerator(it.key(), catalog)) sum_for(sums, it.key()).overhead += q;
    }
  }
}

using ModelSet = std::vector<const AcceleratorModel*>;

void add_unique(ModelSet& into, const ModelSet& from) {
  for (const auto* m : from) {
    if (std::find(into.begin(), into.end(), m) == into.end()) into.push_back(m);
  }
}

ModelSet intersect(const ModelSet& a, const ModelSet& b) {
  ModelSet out;
  for (const auto* m : a) {
    if (std::find(b.begin(), b.end(), m) != b.end()) out.push_back(m);
  }
  return out;
}

// Models the pod's node selection restricts it to. `pinned` is false when node selection allows
// nodes whose model the catalog cannot tell (then every model is possible).
struct Pins {
  bool pinned = false;
  ModelSet models;
  // Accelerator label values the catalog does not know ("nvidia.com/gpu.product=X"): the node
  // may carry any model, so they undo any pin and the worst case is charged.
  std::vector<std::string> unknown;
};

// The models `key=value` identifies. A value the catalog does not know on a key that identifies
// accelerators is recorded in `pins.unknown` (the caller then pins nothing); an ignored value,
// or a key that identifies no accelerator (kubernetes.io/hostname), yields an empty set.
ModelSet label_models(const Catalog& catalog, std::string_view key, std::string_view value,
                      Pins& pins) {
  ModelSet models = catalog.models_for_label(key, value);
  if (models.empty() && catalog.is_accelerator_label(key) &&
      !catalog.is_ignored_label(key, value)) {
    std::string label(key);
    label += '=';
    label += value;
    if (std::find(pins.unknown.begin(), pins.unknown.end(), label) == pins.unknown.end()) {
      pins.unknown.push_back(std::move(label));
    }
  }
  return models;
}

Pins node_selector_pins(const json& spec, std::string_view spec_path, const Catalog& catalog) {
  Pins pins;
  const json* selector = json_member(spec, "nodeSelector");
  if (!selector) return pins;
  if (!selector->is_object())
    throw ManifestError(join(spec_path, "nodeSelector") + ": expected an object");
  ModelSet all;
  for (auto it = selector->begin(); it != selector->end(); ++it) {
    if (!it->is_string()) {
      throw ManifestError(join(spec_path, "nodeSelector") + "[\"" + it.key() +
                          "\"]: expected a string");
    }
    ModelSet models = label_models(catalog, it.key(), it->get_ref<const std::string&>(), pins);
    if (models.empty()) continue;
    // Labels of a nodeSelector must all hold: intersect.
    pins.models = pins.pinned ? intersect(pins.models, models) : models;
    pins.pinned = true;
    add_unique(all, models);
  }
  // Contradictory labels (no model has both) cannot be scheduled; charge the union, to be safe.
  if (pins.pinned && pins.models.empty()) pins.models = all;
  if (!pins.unknown.empty()) {
    pins.pinned = false;
    pins.models.clear();
  }
  return pins;
}

Pins affinity_pins(const json& spec, std::string_view spec_path, const Catalog& catalog) {
  Pins pins;
  const json* node = json_member(spec, "affinity");
  for (const char* key : {"nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"}) {
    if (!node) return pins;
    if (!node->is_object())
      throw ManifestError(join(spec_path, "affinity") + ": expected an object");
    node = json_member(*node, key);
  }
  if (!node) return pins;
  const std::string terms_path =
      join(spec_path, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
  if (!node->is_object()) throw ManifestError(terms_path + ": expected an object");
  const json* terms = json_member(*node, "nodeSelectorTerms");
  if (!terms) return pins;
  if (!terms->is_array()) throw ManifestError(terms_path + ".nodeSelectorTerms: expected an array");
  if (terms->empty()) return pins;
  // Terms are ORed: the pod is pinned only when every term pins it; the candidates are the union.
  ModelSet all_terms;
  bool unpinned_term = false;
  for (size_t t = 0; t < terms->size(); ++t) {
    const json& term = (*terms)[t];
    const std::string term_path = terms_path + ".nodeSelectorTerms[" + std::to_string(t) + "]";
    if (!term.is_object()) throw ManifestError(term_path + ": expected an object");
    const json* exprs = json_member(term, "matchExpressions");
    bool term_pinned = false;
    ModelSet term_models;
    if (exprs) {
      if (!exprs->is_array())
        throw ManifestError(term_path + ".matchExpressions: expected an array");
      for (size_t e = 0; e < exprs->size(); ++e) {
        const json& expr = (*exprs)[e];
        const std::string expr_path = term_path + ".matchExpressions[" + std::to_string(e) + "]";
        if (!expr.is_object()) throw ManifestError(expr_path + ": expected an object");
        const json* key = json_member(expr, "key");
        const json* op = json_member(expr, "operator");
        const json* values = json_member(expr, "values");
        if (!key || !key->is_string()) throw ManifestError(expr_path + ".key: expected a string");
        if (!op || !op->is_string())
          throw ManifestError(expr_path + ".operator: expected a string");
        if (values && !values->is_array())
          throw ManifestError(expr_path + ".values: expected an array");
        // NotIn, Exists, DoesNotExist, Gt, Lt never pin one model.
        if (*op != "In" || !values) continue;
        ModelSet models;
        for (size_t v = 0; v < values->size(); ++v) {
          const json& value = (*values)[v];
          if (!value.is_string()) {
            throw ManifestError(expr_path + ".values[" + std::to_string(v) +
                                "]: expected a string");
          }
          add_unique(models, label_models(catalog, key->get_ref<const std::string&>(),
                                          value.get_ref<const std::string&>(), pins));
        }
        if (models.empty()) continue;
        // Expressions of one term must all hold: intersect.
        term_models = term_pinned ? intersect(term_models, models) : models;
        term_pinned = true;
      }
    }
    // One term that pins nothing lets the pod anywhere; the later terms are still read, for
    // their unknown values.
    if (!term_pinned || term_models.empty()) unpinned_term = true;
    add_unique(all_terms, term_models);
  }
  // An unknown value anywhere (one `In` list mixing a known model with an unknown value) means
  // the pod may land on a node whose model the catalog cannot tell.
  pins.pinned = !unpinned_term && pins.unknown.empty();
  if (pins.pinned) pins.models = std::move(all_terms);
  return pins;
}

Pins node_pins(const json& spec, std::string_view spec_path, const Catalog& catalog) {
  Pins selector = node_selector_pins(spec, spec_path, catalog);
  Pins affinity = affinity_pins(spec, spec_path, catalog);
  if (!selector.unknown.empty() || !affinity.unknown.empty()) {
    Pins unknown;
    unknown.unknown = std::move(selector.unknown);
    for (auto& u : affinity.unknown) {
      if (std::find(unknown.unknown.begin(), unknown.unknown.end(), u) == unknown.unknown.end()) {
        unknown.unknown.push_back(std::move(u));
      }
    }
    return unknown;
  }
  if (!selector.pinned) return affinity;
  if (!affinity.pinned) return selector;
  // Both must hold; if they contradict each other, charge the union.
  Pins both{true, intersect(selector.models, affinity.models), {}};
  if (both.models.empty()) {
    both.models = selector.models;
    add_unique(both.models, affinity.models);
  }
  return both;
}

const AcceleratorModel* most_capable(const ModelSet& models) {
  const AcceleratorModel* best = nullptr;
  for (const auto* m : models) {
    if (!best || m->tpp > best->tpp) best = m;
  }
  return best;
}

bool is_available(const AcceleratorModel* m, const ExtractOptions& options) {
  const auto& ids = *options.available_models;
  return std::find(ids.begin(), ids.end(), m->id) != ids.end();
}

struct Charge {
  const AcceleratorModel* model = nullptr;
  bool pinned = false;  // node selection fixed the model
  std::string note;     // what the catalog did not know, and how to declare it
};

ModelSet restrict_to_available(ModelSet candidates, const ExtractOptions& options) {
  if (!options.available_models) return candidates;
  ModelSet available;
  for (const auto* m : candidates) {
    if (is_available(m, options)) available.push_back(m);
  }
  return available.empty() ? candidates : available;
}

std::string unknown_labels_note(const Pins& pins) {
  std::string note = "node label";
  note += pins.unknown.size() == 1 ? " " : "s ";
  for (size_t i = 0; i < pins.unknown.size(); ++i) {
    if (i) note += ", ";
    note += pins.unknown[i];
  }
  note += pins.unknown.size() == 1 ? " is" : " are";
  note +=
      " not in the accelerator catalog, so the worst case is charged; an admin declares a value "
      "under a model's nodeLabels in the policy's spec.catalog, or under spec.ignore.nodeLabels "
      "if it marks no accelerator";
  return note;
}

// The model a resource is charged as: the most capable its node selection allows; unpinned, the
// most capable that serves it (of those in the cluster, when known). A resource the catalog does
// not know, or a node label value it does not know, is charged as the most capable model of the
// vendor (of the whole catalog when the vendor is unclear), whatever the cluster holds: the
// gate fails closed on names it cannot interpret.
Charge charge_model(std::string_view resource, const Pins& pins, const Catalog& catalog,
                    const ExtractOptions& options) {
  Charge c;
  if (catalog.classify_resource(resource) == ResourceClass::kUnknownAccelerator) {
    const ModelSet candidates = catalog.worst_case_models(resource);
    c.model = most_capable(candidates);
    const std::string vendor = catalog.vendor_of_resource(resource);
    c.note = "resource \"" + std::string(resource) +
             "\" is not in the accelerator catalog, so it is charged as the most capable " +
             (vendor.empty() ? std::string("model of the catalog") : vendor + " model") +
             "; an admin declares it in the policy's spec.catalog (a model's resources, or a "
             "partition), or under spec.ignore.resources if it is no accelerator";
    return c;
  }
  const ModelSet serving = catalog.models_for_resource(resource);
  if (pins.pinned) {
    if (const auto* m = most_capable(intersect(pins.models, serving))) return {m, true, {}};
    // A label naming a model that cannot serve this resource proves nothing: worst case.
  }
  if (!pins.unknown.empty()) {
    c.model = most_capable(serving);
    c.note = unknown_labels_note(pins);
    return c;
  }
  c.model = most_capable(restrict_to_available(serving, options));
  return c;
}

// A pod's device access outside requests/limits, charged as an unpinned request for the devices
// it reaches (a whole node unless it lists devices), unless its namespace is deviceAccessExempt.
std::optional<DeviceAccess> device_access_of(const json& pod_spec, std::string_view spec_path,
                                             const Policy& policy, const ExtractOptions& options) {
  const auto& exempt = policy.device_access_exempt;
  if (!options.namespace_.empty() &&
      std::find(exempt.begin(), exempt.end(), options.namespace_) != exempt.end()) {
    return std::nullopt;
  }
  return find_device_access(pod_spec, spec_path);
}

std::optional<AcceleratorDemand> device_access_demand(const DeviceAccess& access_found,
                                                      const Policy& policy, const Pins& pins,
                                                      const ExtractOptions& options) {
  const DeviceAccess* access = &access_found;
  const Catalog& catalog = policy.catalog;
  ModelSet candidates;
  for (const auto& m : catalog.models) {
    if (access->vendor.empty() || m.vendor == access->vendor) candidates.push_back(&m);
  }
  if (candidates.empty()) {
    for (const auto& m : catalog.models) candidates.push_back(&m);
  }
  AcceleratorDemand d;
  const AcceleratorModel* model = nullptr;
  if (pins.pinned) {
    // The node's own model is what the access reaches.
    model = most_capable(pins.models);
    d.pinned = model != nullptr;
  }
  if (!model) {
    model = most_capable(pins.unknown.empty() ? restrict_to_available(candidates, options)
                                              : candidates);
  }
  if (!model) return std::nullopt;  // an empty catalog charges nothing
  d.resource = "device access";
  d.model_id = model->id;
  d.model_name = model->display_name;
  d.quantity = access->devices;
  d.device_fraction = 1;
  d.tpp_per_pod = d.quantity * model->tpp;
  d.export_class = model->export_class;
  d.note = access->what +
           ": device access outside requests/limits is charged as an unpinned accelerator request "
           "for the devices it reaches; an admin exempts a system agent's namespace with the "
           "policy's spec.deviceAccessExempt";
  return d;
}

}  // namespace

std::vector<AcceleratorDemand> pod_accelerators(const json& pod_spec, std::string_view spec_path,
                                                const Policy& policy,
                                                const ExtractOptions& options) {
  if (!pod_spec.is_object()) throw ManifestError(std::string(spec_path) + ": expected an object");
  const Catalog& catalog = policy.catalog;
  std::vector<ResourceSum> sums;  // stays unallocated for a pod without accelerators
  collect_sums(pod_spec, spec_path, catalog, sums);

  std::vector<AcceleratorDemand> out;
  // Device access is looked for in every pod: it needs no accelerator resource.
  const auto device_access = device_access_of(pod_spec, spec_path, policy, options);
  if (sums.empty() && !device_access) return out;
  const Pins pins = node_pins(pod_spec, spec_path, catalog);
  for (const ResourceSum& s : sums) {
    const double per_pod =
        (s.pod_level_set ? s.pod_level : std::max(s.init_max, s.containers + s.sidecars)) +
        s.overhead;
    if (per_pod <= 0) continue;
    auto [model, pinned, note] = charge_model(s.name, pins, catalog, options);
    if (!model) {
      throw ManifestError(std::string(spec_path) +
                          ": no model in the accelerator catalog can serve \"" +
                          std::string(s.name) + "\"");
    }
    AcceleratorDemand d;
    d.resource = std::string(s.name);
    d.model_id = model->id;
    d.model_name = model->display_name;
    d.quantity = per_pod;
    const PartitionProfile* partition = catalog.find_partition(s.name);
    d.device_fraction = partition ? partition->fraction : 1.0;
    d.tpp_per_pod = per_pod * d.device_fraction * model->tpp;
    d.export_class = model->export_class;
    d.pinned = pinned;
    d.note = std::move(note);
    out.push_back(std::move(d));
  }
  if (device_access) {
    if (auto d = device_access_demand(*device_access, policy, pins, options)) {
      out.push_back(std::move(*d));
    }
  }
  return out;
}

}  // namespace exportgate::policy
