// Lookups on the Policy model: tier of a jurisdiction, limits of a tier, jurisdiction caps.
#include "policy/policy.hpp"

#include "policy/jurisdictions.hpp"
#include "policy/policy_numbers.hpp"

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

bool PartRule::applies_in(std::string_view jurisdiction, std::string_view headquarters) const {
  if (jurisdictions.empty()) return true;
  for (const auto& j : jurisdictions) {
    if (j == jurisdiction || (by_headquarters && !headquarters.empty() && j == headquarters)) {
      return true;
    }
  }
  return false;
}

bool PartRule::selects(const AcceleratorModel& m) const {
  switch (kind) {
    case Kind::kProhibitedParts:
      for (const auto& id : models) {
        if (id == m.id) return true;
      }
      return false;
    case Kind::kBandwidthLicence: {
      // 3A090 parts need a licence under the tier rules already; this reaches the parts below.
      if (is_controlled(m.export_class)) return false;
      const bool dram_unknown = !(m.dram_bandwidth_gbs > 0);
      const bool link_unknown = !(m.interconnect_bandwidth_gbs > 0);
      if (dram_unknown || link_unknown) return true;  // cannot be shown to be below
      return (dram_at_least > 0 && m.dram_bandwidth_gbs >= dram_at_least) ||
             (interconnect_at_least > 0 && m.interconnect_bandwidth_gbs >= interconnect_at_least) ||
             (total_at_least > 0 &&
              m.dram_bandwidth_gbs + m.interconnect_bandwidth_gbs >= total_at_least);
    }
    case Kind::kReviewBand:
      // A part of unknown DRAM bandwidth cannot be shown to be inside the band.
      return is_controlled(m.export_class) && m.tpp < tpp_below && m.dram_bandwidth_gbs > 0 &&
             m.dram_bandwidth_gbs < dram_below;
  }
  return false;
}

std::string_view to_string(PartRule::Kind k) {
  switch (k) {
    case PartRule::Kind::kBandwidthLicence:
      return "bandwidth-licence";
    case PartRule::Kind::kReviewBand:
      return "review-band";
    case PartRule::Kind::kProhibitedParts:
      return "prohibited-parts";
  }
  return "prohibited-parts";
}

std::string describe(const PartRule& r) {
  std::string where;
  for (const auto& j : r.jurisdictions) where += (where.empty() ? "" : ",") + j;
  if (where.empty()) where = "every jurisdiction";
  if (r.by_headquarters) where += " (jurisdiction or headquarters)";
  std::string what;
  switch (r.kind) {
    case PartRule::Kind::kProhibitedParts:
      for (const auto& m : r.models) what += (what.empty() ? "" : ",") + m;
      return "denied: " + what + " in " + where;
    case PartRule::Kind::kBandwidthLicence:
      if (r.dram_at_least > 0) what += "DRAM >= " + format_thousands(r.dram_at_least) + " GB/s";
      if (r.interconnect_at_least > 0) {
        what += (what.empty() ? "" : " or ") + std::string("interconnect >= ") +
                format_thousands(r.interconnect_at_least) + " GB/s";
      }
      if (r.total_at_least > 0) {
        what += (what.empty() ? "" : " or ") + std::string("DRAM + interconnect >= ") +
                format_thousands(r.total_at_least) + " GB/s";
      }
      return "licence required for parts below 3A090 with " + what +
             " (unknown bandwidth counts as reaching it) in " + where;
    case PartRule::Kind::kReviewBand:
      return "case-by-case review (still licence required) for 3A090 parts with TPP < " +
             format_thousands(r.tpp_below) + " and DRAM bandwidth < " +
             format_thousands(r.dram_below) + " GB/s in " + where +
             "; above it the presumption of denial stays";
  }
  return {};
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
