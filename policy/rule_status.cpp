// Rule status names, dates and the citation text built from them.
#include "policy/rule_status.hpp"

#include <array>

namespace exportgate::policy {

std::string_view to_string(RuleState s) {
  switch (s) {
    case RuleState::kInForce:
      return "in-force";
    case RuleState::kNotEnforced:
      return "not-enforced";
    case RuleState::kSuspended:
      return "suspended";
    case RuleState::kSuperseded:
      return "superseded";
    case RuleState::kPending:
      return "pending";
  }
  return "in-force";
}

std::optional<RuleState> parse_rule_state(std::string_view text) {
  for (RuleState s : {RuleState::kInForce, RuleState::kNotEnforced, RuleState::kSuspended,
                      RuleState::kSuperseded, RuleState::kPending}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

bool valid_iso_date(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  const int year = std::stoi(std::string(d.substr(0, 4)));
  const int month = std::stoi(std::string(d.substr(5, 2)));
  const int day = std::stoi(std::string(d.substr(8, 2)));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day > kDays[static_cast<size_t>(month - 1)]) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return !(month == 2 && day == 29 && !leap);
}

std::string status_text(const RuleStatus& s) {
  std::string t;
  switch (s.state) {
    case RuleState::kInForce:
      t = "in force";
      break;
    case RuleState::kNotEnforced:
      t = "not enforced";
      break;
    case RuleState::kSuspended:
      t = "suspended";
      break;
    case RuleState::kSuperseded:
      t = "superseded";
      break;
    case RuleState::kPending:
      t = "pending";
      break;
  }
  std::string since = s.since;
  if (since.empty() && s.state == RuleState::kInForce) since = s.effective_from;
  if (!since.empty()) t += (s.state == RuleState::kPending ? " from " : " since ") + since;
  if (!s.effective_until.empty()) t += ", until " + s.effective_until;
  return t;
}

std::string rule_set_text(const RuleSet& r) {
  if (r.name.empty()) return {};
  std::string t = r.name;
  if (!r.citation.empty()) t += ", " + r.citation;
  t += " (" + status_text(r.status) + ")";
  return t;
}

std::string citation_text(std::string_view rule, const RuleStatus& own, const RuleSet& set) {
  std::string t(rule);
  if (own.declared) {
    if (!t.empty()) t += ' ';
    t += "(" + status_text(own) + ")";
  }
  const std::string set_text = rule_set_text(set);
  if (!set_text.empty() && !rule.empty()) t += "; rule set: " + set_text;
  return t;
}

}  // namespace exportgate::policy
