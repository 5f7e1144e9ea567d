// Cache projections (see kube_caches.hpp).
#include "webhook/kube_caches.hpp"

#include <algorithm>
#include <cmath>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/site.hpp"
#include "policy/workload.hpp"
#include "policy/workload_device_access.hpp"
#include "webhook/annotations.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/owner_link.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {
const json& meta_of(const json& o) {
  static const json kEmpty = json::object();
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : kEmpty;
}

Labels string_map(const json& meta, const char* key, std::string_view prefix = "") {
  Labels out;
  auto it = meta.find(key);
  if (it == meta.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string() && k.starts_with(prefix)) out[k] = v.get<std::string>();
  }
  return out;
}
}  // namespace

std::optional<Labels> project_namespace(const json& ns) {
  return string_map(meta_of(ns), "labels", "exportgate.io/");
}

std::optional<Labels> project_node(const json& node) {
  return string_map(meta_of(node), "labels");
}

namespace {

// Resource names that are never a device: whatever the policy, they carry no controlled TPP.
bool plain_resource(std::string_view name) {
  return name == "cpu" || name == "memory" || name == "ephemeral-storage" || name == "pods" ||
         name.starts_with("hugepages-");
}

bool asks_for_devices_in(const json& resources) {
  if (!resources.is_object()) return false;
  for (const char* key : {"requests", "limits"}) {
    auto it = resources.find(key);
    if (it == resources.end() || !it->is_object()) continue;
    for (const auto& [name, _] : it->items()) {
      if (!plain_resource(name)) return true;
    }
  }
  return false;
}

// A quantity the engine accepts (finite, non-negative): the only thing it checks of a resource
// that is not an accelerator.
bool valid_quantity(const json& v) {
  double q = 0;
  if (v.is_number()) {
    q = v.get<double>();
  } else if (v.is_string()) {
    try {
      q = policy::parse_quantity(v.get_ref<const std::string&>());
    } catch (const policy::ManifestError&) {
      return false;
    }
  } else {
    return false;
  }
  return q >= 0 && std::isfinite(q);
}

// `quantities` (requests, limits, overhead) less the resources no catalog can name (accelerator
// resources are domain-qualified) whose quantity is valid: the engine only validates those, so
// the charge is the same without them. Anything else is kept as it is.
json accelerator_quantities(const json& quantities) {
  if (!quantities.is_object()) return quantities;
  json out = json::object();
  for (const auto& [name, q] : quantities.items()) {
    if (name.find('/') == std::string::npos && valid_quantity(q)) continue;
    out[name] = q;
  }
  return out;
}

json accelerator_resources(const json& resources) {
  if (!resources.is_object()) return resources;
  json out = resources;
  for (const char* key : {"requests", "limits"}) {
    if (auto it = out.find(key); it != out.end()) *it = accelerator_quantities(*it);
  }
  return out;
}

// apiVersion, kind and the namespace of a basis: the engine reads the namespace too (a
// spec.deviceAccessExempt namespace is not charged for device access).
json basis_head(const json& pod) {
  json head = {{"apiVersion", pod.value("apiVersion", "v1")}, {"kind", pod.value("kind", "Pod")}};
  const json& meta = meta_of(pod);
  if (auto ns = meta.find("namespace"); ns != meta.end() && ns->is_string()) {
    head["metadata"] = {{"namespace", *ns}};
  }
  return head;
}

// What device access outside requests reads of a container (policy/workload_device_access):
// securityContext.privileged and NVIDIA_VISIBLE_DEVICES entries of env.
void keep_device_access(const json& container, json& kept) {
  if (auto sc = container.find("securityContext"); sc != container.end()) {
    if (!sc->is_object()) {
      kept["securityContext"] = *sc;
    } else if (auto p = sc->find("privileged"); p != sc->end()) {
      kept["securityContext"] = {{"privileged", *p}};
    }
  }
  auto env = container.find("env");
  if (env == container.end() || !env->is_array()) return;
  json visible = json::array();
  for (const json& e : *env) {
    auto name = e.is_object() ? e.find("name") : e.end();
    if (name != e.end() && *name == "NVIDIA_VISIBLE_DEVICES") visible.push_back(e);
  }
  if (!visible.empty()) kept["env"] = std::move(visible);
}

// The parts of a Pod the engine's charge reads, and whether any of them names a device (or
// anything this code does not recognise: kept, never silently dropped). Container names, images,
// env and the like are dropped, and so are plain quantities (see accelerator_quantities).
json charge_basis(const json& pod, bool& devices) {
  json basis = basis_head(pod);
  devices = false;
  auto spec_it = pod.find("spec");
  if (spec_it == pod.end() || !spec_it->is_object()) return basis;
  const json& spec = *spec_it;
  json out = json::object();
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
    auto it = spec.find(list);
    if (it == spec.end()) continue;
    if (!it->is_array()) {
      out[list] = *it;  // malformed: the engine reports it; keep it as it is
      devices = true;
      continue;
    }
    json kept = json::array();
    for (const json& c : *it) {
      if (!c.is_object()) {
        kept.push_back(c);  // malformed: as it is, so the engine reports it as before
        continue;
      }
      json k = json::object();
      if (auto r = c.find("resources"); r != c.end()) {
        k["resources"] = accelerator_resources(*r);
        devices |= asks_for_devices_in(*r);
      }
      if (auto f = c.find("restartPolicy"); f != c.end()) k["restartPolicy"] = *f;
      keep_device_access(c, k);
      kept.push_back(std::move(k));
    }
    out[list] = std::move(kept);
  }
  for (const char* field : {"nodeSelector", "affinity", "resourceClaims"}) {
    if (auto f = spec.find(field); f != spec.end()) out[field] = *f;
  }
  if (auto r = spec.find("resources"); r != spec.end()) {
    out["resources"] = accelerator_resources(*r);
    devices |= asks_for_devices_in(*r);
  }
  if (auto o = spec.find("overhead"); o != spec.end()) {
    out["overhead"] = accelerator_quantities(*o);
    if (o->is_object()) {
      for (const auto& [name, _] : o->items()) devices |= !plain_resource(name);
    }
  }
  if (auto c = spec.find("resourceClaims"); c != spec.end() && !c->empty()) devices = true;
  // hostPath volumes (device access when they reach /dev or /), by path only.
  if (auto v = spec.find("volumes"); v != spec.end() && v->is_array()) {
    json host_paths = json::array();
    for (const json& volume : *v) {
      auto h = volume.is_object() ? volume.find("hostPath") : volume.end();
      if (h != volume.end()) host_paths.push_back({{"hostPath", *h}});
    }
    if (!host_paths.empty()) out["volumes"] = std::move(host_paths);
  }
  // Device access makes a Pod worth keeping whatever this policy charges it: a reload may
  // control the model it reaches, or drop its namespace's exemption.
  devices |= policy::find_device_access(spec, "spec").has_value();
  basis["spec"] = std::move(out);
  return basis;
}

// What a charge came to: the TPP and the country it counts in, or that the engine could not
// read the spec.
struct Charge {
  double tpp = 0;
  std::array<char, 2> site{};
  bool unreadable = false;
  bool operator==(const Charge&) const = default;
};

Charge charge_of(const json& object, const policy::Policy& policy,
                 const std::vector<std::string>* available_models) {
  try {
    policy::ExtractOptions options;
    options.available_models = available_models;
    const auto demand = policy::extract_demand(object, policy, options);
    Charge c;
    c.tpp = policy::capped_tpp(demand);  // what the caps count: 3A090.a only
    if (policy.site_node_label) {
      const std::string site = policy::workload_site(policy, demand);
      if (site.size() == 2) c.site = {site[0], site[1]};
    }
    return c;
  } catch (const policy::ManifestError&) {
    Charge c;
    c.unreadable = true;
    return c;
  }
}

// The whole spec, for a Pod whose reduced basis does not charge as the Pod does.
json full_basis(const json& pod) {
  json basis = basis_head(pod);
  if (auto spec = pod.find("spec"); spec != pod.end()) basis["spec"] = *spec;
  return basis;
}

std::string encode(const json& basis) {
  std::string out;
  json::to_msgpack(basis, out);
  return out;
}

}  // namespace

StringPool& pod_strings() {
  static StringPool pool;
  return pool;
}

std::optional<PodInfo> project_pod(const json& pod, const policy::Policy& policy,
                                   const std::vector<std::string>* available_models) {
  const json& meta = meta_of(pod);
  PodInfo p;
  StringPool& strings = pod_strings();
  auto annotations = string_map(meta, "annotations", "exportgate.io/");
  if (auto it = annotations.find(kAdmissionUidAnnotation); it != annotations.end()) {
    p.admission_uid = CompactUid(it->second, strings);
  }
  bool devices = false;
  const json basis = charge_basis(pod, devices);
  // The Pod is charged from the whole object; the reduced basis is kept only if it charges the
  // same (it always should: a difference means the engine reads something charge_basis drops,
  // and then the whole spec is kept rather than a basis a reload would charge wrongly).
  const Charge full = charge_of(pod, policy, available_models);
  p.controlled_tpp = full.tpp;
  p.site = full.site;
  if (p.controlled_tpp <= 0 && p.admission_uid.empty() && !devices) return std::nullopt;
  p.key = object_key(pod);
  p.namespace_ = strings.intern(meta.value("namespace", ""));
  p.basis = strings.intern(
      charge_of(basis, policy, available_models) == full ? encode(basis) : encode(full_basis(pod)));
  p.policy_hash = strings.intern(policy.hash);
  if (const std::string link = controller_link(pod); !link.empty()) {
    p.owner = CompactUid(std::string_view(link).substr(link.find('/') + 1), strings);
  }
  const std::string phase = pod.value("status", json::object()).value("phase", "");
  p.finished = phase == "Succeeded" || phase == "Failed";
  if (auto d = meta.find("deletionTimestamp"); d != meta.end() && d->is_string()) {
    p.deletion = parse_time(d->get<std::string>());
  }
  return p;
}

json pod_basis(const PodInfo& pod) {
  if (pod.basis.empty()) return nullptr;
  return json::from_msgpack(pod.basis.str());
}

BasisCharge basis_charge(const Interned& basis, const policy::Policy& policy,
                         const std::vector<std::string>* available_models) {
  if (basis.empty()) return {};
  const Charge c = charge_of(json::from_msgpack(basis.str()), policy, available_models);
  return {c.tpp, c.site};
}

PodInfo recharge_pod(const PodInfo& pod, const policy::Policy& policy,
                     const std::vector<std::string>* available_models) {
  PodInfo p = pod;
  const BasisCharge c = basis_charge(pod.basis, policy, available_models);
  p.controlled_tpp = c.tpp;
  p.site = c.site;
  p.policy_hash = pod_strings().intern(policy.hash);
  return p;
}

std::vector<std::string> models_on_nodes(const std::vector<const Labels*>& nodes,
                                         const policy::Policy& policy) {
  std::set<std::string> ids;
  for (const Labels* labels : nodes) {
    for (const auto& [k, v] : *labels) {
      // An unknown value of a vendor's label is that vendor's most capable model.
      for (const auto* m : policy.catalog.models_for_node_label(k, v)) ids.insert(m->id);
    }
  }
  return {ids.begin(), ids.end()};
}

}  // namespace exportgate::webhook
