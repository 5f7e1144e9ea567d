// `exportgate policy diff A B`: what changes between two policies or presets, as text or JSON.
// Exit status like diff(1): 0 identical in effect, 1 different, 2 bad input.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "policy/errors.hpp"
#include "policy/policy_diff.hpp"
#include "policy/policy_loader.hpp"
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

int run_policy_diff(const std::vector<std::string>& paths, const std::string& output) {
  check_one_of("--output", output, {"text", "json"});
  if (paths.size() != 2) throw UsageError("expected two policies, A and B");
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

}  // namespace

void add_policy_diff(CLI::App& policy, Action& action) {
  CLI::App* diff = add_command(policy, "diff", "what changes from policy or preset A to B");
  struct Flags {
    std::vector<std::string> paths;
    std::string output = "text";
  };
  auto flags = std::make_shared<Flags>();
  diff->add_option("POLICIES", flags->paths,
                   "policy files, `preset:NAME`, a preset name when no such file exists, or "
                   "NAME@DATE: a preset's rules in force on DATE")
      ->type_name("A B");
  add_flag_option(*diff, "-o,--output", flags->output, "output format")
      ->type_name("text|json")
      ->default_str("text");
  add_notes(*diff,
            "Lists what changes from policy A to policy B: jurisdictions whose tier changes, tier "
            "limits (action, caps, rule), catalog models (class, TPP), tenants, mode, exemptions, "
            "admins. E.g. `exportgate policy diff diffusion-2025 controls-2023`; two dates "
            "compare as `exportgate policy diff current@2025-05-12 current@2025-05-13`.\n\n"
            "Exit status: 0 identical in effect, 1 different, 2 bad input or an invalid policy.");
  diff->parse_complete_callback([&action, flags] {
    action = [flags] { return run_policy_diff(flags->paths, flags->output); };
  });
}

}  // namespace exportgate::cli
