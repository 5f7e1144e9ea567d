// Reading manifests and policies for the offline subcommands (see cli_input.hpp).
#include "webhook/cli_input.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "policy/policy_loader.hpp"

namespace exportgate::cli {

std::string input_name(const std::string& path) {
  return path == "-" ? "<stdin>" : path;
}

std::string read_input(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    if (std::cin.bad()) throw InputError("<stdin>: read failed");
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": " + std::strerror(errno));
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path + ": read failed");
  return ss.str();
}

policy::Policy load_policy_or_default(const std::string& path) {
  if (path.empty()) return policy::load_preset(policy::kDefaultPreset);
  return policy::load_policy(read_input(path), input_name(path));
}

namespace {

constexpr std::string_view kPresetPrefix = "preset:";

std::string known_presets() {
  std::string s;
  for (const auto& n : policy::preset_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

policy::Policy load_policy_argument(const std::string& arg) {
  if (arg.starts_with(kPresetPrefix)) return policy::load_preset(arg.substr(kPresetPrefix.size()));
  std::error_code ec;
  if (arg == "-" || std::filesystem::exists(arg, ec)) return load_policy_or_default(arg);
  for (const auto& n : policy::preset_names()) {
    if (n == arg) return policy::load_preset(arg);
  }
  throw InputError(arg + ": no such file, and not a preset name (presets: " + known_presets() +
                   ")");
}

}  // namespace exportgate::cli
