// The `current` preset and date warnings. Every date below has its source in
// docs/policy.md ("Rules in force on a date") and /policy/presets/*.yaml.
#include "policy/in_force.hpp"

#include <algorithm>
#include <chrono>

#include "policy/errors.hpp"
#include "policy/policy_hash.hpp"
#include "policy/policy_loader.hpp"
#include "policy/rule_status.hpp"

namespace exportgate::policy {

namespace {

// AI diffusion framework: effective 2025-01-13 (90 FR 4544 "Dates"); not enforced from
// 2025-05-13 (BIS press release).
constexpr std::string_view kDiffusionFrom = "2025-01-13";
constexpr std::string_view kDiffusionNotEnforced = "2025-05-13";
// Licence requirements of 88 FR 73458 in force.
constexpr std::string_view kControls2023From = "2023-11-17";
// Cambodia left Country Group D:5 (Fenwick, FR 2026-02262).
constexpr std::string_view kCambodiaLeftD5 = "2026-02-03";
// NVIDIA was told on 2025-04-09 that the H20 needs a licence for China (and HK, Macau, D:5);
// AMD likewise for the MI308 [S: Tom's Hardware; the date from NVIDIA's filing as reported ?].
constexpr std::string_view kH20LicenceFrom = "2025-04-09";
// BIS guidance on Huawei Ascend and General Prohibition 10, with the rescission announcement.
constexpr std::string_view kAscendGuidance = "2025-05-13";
// 91 FR 1684 (FR Doc 2026-00789), effective on publication.
constexpr std::string_view kReviewBandFrom = "2026-01-15";

RuleStatus in_force_since(std::string_view from, std::string source) {
  RuleStatus s;
  s.effective_from = std::string(from);
  s.since = std::string(from);
  s.source = std::move(source);
  s.declared = true;
  return s;
}

// The rules that select parts by model or bandwidth, each with the date it came into force.
// `d5_and_macau`: Macau, Hong Kong and Country Group D:5 on the date asked for.
std::vector<PartRule> dated_part_rules(const std::vector<std::string>& d5_and_macau) {
  std::vector<PartRule> rules(3);
  PartRule& h20 = rules[0];
  h20.kind = PartRule::Kind::kBandwidthLicence;
  h20.name = "H20/MI308-class licence";
  h20.jurisdictions = d5_and_macau;
  // The letters named China (with HK, Macau, D:5); reaching D:5/Macau-headquartered entities
  // as the 2023 headquarters rule does is exportgate's fail-closed reading [?].
  h20.by_headquarters = true;
  // Thresholds as reported for the letters (DRAM >= 1,400 GB/s, I/O >= 1,100 GB/s, or
  // together >= 1,700 GB/s) [? press reports; the letters are not public EAR text]. They catch
  // the H20 (4,000 GB/s) and not the L20/L40 class.
  h20.dram_at_least = 1400;
  h20.interconnect_at_least = 1100;
  h20.total_at_least = 1700;
  h20.rule =
      "licence requirement of April 2025 on NVIDIA H20 / AMD MI308-class parts to China, "
      "Hong Kong, Macau and D:5, set by memory and interconnect bandwidth (letters to the "
      "makers, not EAR text [?]; thresholds as reported [?])";
  h20.status = in_force_since(kH20LicenceFrom,
                              "Tom's Hardware, NVIDIA writes off $5.5 billion (2025-04) [S]; "
                              "licences with a 15% revenue share granted from 2025-08 [S]");

  PartRule& ascend = rules[1];
  ascend.kind = PartRule::Kind::kProhibitedParts;
  ascend.name = "Huawei Ascend (GP10 guidance)";
  ascend.models = {"ascend-910b", "ascend-910c", "ascend-910d"};
  ascend.rule =
      "BIS guidance of 2025-05-13: using Huawei Ascend 910B, 910C or 910D anywhere in the world "
      "risks violating General Prohibition 10 (15 CFR 736.2(b)(10)); exportgate denies them in "
      "every jurisdiction";
  ascend.status = in_force_since(kAscendGuidance,
                                 "BIS guidance with the rescission announcement [S: Alston & Bird; "
                                 "Akin Gump]");

  PartRule& band = rules[2];
  band.kind = PartRule::Kind::kReviewBand;
  band.name = "H200/MI325X case-by-case band";
  // China and Macau; Hong Kong is treated as China [?].
  band.jurisdictions = {"CN", "HK", "MO"};
  band.tpp_below = 21000;
  band.dram_below = 6500;
  band.rule =
      "91 FR 1684 (Jan 15 2026): licence applications for China and Macau reviewed case by "
      "case when TPP < 21,000 and total DRAM bandwidth < 6,500 GB/s (H200, MI325X), with "
      "third-party testing and KYC conditions; presumption of denial above";
  band.status = in_force_since(kReviewBandFrom,
                               "govinfo FR Doc 2026-00789 [S]; Baker McKenzie Sanctions News [S]");
  return rules;
}

// The rules that select parts by model or bandwidth, as far as they are in force on `date`.
std::vector<PartRule> part_rules_on(std::string_view date,
                                    const std::vector<std::string>& d5_and_macau) {
  std::vector<PartRule> rules = dated_part_rules(d5_and_macau);
  // ISO dates compare as strings.
  std::erase_if(rules, [&](const PartRule& r) { return date < r.status.effective_from; });
  for (auto& r : rules) r.citation = citation_text(r.rule, r.status, RuleSet{});
  return rules;
}

}  // namespace

std::string today_utc() {
  const auto now = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::year_month_day ymd{now};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<std::string> resolve_in_force_date(std::string_view text, std::string_view today) {
  if (text == "today") return std::string(today);
  if (valid_iso_date(text)) return std::string(text);
  return std::nullopt;
}

long days_since_epoch(std::string_view date) {
  const int y = std::stoi(std::string(date.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(date.substr(5, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(date.substr(8, 2))));
  const std::chrono::sys_days days{std::chrono::year{y} / std::chrono::month{m} /
                                   std::chrono::day{d}};
  return days.time_since_epoch().count();
}

Policy load_current(std::string_view date) {
  if (!valid_iso_date(date)) {
    throw PolicyError(
        {{"current", 0, 0,
          "inForceOn: \"" + std::string(date) + "\" is not a date; expected YYYY-MM-DD or today"}});
  }
  // ISO dates compare as strings.
  if (date < kControls2023From) {
    throw PolicyError({{"current", 0, 0,
                        "inForceOn " + std::string(date) +
                            ": exportgate has no rule data before 2023-11-17 (the Oct 2022 "
                            "rule is not modelled); choose a later date or a preset"}});
  }
  const bool diffusion = date >= kDiffusionFrom && date < kDiffusionNotEnforced;
  Policy p = load_preset(diffusion ? "diffusion-2025" : "controls-2023");
  if (diffusion) {
    // On these dates the framework was in force: say so rather than its later status.
    p.rule_set.status.state = RuleState::kInForce;
    p.rule_set.status.since = std::string(kDiffusionFrom);
    p.rule_set.status.effective_until = std::string(kDiffusionNotEnforced);
  }
  if (date >= kCambodiaLeftD5 && p.headquarters_rule) {
    auto& codes = p.headquarters_rule->jurisdictions;
    codes.erase(std::remove(codes.begin(), codes.end(), "KH"), codes.end());
    p.headquarters_rule->rule += "; Cambodia out of D:5 since 2026-02-03";
  }
  p.part_rules = part_rules_on(
      date, p.headquarters_rule ? p.headquarters_rule->jurisdictions : std::vector<std::string>{});
  for (auto& [name, t] : p.tiers) t.citation = citation_text(t.rule, t.status, p.rule_set);
  if (p.headquarters_rule) {
    p.headquarters_rule->citation =
        citation_text(p.headquarters_rule->rule, p.headquarters_rule->status, RuleSet{});
  }
  p.name = std::string(kCurrentPreset);
  p.preset = std::string(kCurrentPreset);
  p.in_force_on = std::string(date);
  p.hash = policy_hash(p);
  return p;
}

std::vector<std::string> in_force_warnings(const Policy& p, std::string_view today) {
  std::vector<std::string> out;
  const std::string& date = p.in_force_on;
  if (!date.empty()) {
    const RuleStatus& s = p.rule_set.status;
    const bool not_yet = !s.effective_from.empty() && date < s.effective_from;
    const bool stopped = s.state != RuleState::kInForce && s.state != RuleState::kPending &&
                         !s.since.empty() && date >= s.since;
    if (not_yet || stopped) {
      out.push_back("rule set \"" + rule_set_text(p.rule_set) + "\" is not in force on " + date +
                    "; preset \"current\" selects the rules in force on a date");
    }
    auto past = [&](const RuleStatus& rs, const std::string& what) {
      if (!rs.effective_until.empty() && date >= rs.effective_until) {
        out.push_back(what + " was scheduled to change on " + rs.effective_until + " (" +
                      status_text(rs) + "); " + date +
                      " is past it and exportgate's data does not say what followed: check "
                      "the rule and update the policy");
      }
    };
    if (p.preset != kCurrentPreset) past(s, "rule set \"" + p.rule_set.name + "\"");
    for (const auto& [name, t] : p.tiers) past(t.status, "rule of tier \"" + name + "\"");
    if (p.headquarters_rule) past(p.headquarters_rule->status, "the headquarters rule");
    for (const auto& r : p.part_rules) past(r.status, "rule \"" + r.name + "\"");
  }
  const std::string& as_of = p.catalog.as_of;
  if (!as_of.empty() && valid_iso_date(as_of) && valid_iso_date(today) &&
      days_since_epoch(today) - days_since_epoch(as_of) > 365) {
    out.push_back("the accelerator catalog is as of " + as_of + ", more than 12 months before " +
                  std::string(today) +
                  ": newer parts may be missing (they are charged as the worst case they could "
                  "be); update exportgate or add them under spec.catalog");
  }
  return out;
}

}  // namespace exportgate::policy
