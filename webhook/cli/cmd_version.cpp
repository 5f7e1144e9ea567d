// `exportgate version`: the build version and the presets compiled into the binary.
#include <iostream>

#include "policy/embedded.hpp"
#include "policy/policy_loader.hpp"
#include "webhook/commands.hpp"

namespace exportgate::cli {

int run_version() {
  std::cout << "exportgate " << EXPORTGATE_VERSION << "\n";
  std::cout << "presets:";
  for (const auto& name : policy::preset_names()) {
    std::cout << " " << name << (name == policy::kDefaultPreset ? " (default)" : "");
  }
  std::cout << "\nembedded files:";
  for (const auto& f : policy::embedded_files()) std::cout << " " << f.name << ".yaml";
  std::cout << "\n";
  return 0;
}

void add_version(CLI::App& root, Action& action) {
  add_command(root, "version", "print the version and the presets compiled in")
      ->parse_complete_callback([&action] { action = run_version; });
}

}  // namespace exportgate::cli
