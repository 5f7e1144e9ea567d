// `exportgate audit`: evaluates the Pods and pod-owning workloads that exist in a cluster against a
// policy (the running one, or a proposed one as a preview) and reports every violation. Only
// reads: a preview of a new policy changes nothing in the cluster.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "policy/errors.hpp"
#include "policy/jurisdictions.hpp"
#include "policy/tenancy.hpp"
#include "webhook/audit_output.hpp"
#include "webhook/audit_run.hpp"
#include "webhook/cli_args.hpp"
#include "webhook/cli_input.hpp"
#include "webhook/commands.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/kube_config.hpp"

namespace exportgate::cli {

namespace {

namespace pol = exportgate::policy;
using webhook::AuditApiError;
using webhook::KubeConfigError;
using webhook::KubeUnavailable;

constexpr std::string_view kUsage =
    "Usage: exportgate audit [--kubeconfig FILE | --in-cluster] [flags]\n"
    "\n"
    "Lists every Pod (not finished) and pod-owning workload (Deployments, ReplicaSets,\n"
    "StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers and the policy's custom\n"
    "workload kinds) and evaluates them with the webhook's engine: tenant and jurisdiction from\n"
    "the live namespace labels, accelerator models from the Nodes. Prohibitions are reported per\n"
    "object; caps once per tenant and jurisdiction whose Pods in use pass them. Read-only: with\n"
    "--policy NEW.yaml it previews what a policy change would deny, changing nothing.\n"
    "\n"
    "Flags:\n"
    "      --kubeconfig FILE      credentials (default: $KUBECONFIG, else ~/.kube/config)\n"
    "      --in-cluster           the pod's service account\n"
    "      --policy FILE|PRESET   policy to audit against (default: the built-in diffusion-2025\n"
    "                             preset); preset:NAME or a bare preset name\n"
    "      --tenant-namespace NS=CC  treat namespace NS as a tenant in jurisdiction CC, as\n"
    "                             `serve --tenant-namespace` does (repeatable)\n"
    "      --in-force-on DATE     select the rules in force on DATE (YYYY-MM-DD or today)\n"
    "  -n, --namespace NS         only this namespace (caps are then not checked)\n"
    "  -o, --output table|json    output format (default table)\n"
    "      --fail-on deny|warn    exit 1 on violations (default), or also on warnings (near a "
    "cap)\n"
    "      --request-timeout S    per API request (default 30)\n"
    "  -h, --help                 this help\n"
    "\n"
    "Exit status: 0 no violations, 1 violations found, 2 bad flags, policy or credentials, or the\n"
    "API cannot be read (never reported as \"0 violations\").\n";

struct Options {
  std::string kubeconfig;
  bool in_cluster = false;
  std::string policy;
  std::string in_force_on;  // --in-force-on; "" = as the policy says
  std::vector<pol::NamespaceTenant> tenant_namespaces;
  std::string namespace_;
  bool json_output = false;
  bool fail_on_warn = false;
  std::chrono::milliseconds timeout{30'000};
};

std::string default_kubeconfig() {
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string first(env);
    return first.substr(0, first.find(':'));
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    std::filesystem::path p = std::filesystem::path(home) / ".kube" / "config";
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p.string();
  }
  return {};
}

Options parse_options(const Args& args) {
  const ParsedArgs parsed(args, {{"--kubeconfig", ""},
                                 {"--in-cluster", "", false},
                                 {"--policy", ""},
                                 {"--tenant-namespace", ""},
                                 {"--in-force-on", ""},
                                 {"--namespace", "-n"},
                                 {"--output", "-o"},
                                 {"--fail-on", ""},
                                 {"--request-timeout", ""}});
  if (!parsed.positional().empty()) {
    throw UsageError("unexpected argument \"" + parsed.positional().front() + "\"");
  }
  Options o;
  o.in_cluster = parsed.has("--in-cluster");
  o.kubeconfig = parsed.value("--kubeconfig").value_or("");
  if (o.in_cluster && parsed.has("--kubeconfig")) {
    throw UsageError("--in-cluster and --kubeconfig are exclusive");
  }
  if (parsed.has("--kubeconfig") && o.kubeconfig.empty()) {
    throw UsageError("--kubeconfig needs a file name");
  }
  if (!o.in_cluster && o.kubeconfig.empty()) o.kubeconfig = default_kubeconfig();
  if (!o.in_cluster && o.kubeconfig.empty()) {
    throw UsageError("no cluster: give --kubeconfig FILE or --in-cluster");
  }
  o.policy = parsed.value("--policy").value_or("");
  if (auto d = parsed.value("--in-force-on")) {
    if (auto problem = in_force_flag_problem(*d); !problem.empty()) throw UsageError(problem);
    o.in_force_on = *d;
  }
  for (const auto& v : parsed.values("--tenant-namespace")) {
    auto tn = pol::parse_namespace_tenant(v);
    if (!tn) throw UsageError(tenant_namespace_error(v));
    o.tenant_namespaces.push_back(std::move(*tn));
  }
  o.namespace_ = parsed.value("--namespace").value_or("");
  if (parsed.has("--namespace") && o.namespace_.empty())
    throw UsageError("--namespace needs a name");
  const std::string output = parsed.value("--output").value_or("table");
  if (output != "table" && output != "json") {
    throw UsageError("--output must be table or json, got \"" + output + "\"");
  }
  o.json_output = output == "json";
  const std::string fail_on = parsed.value("--fail-on").value_or("deny");
  if (fail_on != "deny" && fail_on != "warn") {
    throw UsageError("--fail-on must be deny or warn, got \"" + fail_on + "\"");
  }
  o.fail_on_warn = fail_on == "warn";
  if (auto t = parsed.value("--request-timeout")) {
    char* end = nullptr;
    const double s = std::strtod(t->c_str(), &end);
    if (t->empty() || *end != '\0' || !(s >= 0.1 && s <= 3600)) {
      throw UsageError("--request-timeout: expected seconds between 0.1 and 3600, got \"" + *t +
                       "\"");
    }
    o.timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
  }
  return o;
}

// The policy, with --tenant-namespace tenants first (as serve adds them, hash included).
pol::Policy load_audit_policy(const Options& o) {
  pol::LoadOptions load;
  load.in_force_on = o.in_force_on;
  pol::Policy p =
      o.policy.empty() ? load_policy_or_default("", load) : load_policy_argument(o.policy, load);
  pol::add_namespace_tenants(p, o.tenant_namespaces);
  return p;
}

}  // namespace

int run_audit(const Args& args) {
  Options o;
  try {
    if (std::find(args.begin(), args.end(), "--help") != args.end() ||
        std::find(args.begin(), args.end(), "-h") != args.end()) {
      std::cout << kUsage;
      return 0;
    }
    o = parse_options(args);
  } catch (const UsageError& e) {
    std::cerr << "exportgate audit: " << e.what() << "\n\n" << kUsage;
    return 2;
  }
  pol::Policy policy;
  try {
    policy = load_audit_policy(o);
  } catch (const pol::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
    if (e.diagnostics().empty()) std::cerr << "exportgate audit: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {  // InputError
    std::cerr << "exportgate audit: " << e.what() << "\n";
    return 2;
  }
  try {
    webhook::KubeConfig config =
        o.in_cluster ? webhook::load_in_cluster() : webhook::load_kubeconfig(o.kubeconfig);
    webhook::KubeTimeouts timeouts;
    timeouts.request = o.timeout;
    webhook::KubeClient client(std::move(config), timeouts);
    webhook::AuditRunOptions run_options;
    run_options.namespace_ = o.namespace_;
    const webhook::AuditRun run = webhook::run_audit(client, policy, run_options);
    if (o.json_output) {
      std::cout << webhook::audit_json(run, policy, o.namespace_).dump(2) << "\n";
    } else {
      webhook::print_audit_table(run, policy, std::cout);
    }
    const bool fail = run.report.violations() > 0 || (o.fail_on_warn && run.report.warnings() > 0);
    return fail ? 1 : 0;
  } catch (const KubeConfigError& e) {
    std::cerr << "exportgate audit: " << e.what() << "\n";
  } catch (const KubeUnavailable& e) {
    std::cerr << "exportgate audit: cannot read the cluster, no audit result: " << e.what() << "\n";
  } catch (const AuditApiError& e) {
    std::cerr << "exportgate audit: cannot read the cluster, no audit result: " << e.what() << "\n";
  }
  return 2;
}

}  // namespace exportgate::cli
