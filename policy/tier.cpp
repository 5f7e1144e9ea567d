// Display names of jurisdiction tiers for messages.
#include "policy/tier.hpp"

namespace exportgate::policy {

std::string tier_display(std::string_view tier) {
  if (tier.empty()) return "unknown";
  // "tier1" -> "Tier 1": the policy's names stay machine-friendly, messages read naturally.
  constexpr std::string_view kPrefix = "tier";
  if (tier.size() > kPrefix.size() && tier.starts_with(kPrefix)) {
    const auto rest = tier.substr(kPrefix.size());
    bool digits = true;
    for (char c : rest) digits = digits && c >= '0' && c <= '9';
    if (digits) return "Tier " + std::string(rest);
  }
  return std::string(tier);
}

}  // namespace exportgate::policy
