// Lookups on the Policy model: tier of a jurisdiction, limits of a tier, jurisdiction caps.
#include "policy/policy.hpp"

#include "policy/jurisdictions.hpp"

namespace exportgate::policy {

std::string_view to_string(Mode m) {
  switch (m) {
    case Mode::kEnforce:
      return "enforce";
    case Mode::kWarn:
      return "warn";
    case Mode::kAudit:
      return "audit";
  }
  return "enforce";
}

std::string_view to_string(ControlledAction a) {
  switch (a) {
    case ControlledAction::kAllow:
      return "allow";
    case ControlledAction::kCap:
      return "cap";
    case ControlledAction::kDeny:
      return "deny";
  }
  return "deny";
}

std::string_view to_string(UntenantedNamespaces u) {
  return u == UntenantedNamespaces::kOwnTenant ? "own-tenant" : "deny";
}

std::string_view to_string(Authorization a) {
  switch (a) {
    case Authorization::kNone:
      return "none";
    case Authorization::kValidatedEndUser:
      return "validated-end-user";
    case Authorization::kLicensed:
      return "licensed";
  }
  return "none";
}

bool HeadquartersRule::applies_to(std::string_view code) const {
  for (const auto& j : jurisdictions) {
    if (j == code) return true;
  }
  return false;
}

TierName Policy::tier_of(std::string_view jurisdiction) const {
  const std::string code = normalize_jurisdiction_code(jurisdiction);
  if (code.empty()) return {};
  if (auto it = jurisdiction_tiers.find(code); it != jurisdiction_tiers.end()) return it->second;
  // Only officially assigned codes fall back to the default tier: "XX" stays unknown.
  if (!find_jurisdiction(code)) return {};
  return default_tier;
}

const TierLimits* Policy::limits_of(std::string_view tier) const {
  if (tier.empty()) return nullptr;
  auto it = tiers.find(std::string(tier));
  return it == tiers.end() ? nullptr : &it->second;
}

std::optional<double> Policy::jurisdiction_cap(std::string_view jurisdiction) const {
  const std::string code = normalize_jurisdiction_code(jurisdiction);
  if (code.empty()) return std::nullopt;
  if (auto it = jurisdiction_caps.find(code); it != jurisdiction_caps.end()) return it->second;
  const TierLimits* limits = limits_of(tier_of(code));
  if (!limits) return std::nullopt;
  return limits->jurisdiction_cap_tpp;
}

}  // namespace exportgate::policy
