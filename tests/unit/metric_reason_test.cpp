// The `reason` label of denials comes from a bounded set: every decision code in the sources
// (found by scanning them, so a code added later is checked too) maps to one of its values,
// never to the catch-all "other".
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "webhook/metric_labels.hpp"

namespace {

using exportgate::webhook::denial_reason;
using exportgate::webhook::kDenialReasons;

// Codes that are no denial: an admin's recorded relabel (allowed) and the audit's warning.
const std::set<std::string> kNotDenials = {"namespace-label-change", "near-cap"};

std::set<std::string> codes_in_sources() {
  // deny(d, "code", ...), x.code = "code", {"code", "code"}
  const std::regex pattern(
      R"re(deny\(d,\s*"([a-z-]+)"|\.code\s*=\s*"([a-z-]+)"|\{"code",\s*"([a-z-]+)"\})re");
  std::set<std::string> codes;
  for (const char* dir : {"policy", "webhook"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(
             std::filesystem::path(EXPORTGATE_SOURCE_DIR) / dir)) {
      if (entry.path().extension() != ".cpp") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string s = text.str();
      for (std::sregex_iterator it(s.begin(), s.end(), pattern), end; it != end; ++it) {
        for (size_t g = 1; g < it->size(); ++g) {
          if ((*it)[g].matched) codes.insert((*it)[g].str());
        }
      }
    }
  }
  return codes;
}

bool bounded(std::string_view reason) {
  return std::find(std::begin(kDenialReasons), std::end(kDenialReasons), reason) !=
         std::end(kDenialReasons);
}

TEST(MetricReason, EveryDecisionCodeMapsIntoTheBoundedSet) {
  const auto codes = codes_in_sources();
  // The scan itself works: the engine's codes are found.
  for (const char* known :
       {"tenant-cap", "jurisdiction-cap", "tier-prohibited", "unknown-jurisdiction", "beyond-range",
        "namespace-label-guard", "ledger-unavailable", "malformed-object", "reserve-conflict"}) {
    EXPECT_TRUE(codes.count(known)) << known << " not found in the sources";
  }
  for (const auto& code : codes) {
    if (kNotDenials.count(code)) continue;
    const auto reason = denial_reason(code);
    EXPECT_TRUE(bounded(reason)) << code << " -> " << reason;
    EXPECT_NE(reason, "other") << "decision code \"" << code
                               << "\" has no reason label: add it to denial_reason()";
  }
}

TEST(MetricReason, GroupsCodesByCause) {
  EXPECT_EQ(denial_reason(""), "");
  EXPECT_EQ(denial_reason("tier-prohibited"), "jurisdiction");
  EXPECT_EQ(denial_reason("licence-required"), "jurisdiction");
  EXPECT_EQ(denial_reason("tenant-cap"), "cap");
  EXPECT_EQ(denial_reason("jurisdiction-cap"), "cap");
  EXPECT_EQ(denial_reason("namespace-label-guard"), "label-guard");
  // Whatever a future code is, the label stays in the set.
  EXPECT_EQ(denial_reason("something-new"), "other");
  EXPECT_TRUE(bounded(denial_reason("something-new")));
}

}  // namespace
