// Files compiled into the binary: the presets and the accelerator catalog (policy/presets/).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace exportgate::policy {

struct EmbeddedFile {
  std::string_view name;     // file stem: "catalog", "diffusion-2025"
  std::string_view content;  // YAML text
};

const std::vector<EmbeddedFile>& embedded_files();

inline std::optional<std::string_view> embedded_file(std::string_view name) {
  for (const auto& f : embedded_files()) {
    if (f.name == name) return f.content;
  }
  return std::nullopt;
}

}  // namespace exportgate::policy
