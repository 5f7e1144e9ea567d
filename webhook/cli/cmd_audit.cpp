// `exportgate audit`: evaluates the Pods and pod-owning workloads that exist in a cluster against a
// policy (the running one, or a proposed one as a preview) and reports every violation. Only
// reads: a preview of a new policy changes nothing in the cluster.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "policy/errors.hpp"
#include "policy/jurisdictions.hpp"
#include "policy/tenancy.hpp"
#include "webhook/audit_output.hpp"
#include "webhook/audit_run.hpp"
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

struct AuditOptions {
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

// The command line as given; to_audit_options checks and converts it.
struct AuditFlags {
  std::string kubeconfig, policy, in_force_on, namespace_, output = "table", fail_on = "deny";
  std::string request_timeout;
  bool in_cluster = false;
  std::vector<std::string> tenant_namespaces;
  CLI::Option* kubeconfig_flag = nullptr;
  CLI::Option* in_force_flag = nullptr;
  CLI::Option* namespace_flag = nullptr;
  CLI::Option* timeout_flag = nullptr;
};

void define_audit_flags(CLI::App& app, AuditFlags& f) {
  f.kubeconfig_flag = add_flag_option(app, "--kubeconfig", f.kubeconfig,
                                      "credentials (default: $KUBECONFIG, else ~/.kube/config)")
                          ->type_name("FILE");
  add_switch(app, "--in-cluster", f.in_cluster, "the pod's service account");
  add_flag_option(app, "--policy", f.policy,
                  "policy to audit against (default: the built-in diffusion-2025 preset); "
                  "preset:NAME or a bare preset name")
      ->type_name("FILE|PRESET");
  add_flag_option(app, "--tenant-namespace", f.tenant_namespaces,
                  "treat namespace NS as a tenant in jurisdiction CC, as `serve "
                  "--tenant-namespace` does (repeatable)")
      ->type_name("NS=CC")
      ->delimiter(',');
  f.in_force_flag = add_in_force_on(app, f.in_force_on);
  f.namespace_flag = add_flag_option(app, "-n,--namespace", f.namespace_,
                                     "only this namespace (caps are then not checked)",
                                     "EXPORTGATE_AUDIT_NAMESPACE")
                         ->type_name("NS");
  add_flag_option(app, "-o,--output", f.output, "output format")
      ->type_name("table|json")
      ->default_str("table");
  add_flag_option(app, "--fail-on", f.fail_on,
                  "exit 1 on violations (deny), or also on warnings near a cap (warn)")
      ->type_name("deny|warn")
      ->default_str("deny");
  f.timeout_flag = add_flag_option(app, "--request-timeout", f.request_timeout, "per API request",
                                   "EXPORTGATE_AUDIT_REQUEST_TIMEOUT")
                       ->type_name("SECONDS")
                       ->default_str("30");
}

AuditOptions to_audit_options(const AuditFlags& f) {
  AuditOptions o;
  o.in_cluster = f.in_cluster;
  o.kubeconfig = f.kubeconfig;
  const bool kubeconfig_given = f.kubeconfig_flag->count() > 0;
  if (o.in_cluster && kubeconfig_given) {
    throw UsageError("--in-cluster and --kubeconfig are exclusive");
  }
  if (kubeconfig_given && o.kubeconfig.empty()) {
    throw UsageError("--kubeconfig needs a file name", "--kubeconfig");
  }
  if (!o.in_cluster && o.kubeconfig.empty()) o.kubeconfig = default_kubeconfig();
  if (!o.in_cluster && o.kubeconfig.empty()) {
    throw UsageError("no cluster: give --kubeconfig FILE or --in-cluster");
  }
  o.policy = f.policy;
  if (auto date = in_force_on_value(*f.in_force_flag, f.in_force_on)) o.in_force_on = *date;
  for (const auto& v : f.tenant_namespaces) {
    auto tn = pol::parse_namespace_tenant(v);
    if (!tn) throw UsageError(tenant_namespace_error(v), "--tenant-namespace");
    o.tenant_namespaces.push_back(std::move(*tn));
  }
  o.namespace_ = f.namespace_;
  if (f.namespace_flag->count() > 0 && o.namespace_.empty()) {
    throw UsageError("--namespace needs a name", "--namespace");
  }
  check_one_of("--output", f.output, {"table", "json"});
  o.json_output = f.output == "json";
  check_one_of("--fail-on", f.fail_on, {"deny", "warn"});
  o.fail_on_warn = f.fail_on == "warn";
  if (f.timeout_flag->count() > 0) {
    const std::string& t = f.request_timeout;
    char* end = nullptr;
    const double s = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !(s >= 0.1 && s <= 3600)) {
      throw UsageError(
          "--request-timeout: expected seconds between 0.1 and 3600, got \"" + t + "\"",
          "--request-timeout");
    }
    o.timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
  }
  return o;
}

// The policy, with --tenant-namespace tenants first (as serve adds them, hash included).
pol::Policy load_audit_policy(const AuditOptions& o) {
  pol::LoadOptions load;
  load.in_force_on = o.in_force_on;
  pol::Policy p =
      o.policy.empty() ? load_policy_or_default("", load) : load_policy_argument(o.policy, load);
  pol::add_namespace_tenants(p, o.tenant_namespaces);
  return p;
}

int run_audit(const AuditOptions& o) {
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

}  // namespace

void add_audit(CLI::App& root, Action& action) {
  CLI::App* audit =
      add_command(root, "audit", "evaluate what runs in a cluster against a policy (read-only)");
  auto flags = std::make_shared<AuditFlags>();
  define_audit_flags(*audit, *flags);
  add_notes(*audit,
            "Lists every Pod (not finished) and pod-owning workload (Deployments, ReplicaSets, "
            "StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers and the policy's "
            "custom workload kinds) and evaluates them with the webhook's engine: tenant and "
            "jurisdiction from the live namespace labels, accelerator models from the Nodes. "
            "Prohibitions are reported per object; caps once per tenant and jurisdiction whose "
            "Pods in use pass them. Read-only: with --policy NEW.yaml it previews what a policy "
            "change would deny, changing nothing.\n\n"
            "Exit status: 0 no violations, 1 violations found, 2 bad flags, policy or "
            "credentials, or the API cannot be read (never reported as \"0 violations\").");
  audit->parse_complete_callback(
      [&action, flags] { action = [flags] { return run_audit(to_audit_options(*flags)); }; });
}

}  // namespace exportgate::cli
