// `exportgate catalog`: the accelerator catalog with TPP, performance density and 3A090 class,
// as a table or JSON.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "policy/catalog.hpp"
#include "policy/errors.hpp"
#include "policy/policy_numbers.hpp"
#include "webhook/cli_input.hpp"
#include "webhook/commands.hpp"

namespace exportgate::cli {

namespace {

namespace pol = exportgate::policy;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string pad_left(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

void print_table(const pol::Catalog& catalog) {
  struct Row {
    std::string id, name, resources, dense, tpp, pd, bw, klass;
  };
  std::vector<Row> rows;
  rows.push_back(
      {"ID", "NAME", "RESOURCES", "DENSE TOPS x BITS", "TPP", "PD", "DRAM/LINK GB/s", "CLASS"});
  auto gbs = [](double v) { return v > 0 ? pol::format_thousands(v) : std::string("?"); };
  for (const auto& m : catalog.models) {
    std::string dense = pol::format_thousands(m.dense_tops) + " x " + std::to_string(m.bit_length);
    std::string pd = m.pd ? (m.die_area_upper_bound ? ">=" : "") + fixed(*m.pd, 2) : "-";
    rows.push_back({m.id, m.display_name, join(m.resources), dense, pol::format_thousands(m.tpp),
                    pd, gbs(m.dram_bandwidth_gbs) + "/" + gbs(m.interconnect_bandwidth_gbs),
                    std::string(pol::to_string(m.export_class)) +
                        (m.datacenter ? "" : " (non-DC)") + (m.class_note.empty() ? "" : " *")});
  }
  size_t w[7] = {0, 0, 0, 0, 0, 0, 0};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.id.size());
    w[1] = std::max(w[1], r.name.size());
    w[2] = std::max(w[2], r.resources.size());
    w[3] = std::max(w[3], r.dense.size());
    w[4] = std::max(w[4], r.tpp.size());
    w[5] = std::max(w[5], r.pd.size());
    w[6] = std::max(w[6], r.bw.size());
  }
  for (const auto& r : rows) {
    std::cout << pad(r.id, w[0]) << "  " << pad(r.name, w[1]) << "  " << pad(r.resources, w[2])
              << "  " << pad_left(r.dense, w[3]) << "  " << pad_left(r.tpp, w[4]) << "  "
              << pad_left(r.pd, w[5]) << "  " << pad_left(r.bw, w[6]) << "  " << r.klass << "\n";
  }
  // Classes the inputs do not prove (unknown or bounded die area), with the reason.
  bool noted = false;
  for (const auto& m : catalog.models) {
    if (m.class_note.empty()) continue;
    if (!noted) std::cout << "\n* Class not proven by the inputs:\n";
    noted = true;
    std::cout << "  " << m.id << ": " << m.class_note << "\n";
  }
  if (!catalog.as_of.empty()) std::cout << "\nCatalog as of " << catalog.as_of << ".\n";
  if (!catalog.partitions.empty()) {
    std::cout << "\nPartitions (count as a fraction of their parent):\n";
    for (const auto& p : catalog.partitions) {
      std::cout << "  " << pad(p.resource, 28) << fixed(p.fraction, 4) << " of "
                << join(p.parent_models) << "\n";
    }
  }
}

nlohmann::json to_json(const pol::Catalog& catalog) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : catalog.models) {
    nlohmann::json labels = nlohmann::json::array();
    for (const auto& l : m.node_labels) labels.push_back({{"key", l.key}, {"value", l.value}});
    models.push_back(
        {{"id", m.id},
         {"vendor", m.vendor},
         {"name", m.display_name},
         {"dense_tops", m.dense_tops},
         {"bit_length", m.bit_length},
         {"die_area_mm2", m.die_area_mm2},
         {"die_area_upper_bound", m.die_area_upper_bound},
         {"dram_bandwidth_gbs",
          m.dram_bandwidth_gbs > 0 ? nlohmann::json(m.dram_bandwidth_gbs) : nlohmann::json()},
         {"interconnect_bandwidth_gbs", m.interconnect_bandwidth_gbs > 0
                                            ? nlohmann::json(m.interconnect_bandwidth_gbs)
                                            : nlohmann::json()},
         {"datacenter", m.datacenter},
         {"resources", m.resources},
         {"node_labels", labels},
         {"tpp", m.tpp},
         {"pd", m.pd ? nlohmann::json(*m.pd) : nlohmann::json()},
         {"class", pol::to_string(m.export_class)},
         {"controlled", pol::is_controlled(m.export_class)},
         {"class_note", m.class_note},
         {"source", m.source}});
  }
  nlohmann::json partitions = nlohmann::json::array();
  for (const auto& p : catalog.partitions) {
    partitions.push_back(
        {{"resource", p.resource}, {"parents", p.parent_models}, {"fraction", p.fraction}});
  }
  return {{"as_of", catalog.as_of},
          {"models", models},
          {"partitions", partitions},
          {"accelerator_resource_prefixes", catalog.accelerator_resource_prefixes}};
}

int run_catalog(const std::string& output, const std::string& policy_path) {
  check_one_of("--output", output, {"text", "json"});
  pol::Catalog catalog;
  try {
    catalog =
        policy_path.empty() ? pol::builtin_catalog() : load_policy_or_default(policy_path).catalog;
  } catch (const pol::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  if (output == "json") {
    std::cout << to_json(catalog).dump(2) << "\n";
  } else {
    print_table(catalog);
  }
  return 0;
}

}  // namespace

void add_catalog(CLI::App& root, Action& action) {
  CLI::App* catalog =
      add_command(root, "catalog", "list the accelerator models with TPP and 3A090 class");
  struct Flags {
    std::string output = "text";
    std::string policy;
  };
  auto flags = std::make_shared<Flags>();
  add_flag_option(*catalog, "-o,--output", flags->output, "output format")
      ->type_name("text|json")
      ->default_str("text");
  add_flag_option(*catalog, "--policy", flags->policy,
                  "list the catalog of this policy file (with its overrides)")
      ->type_name("FILE");
  add_notes(*catalog,
            "Lists the accelerator models with their datasheet inputs, TPP (= dense TOPS x bit "
            "length), performance density (TPP / die area) and 3A090 class, computed with the "
            "rule's formulas.");
  catalog->parse_complete_callback(
      [&action, flags] { action = [flags] { return run_catalog(flags->output, flags->policy); }; });
}

}  // namespace exportgate::cli
