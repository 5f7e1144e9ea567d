// Reading manifests and policies for the offline subcommands (see cli_input.hpp).
#include "webhook/cli_input.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "policy/in_force.hpp"
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

policy::Policy load_policy_or_default(const std::string& path, const policy::LoadOptions& options) {
  if (path.empty()) return policy::load_preset(policy::kDefaultPreset, options);
  return policy::load_policy(read_input(path), input_name(path), options);
}

std::string in_force_flag_problem(const std::string& value) {
  if (policy::resolve_in_force_date(value, policy::today_utc())) return {};
  return "--in-force-on \"" + value + "\" is not a date; expected YYYY-MM-DD or today";
}

namespace {

constexpr std::string_view kPresetPrefix = "preset:";

std::string known_presets() {
  std::string s;
  for (const auto& n : policy::preset_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

policy::Policy load_policy_argument(const std::string& arg, const policy::LoadOptions& options) {
  // "current@2025-05-12" (or any preset @ a date): that preset's rules in force on the date, so
  // `policy diff current@2025-05-12 current@2025-05-13` compares two dates.
  if (const auto at = arg.rfind('@'); at != std::string::npos && at > 0) {
    std::string name = arg.substr(0, at);
    if (name.starts_with(kPresetPrefix)) name = name.substr(kPresetPrefix.size());
    const auto names = policy::preset_names();
    std::error_code ec;
    if (std::find(names.begin(), names.end(), name) != names.end() &&
        !std::filesystem::exists(arg, ec)) {
      const std::string date = arg.substr(at + 1);
      if (auto problem = in_force_flag_problem(date); !problem.empty()) {
        throw InputError(arg + ": \"" + date + "\" is not a date; expected YYYY-MM-DD or today");
      }
      policy::LoadOptions dated = options;
      dated.in_force_on = date;
      return policy::load_preset(name, dated);
    }
  }
  if (arg.starts_with(kPresetPrefix)) {
    return policy::load_preset(arg.substr(kPresetPrefix.size()), options);
  }
  std::error_code ec;
  if (arg == "-" || std::filesystem::exists(arg, ec)) return load_policy_or_default(arg, options);
  for (const auto& n : policy::preset_names()) {
    if (n == arg) return policy::load_preset(arg, options);
  }
  throw InputError(arg + ": no such file, and not a preset name (presets: " + known_presets() +
                   ")");
}

}  // namespace exportgate::cli
