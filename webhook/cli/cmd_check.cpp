// `exportgate check`: evaluates manifests offline with the same engine as the webhook.
// Within one run, the controlled TPP of admitted objects accumulates per tenant and per
// jurisdiction, so a file of many pods is checked against the caps together.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/dra_charge.hpp"
#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/jurisdictions.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"
#include "webhook/cli_args.hpp"
#include "webhook/cli_input.hpp"
#include "webhook/commands.hpp"

namespace exportgate::cli {

namespace {

namespace pol = exportgate::policy;
using nlohmann::json;

constexpr std::string_view kUsage =
    "Usage: exportgate check -f FILE|- [flags]\n"
    "\n"
    "Evaluates Kubernetes manifests (multi-document YAML, JSON, a List or an AdmissionReview)\n"
    "offline with the webhook's engine. Usage starts at zero; within one run the controlled TPP\n"
    "of every admitted object adds up per tenant and per jurisdiction, so a file of many pods is\n"
    "checked against the caps together (a Deployment and its own Pods in one file count twice).\n"
    "\n"
    "Flags:\n"
    "  -f, --file FILE|-          manifests to check; repeatable; - reads stdin\n"
    "      --policy FILE|PRESET   policy file, or a preset name such as current or\n"
    "                             current@2026-01-15 (default: the built-in diffusion-2025)\n"
    "      --jurisdiction CC      jurisdiction (ISO 3166-1 alpha-2) of every object, overriding\n"
    "                             the policy and labels\n"
    "      --tenant NAME          tenant of every object (a policy tenant brings its settings)\n"
    "      --in-force-on DATE     select the rules in force on DATE (YYYY-MM-DD or today)\n"
    "      --headquarters CC      where the tenant (or its ultimate parent) is headquartered,\n"
    "                             overriding the policy and labels\n"
    "      --namespace NS         namespace of objects that name none (default \"default\")\n"
    "      --namespace-labels k=v,...  labels of the namespace, e.g.\n"
    "                             exportgate.io/jurisdiction=SG,exportgate.io/tenant=acme\n"
    "  -o, --output text|json     output format (default text)\n"
    "  -h, --help                 this help\n"
    "\n"
    "Exit status: 0 all admitted (allow or warn), 1 any denied, 2 bad input or policy.\n";

struct Options {
  std::vector<std::string> files;
  std::string policy_path;
  std::string jurisdiction;  // normalized; "" when not given
  std::optional<std::string> tenant;
  std::string headquarters;  // normalized; "" when not given
  std::string in_force_on;   // --in-force-on; "" = as the policy says
  std::string default_namespace = "default";
  std::map<std::string, std::string> labels;
  bool json_output = false;
};

Options parse_options(const Args& args) {
  const ParsedArgs parsed(args, {{"--file", "-f"},
                                 {"--policy", ""},
                                 {"--jurisdiction", ""},
                                 {"--tenant", ""},
                                 {"--headquarters", ""},
                                 {"--in-force-on", ""},
                                 {"--namespace", "-n"},
                                 {"--namespace-labels", ""},
                                 {"--output", "-o"}});
  Options o;
  o.files = parsed.values("--file");
  for (const auto& p : parsed.positional()) o.files.push_back(p);
  if (o.files.empty()) throw UsageError("no input: give -f FILE or -f - for stdin");
  o.policy_path = parsed.value("--policy").value_or("");
  if (auto j = parsed.value("--jurisdiction")) {
    o.jurisdiction = pol::normalize_jurisdiction_code(*j);
    if (o.jurisdiction.empty() || !pol::find_jurisdiction(o.jurisdiction)) {
      throw UsageError("--jurisdiction \"" + *j + "\" is not an ISO 3166-1 alpha-2 code");
    }
  }
  if (auto h = parsed.value("--headquarters")) {
    o.headquarters = pol::normalize_jurisdiction_code(*h);
    if (o.headquarters.empty() || !pol::find_jurisdiction(o.headquarters)) {
      throw UsageError("--headquarters \"" + *h + "\" is not an ISO 3166-1 alpha-2 code");
    }
  }
  if (auto d = parsed.value("--in-force-on")) {
    if (auto problem = in_force_flag_problem(*d); !problem.empty()) throw UsageError(problem);
    o.in_force_on = *d;
  }
  o.tenant = parsed.value("--tenant");
  if (o.tenant && o.tenant->empty()) throw UsageError("--tenant needs a name");
  if (auto ns = parsed.value("--namespace")) o.default_namespace = *ns;
  for (const auto& l : parsed.values("--namespace-labels")) {
    for (auto& [k, v] : parse_key_values(l)) o.labels[k] = v;
  }
  const std::string output = parsed.value("--output").value_or("text");
  if (output != "text" && output != "json") {
    throw UsageError("--output must be text or json, got \"" + output + "\"");
  }
  o.json_output = output == "json";
  return o;
}

struct Outcome {
  std::string origin;
  std::string kind;
  std::string name;
  std::string namespace_;
  pol::WorkloadDemand demand;
  pol::TenantContext tenant;
  pol::Decision decision;
  bool skipped = false;  // holds no pods
  std::string error;     // malformed object
};

std::string object_string(const json& obj, const char* section, const char* key) {
  auto s = obj.find(section);
  if (s == obj.end() || !s->is_object()) return {};
  auto v = s->find(key);
  return v != s->end() && v->is_string() ? v->get<std::string>() : std::string();
}

pol::TenantContext tenant_for(const pol::Policy& policy, const std::string& ns, const Options& o) {
  std::map<std::string, std::string> labels = o.labels;
  pol::TenantContext ctx = pol::resolve_tenant(policy, ns, &labels);
  if (o.tenant) {
    // The flag overrides whatever the namespace resolved to; a policy tenant brings its
    // jurisdiction, authorisation and cap.
    ctx.tenant = *o.tenant;
    ctx.untenanted = false;  // named explicitly
    ctx.source = "flag --tenant";
    for (const auto& t : policy.tenants) {
      if (t.name != *o.tenant) continue;
      ctx.source = "flag --tenant -> policy tenant " + t.name;
      ctx.jurisdiction = t.jurisdiction;
      ctx.tier = policy.tier_of(t.jurisdiction);
      ctx.jurisdiction_error.clear();
      ctx.authorization = t.authorization;
      ctx.tenant_cap_tpp = t.cap_tpp;
      ctx.licence = t.licence;
      if (!t.headquarters.empty()) ctx.headquarters = t.headquarters;
    }
  }
  if (!o.headquarters.empty()) {
    ctx.headquarters = o.headquarters;
    ctx.headquarters_error.clear();
  }
  if (!o.jurisdiction.empty()) {
    ctx.jurisdiction = o.jurisdiction;
    ctx.tier = policy.tier_of(o.jurisdiction);
    ctx.jurisdiction_error.clear();
    ctx.source = "flag --jurisdiction";
  }
  return ctx;
}

std::string verdict_word(const Outcome& r) {
  if (!r.error.empty()) return "error";
  if (r.skipped) return "skip";
  return std::string(pol::to_string(r.decision.verdict));
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string jurisdiction_text(const pol::TenantContext& t) {
  if (t.jurisdiction.empty()) {
    return "jurisdiction unknown" +
           (t.jurisdiction_error.empty() ? "" : " (" + t.jurisdiction_error + ")");
  }
  return "jurisdiction " + t.jurisdiction + " (" + pol::tier_display(t.tier) + ")";
}

void print_text(const Outcome& r, std::ostream& out) {
  const std::string who = r.kind + " " + (r.namespace_.empty() ? "" : r.namespace_ + "/") + r.name;
  const std::string word = upper(verdict_word(r));
  if (!r.error.empty()) {
    out << "ERROR " << who << ": " << r.error << "\n";
    return;
  }
  if (r.skipped) {
    out << "SKIP " << who << ": holds no pods or devices\n";
    return;
  }
  const pol::Decision& d = r.decision;
  std::vector<std::string> lines = d.verdict == pol::Verdict::kDeny ? d.reasons : d.warnings;
  if (!r.demand.has_accelerators() && lines.empty()) {
    out << word << " " << who << ": no accelerators\n";
    return;
  }
  const std::string summary = r.demand.describe_accelerators() + ", TPP " +
                              pol::format_thousands(r.demand.total_tpp) + " (controlled " +
                              pol::format_thousands(r.demand.controlled_tpp) + ")";
  out << word << " " << who << ": " << (lines.empty() ? summary : lines.front()) << "\n";
  for (size_t i = 1; i < lines.size(); ++i) out << "  " << lines[i] << "\n";
  out << "  tenant " << r.tenant.tenant << ", " << jurisdiction_text(r.tenant);
  if (r.tenant.exempt) out << ", namespace exempt";
  out << "\n";
  if (!lines.empty()) out << "  demand: " << summary << "\n";
  for (const auto& n : r.demand.notes) out << "  note: " << n << "\n";
  if (!d.rule.empty()) out << "  rule: " << d.rule << "\n";
}

json to_json(const Outcome& r) {
  json j = {{"origin", r.origin},
            {"kind", r.kind},
            {"name", r.name},
            {"namespace", r.namespace_},
            {"verdict", verdict_word(r)}};
  if (!r.error.empty()) {
    j["error"] = r.error;
    return j;
  }
  j["tenant"] = r.tenant.tenant;
  j["jurisdiction"] = r.tenant.jurisdiction;
  j["tier"] = r.tenant.tier;
  j["tier_display"] = pol::tier_display(r.tenant.tier);
  j["tenant_source"] = r.tenant.source;
  j["reasons"] = r.skipped ? json::array() : json(r.decision.reasons);
  j["warnings"] = r.skipped ? json::array() : json(r.decision.warnings);
  j["code"] = r.decision.code;
  j["rule"] = r.decision.rule;
  j["notes"] = r.demand.notes;
  j["pods"] = r.demand.total_pods;
  j["tpp"] = r.demand.total_tpp;
  j["controlled_tpp"] = r.demand.controlled_tpp;
  j["held_controlled_tpp"] = r.demand.held_controlled_tpp;
  j["accelerator_count"] = r.demand.accelerator_count;
  j["summary"] = r.demand.describe_accelerators();
  json accelerators = json::array();
  for (const auto& set : r.demand.pod_sets) {
    for (const auto& a : set.accelerators) {
      accelerators.push_back({{"pod_set", set.name},
                              {"pods", set.pods},
                              {"resource", a.resource},
                              {"model", a.model_id},
                              {"model_name", a.model_name},
                              {"quantity", a.quantity},
                              {"device_fraction", a.device_fraction},
                              {"tpp_per_pod", a.tpp_per_pod},
                              {"class", pol::to_string(a.export_class)},
                              {"pinned", a.pinned}});
    }
  }
  j["accelerators"] = std::move(accelerators);
  return j;
}

}  // namespace

int run_check(const Args& args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
  }
  Options options;
  try {
    options = parse_options(args);
  } catch (const UsageError& e) {
    std::cerr << "exportgate check: " << e.what() << "\n\n" << kUsage;
    return 2;
  }

  pol::Policy policy;
  std::vector<pol::ManifestObject> objects;
  try {
    pol::LoadOptions load;
    load.in_force_on = options.in_force_on;
    // A file, or a preset name (`current`, `controls-2023@2025-06-01`) as `audit` and `diff` take.
    policy = options.policy_path.empty() ? load_policy_or_default("", load)
                                         : load_policy_argument(options.policy_path, load);
    for (const auto& file : options.files) {
      auto parsed = pol::parse_manifests(read_input(file), input_name(file));
      for (auto& o : parsed) objects.push_back(std::move(o));
    }
  } catch (const pol::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
    if (e.diagnostics().empty()) std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {  // InputError, ManifestError
    std::cerr << e.what() << "\n";
    return 2;
  }

  // DRA objects of all files first: a Pod is evaluated with the classes, claims and templates
  // it refers to wherever they appear; each claim holds its devices once.
  pol::DraContext dra;
  dra.default_namespace = options.default_namespace;
  for (const auto& m : objects) {
    try {
      pol::DraContext one;
      one.default_namespace =
          m.request_namespace.empty() ? options.default_namespace : m.request_namespace;
      if (!one.add_object(m.object)) continue;
      for (auto& c : one.classes) dra.classes.push_back(std::move(c));
      for (auto& c : one.slices) dra.slices.push_back(std::move(c));
      for (auto& c : one.claims) dra.claims.push_back(std::move(c));
      for (auto& c : one.templates) dra.templates.push_back(std::move(c));
    } catch (const pol::ManifestError&) {
      // reported with the object below
    }
  }
  pol::ExtractOptions extract_options;
  extract_options.dra = &dra;

  std::map<std::string, double> tenant_usage;
  std::map<std::string, double> jurisdiction_usage;
  std::vector<Outcome> outcomes;
  bool denied = false;
  bool bad = false;
  for (const auto& m : objects) {
    Outcome r;
    r.origin = m.origin;
    r.kind = m.object.value("kind", "");
    r.name = object_string(m.object, "metadata", "name");
    if (r.name.empty()) {
      const std::string gen = object_string(m.object, "metadata", "generateName");
      r.name = gen.empty() ? "<unnamed>" : gen + "*";
    }
    r.namespace_ = object_string(m.object, "metadata", "namespace");
    if (r.namespace_.empty()) r.namespace_ = m.request_namespace;
    if (r.namespace_.empty()) r.namespace_ = options.default_namespace;
    try {
      if (pol::is_dra_kind(m.object, "DeviceClass") ||
          pol::is_dra_kind(m.object, "ResourceSlice")) {
        pol::DraContext validate;  // decoded for its errors; holds no devices itself
        validate.add_object(m.object);
      }
      extract_options.namespace_ = r.namespace_;
      r.demand = pol::extract_demand(m.object, policy, extract_options);
      r.tenant = tenant_for(policy, r.namespace_, options);
      if (!r.demand.recognized) {
        r.skipped = true;
      } else {
        // Counted where the chips are installed: the workload's country, or the site, else the
        // tenant's jurisdiction (pol::allocation_key), as the webhook's ledger counts it.
        const std::string alloc = pol::allocation_key(policy, r.tenant.jurisdiction,
                                                      pol::workload_site(policy, r.demand));
        const pol::UsageSnapshot usage{
            tenant_usage[r.tenant.tenant],
            r.tenant.jurisdiction.empty() ? 0.0 : jurisdiction_usage[alloc]};
        r.decision = pol::evaluate(r.demand, r.tenant, usage, policy);
        if (r.decision.verdict == pol::Verdict::kDeny) {
          denied = true;
        } else if (!r.tenant.exempt && !r.demand.claim_template) {
          tenant_usage[r.tenant.tenant] += r.decision.requested_tpp;
          if (!r.tenant.jurisdiction.empty() && r.decision.draws_allocation) {
            jurisdiction_usage[alloc] += r.decision.requested_tpp;
          }
        }
      }
    } catch (const pol::ManifestError& e) {
      r.error = e.what();
      bad = true;
      std::cerr << m.origin << ": " << r.kind << " " << r.name << ": " << e.what() << "\n";
    }
    outcomes.push_back(std::move(r));
  }

  if (options.json_output) {
    json out = json::array();
    for (const auto& r : outcomes) out.push_back(to_json(r));
    // Names and reasons come from the manifest: invalid UTF-8 is replaced, not a crash.
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& r : outcomes) print_text(r, std::cout);
  }
  if (bad) return 2;
  return denied ? 1 : 0;
}

}  // namespace exportgate::cli
