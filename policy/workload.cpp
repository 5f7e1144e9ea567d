// Workload -> demand: finds the pod templates of built-in kinds and of configured custom
// resources, multiplies per-pod accelerators by replicas, and sums TPP.
#include "policy/workload.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "policy/dra_charge.hpp"
#include "policy/errors.hpp"
#include "policy/json_member.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"
#include "policy/workload_paths.hpp"
#include "policy/workload_pod.hpp"

namespace exportgate::policy {

namespace {

using json = nlohmann::json;

// A replica-like count (replicas, parallelism): absent -> `fallback`; otherwise a non-negative
// integer that fits int64.
int64_t read_count(const json* v, std::string_view path, int64_t fallback) {
  if (!v) return fallback;
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw ManifestError(std::string(path) + ": " + std::to_string(u) + " is too large");
    }
    return static_cast<int64_t>(u);
  }
  if (v->is_number_integer()) {
    const auto i = v->get<int64_t>();
    if (i < 0)
      throw ManifestError(std::string(path) + ": must not be negative, got " + std::to_string(i));
    return i;
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d < 0) throw ManifestError(std::string(path) + ": must not be negative, got " + v->dump());
    if (d >= 9.2e18) throw ManifestError(std::string(path) + ": " + v->dump() + " is too large");
    if (d != std::floor(d)) {
      throw ManifestError(std::string(path) + ": expected an integer, got " + v->dump());
    }
    return static_cast<int64_t>(d);
  }
  // `replace`: YAML strings may hold invalid UTF-8, and a throwing dump() would escape as a
  // json::type_error instead of this ManifestError (found by tests/fuzz/fuzz_manifest).
  const std::string shown =
      v->is_string() ? " " + v->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : "";
  throw ManifestError(std::string(path) + ": expected an integer, got " +
                      std::string(v->type_name()) + shown);
}

int64_t multiply(int64_t a, int64_t b, std::string_view path) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) {
    throw ManifestError(std::string(path) + ": pod count overflows (" + std::to_string(a) + " x " +
                        std::to_string(b) + ")");
  }
  return out;
}

const json& require_object(const json& parent, std::string_view key, std::string_view path) {
  const json* v = json_member(parent, key);
  if (!v) throw ManifestError(std::string(path) + ": required, missing");
  if (!v->is_object())
    throw ManifestError(std::string(path) + ": expected an object, got " + v->type_name());
  return *v;
}

// The pod spec inside a PodTemplateSpec at `path`.
const json& template_spec(const json& pod_template, std::string_view path) {
  if (!pod_template.is_object()) {
    throw ManifestError(std::string(path) + ": expected a pod template object, got " +
                        pod_template.type_name());
  }
  return require_object(pod_template, "spec", std::string(path) + ".spec");
}

// The DRA claims of a pod (spec.resourceClaims): a template's claim is the pod's own and charged
// per pod; a named claim may be shared and holds its devices itself. A claim or template not known
// here is charged when it is admitted itself.
void add_pod_claims(WorkloadDemand& demand, PodSetDemand& set, const json& pod_spec,
                    std::string_view spec_path, const Policy& policy,
                    const ExtractOptions& options) {
  if (!pod_spec.is_object() || !pod_spec.contains("resourceClaims")) return;
  const auto claims = decode_pod_claims(pod_spec, spec_path);
  const DraContext* context = options.dra;
  const std::string& ns =
      demand.namespace_.empty() && context ? context->default_namespace : demand.namespace_;
  for (const DraPodClaim& ref : claims) {
    if (!ref.template_name.empty()) {
      const DraClaimTemplate* t = context ? context->find_template(ns, ref.template_name) : nullptr;
      if (!t) {
        demand.notes.push_back("ResourceClaimTemplate \"" + ref.template_name +
                               "\" is not known here: the pod's claim is charged when it is "
                               "created");
        continue;
      }
      for (auto& a : dra_spec_accelerators(t->spec, "ResourceClaimTemplate \"" + t->name + "\"",
                                           policy.catalog, context, demand.notes)) {
        set.accelerators.push_back(std::move(a));
      }
      continue;
    }
    const DraClaim* c = context ? context->find_claim(ns, ref.claim_name) : nullptr;
    if (!c) {
      demand.notes.push_back("ResourceClaim \"" + ref.claim_name +
                             "\" is not known here: it is charged when it is created");
      continue;
    }
    for (auto& a : dra_claim_accelerators(*c, policy.catalog, context, demand.notes)) {
      a.held_by_claim = true;
      set.accelerators.push_back(std::move(a));
    }
  }
}

// Bounded charge arithmetic: a total past `bound` (or not finite) is held at the bound and the
// demand marked out of range, so no later step (formatting, ledger sums, annotations) sees a
// value it cannot represent.
double saturate(double value, double bound, WorkloadDemand& demand) {
  if (value <= bound) return value;  // false for NaN
  demand.beyond_range = true;
  return bound;
}

void add_pod_set(WorkloadDemand& demand, std::string name, const json& pod_spec,
                 std::string_view spec_path, int64_t pods, const Policy& policy,
                 const ExtractOptions& options) {
  PodSetDemand set;
  set.name = std::move(name);
  set.pods = pods;
  set.accelerators = pod_accelerators(pod_spec, spec_path, policy, options);
  add_pod_claims(demand, set, pod_spec, spec_path, policy, options);
  // Where these pods may run, for the allocation of that country (spec.siteNodeLabel).
  if (policy.site_node_label && !set.accelerators.empty()) {
    add_placement(demand.placement, pod_placement(pod_spec, policy));
  }
  double controlled_per_pod = 0;
  double devices_per_pod = 0;
  for (auto& a : set.accelerators) {
    a.tpp_per_pod = saturate(a.tpp_per_pod, kMaxChargeTpp, demand);
    if (a.held_by_claim) {
      // Held by the shared claim, whatever the number of pods using it.
      if (is_controlled(a.export_class)) {
        demand.held_controlled_tpp =
            saturate(demand.held_controlled_tpp + a.tpp_per_pod, kMaxChargeTpp, demand);
      }
      demand.max_class = std::max(demand.max_class, a.export_class);
      continue;
    }
    set.tpp_per_pod = saturate(set.tpp_per_pod + a.tpp_per_pod, kMaxChargeTpp, demand);
    devices_per_pod += a.quantity * a.device_fraction;
    if (is_controlled(a.export_class)) controlled_per_pod += a.tpp_per_pod;
    demand.max_class = std::max(demand.max_class, a.export_class);
    if (!a.note.empty() &&
        std::find(demand.notes.begin(), demand.notes.end(), a.note) == demand.notes.end()) {
      demand.notes.push_back(a.note);
    }
  }
  if (__builtin_add_overflow(demand.total_pods, pods, &demand.total_pods)) {
    throw ManifestError("total pod count overflows");
  }
  const auto n = static_cast<double>(pods);
  demand.total_tpp = saturate(demand.total_tpp + set.tpp_per_pod * n, kMaxChargeTpp, demand);
  demand.controlled_tpp =
      saturate(demand.controlled_tpp + controlled_per_pod * n, kMaxChargeTpp, demand);
  demand.accelerator_count =
      saturate(demand.accelerator_count + devices_per_pod * n, kMaxChargeDevices, demand);
  demand.pod_sets.push_back(std::move(set));
}

std::string_view group_of(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

// Job-like spec (Job.spec, CronJob.spec.jobTemplate.spec): pods running at once =
// parallelism (default 1), or completions when fewer.
int64_t job_pods(const json& job_spec, std::string_view path) {
  const std::string p(path);
  int64_t pods = read_count(json_member(job_spec, "parallelism"), p + ".parallelism", 1);
  if (const json* completions = json_member(job_spec, "completions")) {
    pods = std::min(pods, read_count(completions, p + ".completions", 1));
  }
  return pods;
}

// Pod set name of a custom-resource template: its concrete path up to the last wildcard's
// choice, else without a trailing ".template"; without the leading "spec."
// ("replicatedJobs[0]", "pytorchReplicaSpecs.Worker", "headGroupSpec").
std::string pod_set_name(const PathMatch& match) {
  std::string name = match.concrete;
  if (match.wildcard_end > 0) {
    name.resize(match.wildcard_end);
  } else if (name.size() > 9 && name.compare(name.size() - 9, 9, ".template") == 0) {
    name.resize(name.size() - 9);
  }
  if (name.rfind("spec.", 0) == 0) name.erase(0, 5);
  return name;
}

std::vector<FieldPathStep> parse_kind_path(const WorkloadKind& kind, std::string_view what,
                                           std::string_view path) {
  std::string error;
  auto steps = parse_field_path(path, error);
  if (steps.empty()) {
    throw ManifestError("workload kind " + kind.kind + ": " + std::string(what) + ": " + error);
  }
  return steps;
}

// The count of one replica entry: the field, or the largest present of "a|b" alternatives;
// 1 when none is present.
int64_t replica_count(const json& object, const WorkloadKind& kind, const std::string& entry,
                      const std::vector<PathChoice>& choices, std::string& concrete) {
  int64_t best = -1;
  size_t begin = 0;
  while (true) {
    const size_t bar = entry.find('|', begin);
    const auto steps = parse_kind_path(
        kind, "replica path",
        std::string_view(entry).substr(begin, bar == std::string::npos ? bar : bar - begin));
    std::string where;
    if (const json* count = resolve_path(object, steps, choices, where)) {
      const int64_t n = read_count(count, where, 1);
      if (n > best) {
        best = n;
        concrete = where;
      }
    } else if (concrete.empty()) {
      concrete = where;
    }
    if (bar == std::string::npos) break;
    begin = bar + 1;
  }
  return best < 0 ? 1 : best;
}

// The pod spec a match stands for: the template's spec as it is, or one assembled from a
// PodSpec-like node, a container's resources, and further containers.
const json& assemble_spec(const json& object, const WorkloadKind& kind, const PodTemplatePath& tp,
                          const PathMatch& match, json& storage, std::string& spec_path) {
  const json* base = nullptr;
  switch (tp.form) {
    case PodTemplatePath::Form::kTemplate:
      base = &template_spec(*match.node, match.concrete);
      spec_path = match.concrete + ".spec";
      break;
    case PodTemplatePath::Form::kPodSpec:
      if (!match.node->is_object()) {
        throw ManifestError(match.concrete + ": expected an object, got " +
                            match.node->type_name());
      }
      base = match.node;
      spec_path = match.concrete;
      break;
    case PodTemplatePath::Form::kResources:
      storage = {{"containers", json::array({{{"name", "main"}, {"resources", *match.node}}})}};
      spec_path = match.concrete;
      break;
  }
  if (tp.form != PodTemplatePath::Form::kResources) {
    // A PodSpec-like node without containers of its own (a KServe predictor with only `model`,
    // an Argo steps template) gets an empty list; extra containers are appended.
    const bool needs_copy = tp.form == PodTemplatePath::Form::kPodSpec &&
                            (!tp.container_paths.empty() || !base->contains("containers"));
    if (!needs_copy && tp.container_paths.empty()) return *base;
    storage = *base;
    if (!storage.contains("containers") || storage["containers"].is_null()) {
      storage["containers"] = json::array();
    }
  }
  for (const auto& cp : tp.container_paths) {
    std::string where;
    const json* extra =
        resolve_path(object, parse_kind_path(kind, "container path", cp), match.choices, where);
    if (!extra) continue;
    json& containers = storage["containers"];
    if (!containers.is_array()) break;  // pod_accelerators reports it
    if (extra->is_array()) {
      for (const auto& c : *extra) containers.push_back(c);
    } else {
      containers.push_back(*extra);
    }
  }
  return storage;
}

void extract_custom(const json& object, const WorkloadKind& kind, WorkloadDemand& demand,
                    const Policy& policy, const ExtractOptions& options) {
  for (const PodTemplatePath& tp : kind.pod_templates) {
    const auto steps = parse_kind_path(kind, "template path", tp.template_path);
    for (const PathMatch& match : find_path_matches(object, steps)) {
      int64_t pods = 1;
      for (const auto& entry : tp.replica_paths) {
        std::string concrete;
        const int64_t n = replica_count(object, kind, entry, match.choices, concrete);
        pods = multiply(pods, n, concrete);
      }
      json storage;
      std::string spec_path;
      const json& spec = assemble_spec(object, kind, tp, match, storage, spec_path);
      // A PodSpec-like node that runs no container (an Argo steps or DAG template) is no pod.
      if (tp.form == PodTemplatePath::Form::kPodSpec && spec.is_object()) {
        const json* containers = json_member(spec, "containers");
        const json* inits = json_member(spec, "initContainers");
        if (containers && containers->is_array() && containers->empty() &&
            (!inits || (inits->is_array() && inits->empty()))) {
          continue;
        }
      }
      add_pod_set(demand, pod_set_name(match), spec, spec_path, pods, policy, options);
    }
  }
}

bool one_of(std::string_view v, std::initializer_list<std::string_view> options) {
  return std::find(options.begin(), options.end(), v) != options.end();
}

WorkloadDemand extract(const json& object, const Policy& policy, const ExtractOptions& options,
                       const int64_t* replicas_override) {
  if (!object.is_object()) {
    throw ManifestError(std::string("expected a Kubernetes object, got ") + object.type_name());
  }
  const json* api_version = json_member(object, "apiVersion");
  const json* kind_field = json_member(object, "kind");
  if (!api_version || !api_version->is_string())
    throw ManifestError("apiVersion: expected a string");
  if (!kind_field || !kind_field->is_string()) throw ManifestError("kind: expected a string");

  WorkloadDemand demand;
  demand.api_version = api_version->get<std::string>();
  demand.kind = kind_field->get<std::string>();
  if (const json* metadata = json_member(object, "metadata")) {
    if (!metadata->is_object()) throw ManifestError("metadata: expected an object");
    const json* name = json_member(*metadata, "name");
    const json* generate = json_member(*metadata, "generateName");
    const json* ns = json_member(*metadata, "namespace");
    if (name && name->is_string()) {
      demand.name = name->get<std::string>();
    } else if (generate && generate->is_string()) {
      demand.name = generate->get<std::string>() + "*";
    }
    if (ns && ns->is_string()) demand.namespace_ = ns->get<std::string>();
  }

  // The object's own namespace wins over the request's, for deviceAccessExempt.
  ExtractOptions scoped = options;
  if (!demand.namespace_.empty()) scoped.namespace_ = demand.namespace_;
  const ExtractOptions& opts = scoped;
  const std::string_view group = group_of(demand.api_version);
  const std::string_view kind = demand.kind;
  const bool core = group.empty();
  const bool apps = one_of(group, {"apps", "extensions"});
  const bool batch = group == "batch";

  // Kinds whose pods are spec.template x spec.replicas.
  const bool replicated = (apps && one_of(kind, {"Deployment", "ReplicaSet", "StatefulSet"})) ||
                          (core && kind == "ReplicationController");
  if (replicas_override && !replicated) {
    throw ManifestError(demand.kind + " has no scale subresource exportgate can evaluate");
  }

  if (group == kDraGroup && (kind == "ResourceClaim" || kind == "ResourceClaimTemplate")) {
    // A claim holds devices like one pod; a template is decided like the claims made from it.
    PodSetDemand set;
    const DraContext* context = opts.dra;
    if (kind == "ResourceClaim") {
      const DraClaim claim = decode_resource_claim(object);
      set.accelerators = dra_claim_accelerators(claim, policy.catalog, context, demand.notes);
    } else {
      const DraClaimTemplate t = decode_resource_claim_template(object);
      set.accelerators = dra_spec_accelerators(t.spec, "ResourceClaimTemplate \"" + t.name + "\"",
                                               policy.catalog, context, demand.notes);
      demand.claim_template = true;
    }
    demand.total_pods = 1;
    for (auto& a : set.accelerators) {
      a.tpp_per_pod = saturate(a.tpp_per_pod, kMaxChargeTpp, demand);
      set.tpp_per_pod = saturate(set.tpp_per_pod + a.tpp_per_pod, kMaxChargeTpp, demand);
      demand.total_tpp = saturate(demand.total_tpp + a.tpp_per_pod, kMaxChargeTpp, demand);
      demand.accelerator_count = saturate(demand.accelerator_count + a.quantity * a.device_fraction,
                                          kMaxChargeDevices, demand);
      if (is_controlled(a.export_class)) {
        demand.controlled_tpp =
            saturate(demand.controlled_tpp + a.tpp_per_pod, kMaxChargeTpp, demand);
      }
      demand.max_class = std::max(demand.max_class, a.export_class);
    }
    demand.pod_sets.push_back(std::move(set));
  } else if (core && kind == "Pod") {
    add_pod_set(demand, "", require_object(object, "spec", "spec"), "spec", 1, policy, opts);
  } else if (core && kind == "PodTemplate") {
    const json& tmpl = require_object(object, "template", "template");
    add_pod_set(demand, "", template_spec(tmpl, "template"), "template.spec", 1, policy, opts);
  } else if (replicated) {
    const json& spec = require_object(object, "spec", "spec");
    const int64_t replicas = replicas_override
                                 ? *replicas_override
                                 : read_count(json_member(spec, "replicas"), "spec.replicas", 1);
    const json& tmpl = require_object(spec, "template", "spec.template");
    add_pod_set(demand, "", template_spec(tmpl, "spec.template"), "spec.template.spec", replicas,
                policy, opts);
  } else if (apps && kind == "DaemonSet") {
    const json& spec = require_object(object, "spec", "spec");
    const json& tmpl = require_object(spec, "template", "spec.template");
    add_pod_set(demand, "", template_spec(tmpl, "spec.template"), "spec.template.spec", 1, policy,
                opts);
    if (demand.has_accelerators()) {
      demand.notes.push_back(
          "DaemonSet charged as one pod: it runs one per matching node, a count only known at "
          "scheduling; each pod is checked when it is created");
    }
  } else if (batch && kind == "Job") {
    const json& spec = require_object(object, "spec", "spec");
    const json& tmpl = require_object(spec, "template", "spec.template");
    add_pod_set(demand, "", template_spec(tmpl, "spec.template"), "spec.template.spec",
                job_pods(spec, "spec"), policy, opts);
  } else if (batch && kind == "CronJob") {
    const json& spec = require_object(object, "spec", "spec");
    const json& job = require_object(spec, "jobTemplate", "spec.jobTemplate");
    const json& job_spec = require_object(job, "spec", "spec.jobTemplate.spec");
    const json& tmpl = require_object(job_spec, "template", "spec.jobTemplate.spec.template");
    add_pod_set(demand, "", template_spec(tmpl, "spec.jobTemplate.spec.template"),
                "spec.jobTemplate.spec.template.spec", job_pods(job_spec, "spec.jobTemplate.spec"),
                policy, opts);
  } else {
    const auto it =
        std::find_if(policy.workload_kinds.begin(), policy.workload_kinds.end(),
                     [&](const WorkloadKind& k) { return k.kind == kind && k.group == group; });
    if (it == policy.workload_kinds.end()) {
      // ConfigMaps, Services, Scale objects (see scale_replicas)...: no pods to charge.
      demand.recognized = false;
      return demand;
    }
    extract_custom(object, *it, demand, policy, opts);
  }
  return demand;
}

std::string format_amount(double v) {
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

}  // namespace

WorkloadDemand extract_demand(const json& object, const Policy& policy,
                              const ExtractOptions& options) {
  return extract(object, policy, options, nullptr);
}

WorkloadDemand extract_demand_scaled(const json& object, int64_t replicas, const Policy& policy,
                                     const ExtractOptions& options) {
  if (replicas < 0) throw ManifestError("spec.replicas: must not be negative");
  return extract(object, policy, options, &replicas);
}

int64_t scale_replicas(const json& scale) {
  if (!scale.is_object()) throw ManifestError("Scale: expected an object");
  const json* spec = json_member(scale, "spec");
  if (!spec) return 0;
  if (!spec->is_object()) throw ManifestError("spec: expected an object");
  return read_count(json_member(*spec, "replicas"), "spec.replicas", 0);
}

std::string WorkloadDemand::describe_accelerators() const {
  std::string out;
  for (const PodSetDemand& set : pod_sets) {
    for (const AcceleratorDemand& a : set.accelerators) {
      if (!out.empty()) out += "; ";
      if (set.pods != 1 && !a.held_by_claim) out += std::to_string(set.pods) + " pods x ";
      out += format_amount(a.quantity) + " x ";
      if (a.device_fraction != 1) {
        out += a.resource + " (" + format_amount(a.device_fraction) + " of " + a.model_name +
               (a.pinned ? ", pinned)" : ", worst case)");
      } else {
        out += a.model_name + " (" + a.resource + (a.pinned ? ", pinned)" : ", worst case)");
      }
      if (a.held_by_claim) out += " [shared claim: charged once, to the claim]";
    }
  }
  return out.empty() ? "no accelerators" : out;
}

}  // namespace exportgate::policy
