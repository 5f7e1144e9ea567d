// `exportgate policy validate FILE` and `exportgate policy show [FILE|PRESET[@DATE]]`: check a
// policy file with every error at file:line:column, or print the effective policy it produces.
// `policy diff` lives in cmd_policy_diff.cpp.
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "policy/errors.hpp"
#include "policy/in_force.hpp"
#include "policy/policy_loader.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/policy_warnings.hpp"
#include "policy/site.hpp"
#include "webhook/cli_input.hpp"
#include "webhook/commands.hpp"

namespace exportgate::cli {

namespace {

namespace pol = exportgate::policy;

std::string cap_text(const std::optional<double>& cap) {
  return cap ? pol::format_thousands(*cap) + " TPP" : std::string("none");
}

void show(const pol::Policy& p, std::ostream& out) {
  out << "policy " << p.name << " (preset " << (p.preset.empty() ? "none" : p.preset) << ", hash "
      << p.hash << ")\n";
  const std::string rule_set = pol::rule_set_text(p.rule_set);
  out << "rule set: " << (rule_set.empty() ? "not stated" : rule_set) << "\n";
  if (!p.rule_set.status.source.empty())
    out << "  status source: " << p.rule_set.status.source << "\n";
  if (!p.in_force_on.empty()) out << "rules in force on: " << p.in_force_on << "\n";
  out << "mode: " << pol::to_string(p.mode)
      << ", workload early check: " << (p.workload_early_check ? "on" : "off")
      << ", near-cap warning at " << static_cast<int>(p.near_cap_warning_ratio * 100) << "%\n";
  out << "site: "
      << (p.site.empty() ? "not stated (country allocations counted per tenant jurisdiction)"
                         : p.site + " (country allocation of " + p.site + ")")
      << "\n";
  if (p.site_node_label) {
    out << "site by node label: " << pol::describe_site_node_label(p)
        << " (a workload's country is read from its nodeSelector/affinity on the key; other "
           "values are "
        << (p.site.empty() ? std::string("of unknown country") : "in " + p.site)
        << "; a licensed workload that may land in several countries with an allocation is "
           "denied, site-unresolved)\n";
  }
  out << "default tier: "
      << (p.default_tier.empty() ? "none (unlisted codes are unknown)"
                                 : pol::tier_display(p.default_tier))
      << "\n";
  out << "tiers:\n";
  for (const auto& [name, limits] : p.tiers) {
    size_t n = 0;
    for (const auto& [code, tier] : p.jurisdiction_tiers) n += tier == name ? 1 : 0;
    out << "  " << pol::tier_display(name) << ": controlled " << pol::to_string(limits.controlled)
        << ", tenant cap " << cap_text(limits.tenant_cap_tpp) << ", jurisdiction cap "
        << cap_text(limits.jurisdiction_cap_tpp) << ", " << n << " jurisdictions listed"
        << (name == p.default_tier ? " + every other" : "") << "\n";
    if (!limits.rule.empty()) out << "    rule: " << limits.cited() << "\n";
  }
  out << "unknown jurisdiction: controlled " << pol::to_string(p.unknown_jurisdiction) << "\n";
  out << "untenanted namespaces: " << pol::to_string(p.untenanted_namespaces)
      << (p.untenanted_namespaces == pol::UntenantedNamespaces::kDeny
              ? " (no controlled accelerators where a tier caps each tenant)"
              : " (each namespace is a tenant of its own)")
      << "\n";
  if (p.headquarters_rule) {
    std::string codes;
    for (const auto& c : p.headquarters_rule->jurisdictions)
      codes += (codes.empty() ? "" : ",") + c;
    out << "headquarters licence: " << codes << "\n    rule: " << p.headquarters_rule->cited()
        << "\n";
  }
  for (const auto& r : p.part_rules) {
    out << "part rule \"" << r.name << "\": " << pol::describe(r) << "\n    rule: " << r.cited()
        << "\n";
  }
  for (const auto& [code, cap] : p.jurisdiction_caps) {
    out << "jurisdiction cap " << code << ": " << pol::format_thousands(cap) << " TPP\n";
  }
  out << "tenants: " << p.tenants.size() << "\n";
  for (const auto& t : p.tenants) {
    std::string ns;
    for (const auto& n : t.namespaces) ns += (ns.empty() ? "" : ",") + n;
    out << "  " << t.name << ": " << t.jurisdiction << " ("
        << pol::tier_display(p.tier_of(t.jurisdiction)) << "), namespaces " << ns
        << ", authorization " << pol::to_string(t.authorization);
    if (t.cap_tpp) out << ", cap " << pol::format_thousands(*t.cap_tpp) << " TPP";
    if (!t.headquarters.empty()) out << ", headquarters " << t.headquarters;
    out << "\n";
  }
  std::string exempt;
  for (const auto& e : p.exempt_namespaces) exempt += (exempt.empty() ? "" : ",") + e;
  out << "exempt namespaces: " << (exempt.empty() ? "none" : exempt) << "\n";
  out << "admins: " << p.admins.users.size() << " users, " << p.admins.groups.size() << " groups\n";
  out << "catalog: " << p.catalog.models.size() << " models, " << p.catalog.partitions.size()
      << " partitions\n";
  std::string kinds;
  for (const auto& k : p.workload_kinds)
    kinds += (kinds.empty() ? "" : ", ") + k.kind + "." + k.group;
  out << "workload kinds: " << (kinds.empty() ? "none" : kinds) << "\n";
}

int validate_or_show(const std::string& verb, const std::string& path) {
  try {
    // show also takes a preset name, with a date: `policy show current@2026-01-15`.
    const pol::Policy p =
        verb == "show" && !path.empty() ? load_policy_argument(path) : load_policy_or_default(path);
    if (verb == "validate") {
      // Warnings do not make the policy invalid: the exit status stays 0.
      for (const auto& w : pol::policy_warnings(p)) {
        std::cerr << input_name(path) << ": warning: " << w << "\n";
      }
      std::cout << input_name(path) << ": ok (policy " << p.name << ", preset "
                << (p.preset.empty() ? "none" : p.preset) << ", hash " << p.hash << ")\n";
    } else {
      show(p, std::cout);
    }
    // Valid, but stale data or a date past a scheduled change: say so (exit status stays 0).
    for (const auto& w : pol::in_force_warnings(p, pol::today_utc())) {
      std::cerr << input_name(path) << ": warning: " << w << "\n";
    }
    return 0;
  } catch (const pol::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
    if (e.diagnostics().empty()) std::cerr << input_name(path) << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
}

}  // namespace

void add_policy(CLI::App& root, Action& action) {
  CLI::App* policy = add_command(root, "policy", "check, show or compare policies");
  auto file = std::make_shared<std::string>();

  CLI::App* validate =
      add_command(*policy, "validate", "check a policy file; every error as file:line:column");
  validate->add_option("FILE", *file, "the policy file; - reads stdin")->required();
  add_notes(*validate, "Exit status: 0 valid (warnings are printed), 2 invalid or unreadable.");
  validate->parse_complete_callback(
      [&action, file] { action = [file] { return validate_or_show("validate", *file); }; });

  CLI::App* show = add_command(*policy, "show", "print the effective policy");
  show->add_option("POLICY", *file,
                   "a policy file, a preset name or NAME@DATE (default: the built-in "
                   "diffusion-2025 preset)")
      ->type_name("FILE|PRESET[@DATE]");
  add_notes(*show, "Exit status: 0 shown, 2 invalid or unreadable.");
  show->parse_complete_callback(
      [&action, file] { action = [file] { return validate_or_show("show", *file); }; });

  add_policy_diff(*policy, action);
}

}  // namespace exportgate::cli
