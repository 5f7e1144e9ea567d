// `exportgate policy diff A B`: what changes between two policies or presets, as text or JSON.
// Exit status like diff(1): 0 identical in effect, 1 different, 2 bad input.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "policy/errors.hpp"
#include "policy/policy_diff.hpp"
#include "policy/policy_loader.hpp"
#include "webhook/cli_args.hpp"
#include "webhook/cli_input.hpp"
#include "webhook/commands.hpp"

namespace exportgate::cli {

namespace {

namespace pol = exportgate::policy;

std::string describe(const pol::Policy& p) {
  return p.name + " (preset " + (p.preset.empty() ? "none" : p.preset) + ", hash " + p.hash + ")";
}

const std::map<std::string, std::string>& section_titles() {
  static const std::map<std::string, std::string> titles = {
      {"settings", "settings"},
      {"jurisdiction", "jurisdiction tiers"},
      {"tier", "tier limits"},
      {"jurisdiction-cap", "jurisdiction caps"},
      {"unknown-jurisdiction", "unknown jurisdiction"},
      {"catalog", "catalog models"},
      {"partition", "catalog partitions"},
      {"tenant", "tenants"},
      {"exemptions", "exempt namespaces"},
      {"admins", "admins"},
      {"workload-kind", "workload kinds"}};
  return titles;
}

void print_text(const pol::Policy& a, const pol::Policy& b,
                const std::vector<pol::PolicyChange>& changes, std::ostream& out) {
  out << "--- " << describe(a) << "\n+++ " << describe(b) << "\n";
  if (changes.empty()) {
    out << "no differences in effect\n";
    return;
  }
  std::string section;
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto& c = changes[i];
    if (c.section != section) {
      section = c.section;
      auto t = section_titles().find(section);
      out << (t == section_titles().end() ? section : t->second) << ":\n";
    }
    if (c.section == "jurisdiction") {
      // Presets move dozens of codes at once: one line per (before, after) pair, in order of
      // first appearance; the section's changes are contiguous, so skip past them after.
      std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>> groups;
      size_t j = i;
      for (; j < changes.size() && changes[j].section == "jurisdiction"; ++j) {
        auto key = std::make_pair(changes[j].before, changes[j].after);
        auto g = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& group) { return group.first == key; });
        if (g == groups.end()) g = groups.insert(groups.end(), {key, {}});
        g->second.push_back(changes[j].key);
      }
      for (const auto& [transition, codes] : groups) {
        out << "  " << transition.first << " -> " << transition.second << " (" << codes.size()
            << "):";
        for (const auto& code : codes) out << ' ' << code;
        out << "\n";
      }
      i = j - 1;
      continue;
    }
    out << "  " << c.key << ": ";
    if (c.change == "added") {
      out << "added: " << c.after;
    } else if (c.change == "removed") {
      out << "removed: " << c.before;
    } else {
      out << c.before << " -> " << c.after;
    }
    out << "\n";
  }
  out << changes.size() << (changes.size() == 1 ? " difference\n" : " differences\n");
}

nlohmann::ordered_json to_json(const std::string& arg, const pol::Policy& p) {
  return {{"source", arg}, {"name", p.name}, {"preset", p.preset}, {"hash", p.hash}};
}

void print_json(const std::string& arg_a, const pol::Policy& a, const std::string& arg_b,
                const pol::Policy& b, const std::vector<pol::PolicyChange>& changes,
                std::ostream& out) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& c : changes) {
    list.push_back({{"section", c.section},
                    {"key", c.key},
                    {"change", c.change},
                    {"before", c.before},
                    {"after", c.after}});
  }
  nlohmann::ordered_json doc = {{"a", to_json(arg_a, a)},
                                {"b", to_json(arg_b, b)},
                                {"identical", changes.empty()},
                                {"changes", std::move(list)}};
  out << doc.dump(2) << "\n";
}

}  // namespace

constexpr std::string_view kPolicyDiffUsage =
    "Usage: exportgate policy diff A B [-o text|json]\n"
    "\n"
    "Lists what changes from policy A to policy B: jurisdictions whose tier changes, tier\n"
    "limits (action, caps, rule), catalog models (class, TPP), tenants, mode, exemptions,\n"
    "admins. A and B are policy files, `preset:NAME`, or a preset name when no such file\n"
    "exists (e.g. `exportgate policy diff diffusion-2025 controls-2023`); `NAME@DATE` is a\n"
    "preset's rules in force on DATE, so two dates compare as\n"
    "`exportgate policy diff current@2025-05-12 current@2025-05-13`.\n"
    "\n"
    "Exit status: 0 identical in effect, 1 different, 2 bad input or an invalid policy.\n";

int run_policy_diff(const Args& args) {
  std::string output;
  std::vector<std::string> paths;
  try {
    const ParsedArgs parsed(args, {{"--output", "-o"}, {"--help", "-h", false}});
    if (parsed.has("--help")) {
      std::cout << kPolicyDiffUsage;
      return 0;
    }
    output = parsed.value("--output").value_or("text");
    if (output != "text" && output != "json") throw UsageError("--output must be text or json");
    paths = parsed.positional();
    if (paths.size() != 2) throw UsageError("expected two policies, A and B");
  } catch (const UsageError& e) {
    std::cerr << "exportgate policy diff: " << e.what() << "\n\n" << kPolicyDiffUsage;
    return 2;
  }
  if (paths[0] == "-" && paths[1] == "-") {
    std::cerr << "exportgate policy diff: only one of A and B can be stdin\n";
    return 2;
  }
  std::vector<pol::Policy> policies;
  for (const auto& path : paths) {
    try {
      policies.push_back(load_policy_argument(path));
    } catch (const pol::PolicyError& e) {
      for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
      if (e.diagnostics().empty()) std::cerr << path << ": " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "exportgate policy diff: " << e.what() << "\n";
      return 2;
    }
  }
  const auto changes = pol::diff_policies(policies[0], policies[1]);
  if (output == "json") {
    print_json(paths[0], policies[0], paths[1], policies[1], changes, std::cout);
  } else {
    print_text(policies[0], policies[1], changes, std::cout);
  }
  return changes.empty() ? 0 : 1;
}

}  // namespace exportgate::cli
