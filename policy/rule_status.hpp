// Dates and status of rule sets and rules: when a rule took effect, whether it is enforced, and
// since when and on whose word. Every citation exportgate shows carries them, because a
// compliance officer reads a denial as a citation and must see that, e.g., the AI diffusion
// framework has not been enforced since 2025-05-13.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace exportgate::policy {

enum class RuleState { kInForce, kNotEnforced, kSuspended, kSuperseded, kPending };
// "in-force", "not-enforced", "suspended", "superseded", "pending"
std::string_view to_string(RuleState s);
std::optional<RuleState> parse_rule_state(std::string_view text);

struct RuleStatus {
  std::string effective_from;   // ISO date "2025-01-13"; "" = not stated
  std::string effective_until;  // ISO date; "" = open-ended
  RuleState state = RuleState::kInForce;
  std::string since;      // ISO date the state holds from; "" = not stated
  std::string source;     // who says so (press release, FR notice, law-firm note)
  bool declared = false;  // any of the above was given (else the rule takes its rule set's)
};

// "not enforced since 2025-05-13", "in force since 2023-11-17", "pending from 2026-06-01".
std::string status_text(const RuleStatus& s);

// True when `date` (ISO, "YYYY-MM-DD") is a valid calendar date.
bool valid_iso_date(std::string_view date);

struct RuleSet {
  std::string name;      // "AI diffusion framework"
  std::string citation;  // "90 FR 4544 (Jan 15 2025)"
  RuleStatus status;
};

// "AI diffusion framework, 90 FR 4544 (Jan 15 2025) (not enforced since 2025-05-13)"; "" when the
// rule set has no name.
std::string rule_set_text(const RuleSet& r);

// What a decision cites for a rule: "<rule> (<own status>); rule set: <rule set text>". The rule's
// own status is shown only when it declares one (else the rule set's applies and is shown there).
std::string citation_text(std::string_view rule, const RuleStatus& own, const RuleSet& set);

}  // namespace exportgate::policy
