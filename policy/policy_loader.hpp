// Loads Policy files (YAML, apiVersion exportgate.io/v1alpha1, kind Policy) on top of a preset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace exportgate::policy {

// Names of the presets compiled into the binary ("diffusion-2025", "controls-2023").
std::vector<std::string> preset_names();
// The default preset used when no policy is given.
inline constexpr std::string_view kDefaultPreset = "diffusion-2025";

// Builds the effective policy of a preset alone. Throws PolicyError for an unknown name.
Policy load_preset(std::string_view name);

// Parses `text` (the contents of `filename`, used only in diagnostics) and applies it on top of
// the preset it names (spec.preset, default diffusion-2025; "none" for an empty base).
// Throws PolicyError with every problem found, each with file:line:column.
Policy load_policy(std::string_view text, std::string_view filename);

}  // namespace exportgate::policy
