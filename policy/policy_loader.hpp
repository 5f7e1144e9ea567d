// Loads Policy files (YAML, apiVersion exportgate.io/v1alpha1, kind Policy) on top of a preset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace exportgate::policy {

// Names of the presets ("diffusion-2025", "controls-2023", "current"; `current` is the rules in
// force on the selected date, see in_force.hpp).
std::vector<std::string> preset_names();
// The default preset used when no policy is given.
inline constexpr std::string_view kDefaultPreset = "diffusion-2025";

// Builds the effective policy of a preset alone. Throws PolicyError for an unknown name.
Policy load_preset(std::string_view name);

// Parses `text` (the contents of `filename`, used only in diagnostics) and applies it on top of
// the preset it names (spec.preset, default diffusion-2025; "none" for an empty base).
// Throws PolicyError with every problem found, each with file:line:column.
Policy load_policy(std::string_view text, std::string_view filename);

struct LoadOptions {
  // Selects the rules in force on this date, overriding spec.inForceOn (`--in-force-on`):
  // "YYYY-MM-DD" or "today"; "" = as the policy says.
  std::string in_force_on;
  std::string today;  // what "today" means (ISO); "" = today in UTC
};
Policy load_policy(std::string_view text, std::string_view filename, const LoadOptions& options);
// A preset alone with LoadOptions (for `current` on a date).
Policy load_preset(std::string_view name, const LoadOptions& options);

}  // namespace exportgate::policy
