// The TPPLedger CRD declares every field the ledger writes: the API server prunes a field its
// structural schema does not know, silently, so an undeclared field is lost on the first write
// (the Kueue workload reservation's `link`, `workload` and `podsInUseTPP` were, issue 17).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "webhook/ledger_model.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

// The chart's CRD template as plain YAML: its comment block and template lines removed.
YAML::Node ledger_crd() {
  std::ifstream in(std::filesystem::path(EXPORTGATE_SOURCE_DIR) /
                   "charts/exportgate/templates/crd-tppledgers.yaml");
  std::stringstream text;
  text << in.rdbuf();
  const std::string no_comment =
      std::regex_replace(text.str(), std::regex(R"(\{\{-? /\*[\s\S]*?\*/ ?-?\}\})"), "");
  std::istringstream lines(no_comment);
  std::string yaml, line;
  while (std::getline(lines, line)) {
    if (line.find("{{") == std::string::npos) yaml += line + "\n";
  }
  return YAML::Load(yaml);
}

// Every member of `value` that `schema` does not declare, as a path.
void undeclared(const json& value, const YAML::Node& schema, const std::string& path,
                std::vector<std::string>& out) {
  if (value.is_object()) {
    if (schema["x-kubernetes-preserve-unknown-fields"]) return;
    for (const auto& [key, member] : value.items()) {
      if (schema["properties"] && schema["properties"][key]) {
        undeclared(member, schema["properties"][key], path + "." + key, out);
      } else if (schema["additionalProperties"] && schema["additionalProperties"].IsMap()) {
        undeclared(member, schema["additionalProperties"], path + "." + key, out);
      } else {
        out.push_back(path + "." + key);
      }
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      undeclared(value[i], schema["items"], path + "[" + std::to_string(i) + "]", out);
    }
  }
}

TEST(LedgerCrdSchema, DeclaresEveryFieldTheLedgerWrites) {
  wh::LedgerState s;
  s.jurisdiction = "IN";
  s.tenants["acme"] = {30, 0};
  s.last_reconcile = std::chrono::system_clock::now();
  // A Kueue workload reservation, a Pod's reservation inside it, a plain Pod's.
  s.reservations.push_back(
      {"kueue:w", "acme", 200, "acme", "", {}, "acme/job", /*workload=*/true, 100});
  s.reservations.push_back({"pod-1", "acme", 100, "acme", "p1", {}, "acme/job", false, 0});
  s.reservations.push_back({"pod-x", "acme", 50, "acme", "x", {}, "", false, 0});
  s.reservations.back().claim_uid = "mutate-uid";  // what the stored Pod carries
  s.leases.push_back({"replica-a/1f2e", "acme", 400, 3, std::chrono::system_clock::now()});
  s.reclaim = "2026-12-03T10:00:00.000Z";
  s.counted_through = 123456;
  s.refresh_reserved();
  const json spec = wh::ledger_to_spec(s);
  ASSERT_TRUE(spec["reservations"][0].contains("link"));  // what this test is about
  ASSERT_TRUE(spec["reservations"][0].contains("workload"));
  ASSERT_TRUE(spec["reservations"][2].contains("claimUid"));
  ASSERT_TRUE(spec["leases"][0].contains("generation"));
  ASSERT_TRUE(spec["tenants"]["acme"].contains("leasedTPP"));
  ASSERT_TRUE(spec.contains("reclaim"));
  ASSERT_TRUE(spec.contains("countedThrough"));

  const YAML::Node crd = ledger_crd();
  ASSERT_EQ(crd["spec"]["names"]["kind"].as<std::string>(), "TPPLedger");
  for (const auto& version : crd["spec"]["versions"]) {
    const YAML::Node schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    ASSERT_TRUE(schema.IsMap());
    std::vector<std::string> missing;
    undeclared(spec, schema, "spec", missing);
    EXPECT_TRUE(missing.empty()) << version["name"].as<std::string>()
                                 << ": the API server would prune "
                                 << ::testing::PrintToString(missing);
  }
}

}  // namespace
