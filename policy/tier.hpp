// Jurisdiction tiers. Tiers are named by the policy ("tier1", "tier2", "tier3"); Unknown is
// explicit.
#pragma once

#include <string>
#include <string_view>

namespace exportgate::policy {

// A tier name as used in policy files ("tier1"...). The empty string means "unknown jurisdiction":
// a missing or unrecognised code is never silently treated as any tier.
using TierName = std::string;

// "tier1" -> "Tier 1"; "" -> "unknown"; other names unchanged.
std::string tier_display(std::string_view tier);

}  // namespace exportgate::policy
