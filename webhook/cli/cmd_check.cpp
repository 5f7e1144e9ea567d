// `exportgate check`: evaluates manifests offline with the same engine as the webhook.
// Within one run, the controlled TPP of admitted objects accumulates per tenant and per
// jurisdiction, so a file of many pods is checked against the caps together.
#include <iostream>
#include <map>
#include <memory>
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
#include "webhook/cli_input.hpp"
#include "webhook/commands.hpp"

namespace exportgate::cli {

namespace {

namespace pol = exportgate::policy;
using nlohmann::json;

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

// The command line as given; to_options checks and converts it.
struct Flags {
  std::vector<std::string> files;       // -f, in order
  std::vector<std::string> positional;  // FILE arguments, after the -f files
  std::string policy, jurisdiction, tenant, headquarters, in_force_on, output = "text";
  std::string namespace_ = "default";
  std::vector<std::string> labels;
  CLI::Option* jurisdiction_flag = nullptr;
  CLI::Option* tenant_flag = nullptr;
  CLI::Option* headquarters_flag = nullptr;
  CLI::Option* in_force_flag = nullptr;
};

void define_flags(CLI::App& app, Flags& f) {
  add_flag_option(app, "-f,--file", f.files, "manifests to check; repeatable; - reads stdin")
      ->type_name("FILE|-");
  app.add_option("FILE", f.positional, "more manifests, as -f")->type_name("FILE|-");
  add_flag_option(app, "--policy", f.policy,
                  "policy file, or a preset name such as current or current@2026-01-15 "
                  "(default: the built-in diffusion-2025)")
      ->type_name("FILE|PRESET");
  f.jurisdiction_flag =
      add_flag_option(app, "--jurisdiction", f.jurisdiction,
                      "jurisdiction (ISO 3166-1 alpha-2) of every object, overriding the policy "
                      "and labels")
          ->type_name("CC");
  f.tenant_flag = add_flag_option(app, "--tenant", f.tenant,
                                  "tenant of every object (a policy tenant brings its settings)")
                      ->type_name("NAME");
  f.in_force_flag = add_in_force_on(app, f.in_force_on);
  f.headquarters_flag =
      add_flag_option(app, "--headquarters", f.headquarters,
                      "where the tenant (or its ultimate parent) is headquartered, overriding "
                      "the policy and labels")
          ->type_name("CC");
  add_flag_option(app, "-n,--namespace", f.namespace_, "namespace of objects that name none",
                  "EXPORTGATE_CHECK_NAMESPACE")
      ->type_name("NS")
      ->default_str("default");
  add_flag_option(app, "--namespace-labels", f.labels,
                  "labels of the namespace, e.g. "
                  "exportgate.io/jurisdiction=SG,exportgate.io/tenant=acme; repeatable")
      ->type_name("k=v,...");
  add_flag_option(app, "-o,--output", f.output, "output format")
      ->type_name("text|json")
      ->default_str("text");
}

// A jurisdiction flag's value, normalized; throws UsageError when it is no ISO 3166-1 code.
std::string jurisdiction_flag(const std::string& flag, const std::string& value) {
  std::string code = pol::normalize_jurisdiction_code(value);
  if (code.empty() || !pol::find_jurisdiction(code)) {
    throw UsageError(flag + " \"" + value + "\" is not an ISO 3166-1 alpha-2 code", flag);
  }
  return code;
}

Options to_options(const Flags& f) {
  Options o;
  o.files = f.files;
  o.files.insert(o.files.end(), f.positional.begin(), f.positional.end());
  if (o.files.empty()) throw UsageError("no input: give -f FILE or -f - for stdin", "--file");
  o.policy_path = f.policy;
  if (f.jurisdiction_flag->count() > 0) {
    o.jurisdiction = jurisdiction_flag("--jurisdiction", f.jurisdiction);
  }
  if (f.headquarters_flag->count() > 0) {
    o.headquarters = jurisdiction_flag("--headquarters", f.headquarters);
  }
  if (auto date = in_force_on_value(*f.in_force_flag, f.in_force_on)) o.in_force_on = *date;
  if (f.tenant_flag->count() > 0) {
    if (f.tenant.empty()) throw UsageError("--tenant needs a name", "--tenant");
    o.tenant = f.tenant;
  }
  o.default_namespace = f.namespace_;
  for (const auto& l : f.labels) {
    for (auto& [k, v] : parse_key_values(l)) o.labels[k] = v;
  }
  check_one_of("--output", f.output, {"text", "json"});
  o.json_output = f.output == "json";
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

int run_check(const Options& options) {
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

}  // namespace

void add_check(CLI::App& root, Action& action) {
  CLI::App* check = add_command(root, "check", "evaluate manifests offline");
  auto flags = std::make_shared<Flags>();
  define_flags(*check, *flags);
  add_notes(*check,
            "Evaluates Kubernetes manifests (multi-document YAML, JSON, a List or an "
            "AdmissionReview) offline with the webhook's engine. Usage starts at zero; within one "
            "run the controlled TPP of every admitted object adds up per tenant and per "
            "jurisdiction, so a file of many pods is checked against the caps together (a "
            "Deployment and its own Pods in one file count twice).\n\n"
            "Exit status: 0 all admitted (allow or warn), 1 any denied, 2 bad input or policy.");
  check->parse_complete_callback(
      [&action, flags] { action = [flags] { return run_check(to_options(*flags)); }; });
}

}  // namespace exportgate::cli
