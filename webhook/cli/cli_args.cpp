// Flag parsing for the offline subcommands (see cli_args.hpp).
#include "webhook/cli_args.hpp"

namespace exportgate::cli {

ParsedArgs::ParsedArgs(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-" || arg.empty() || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      positional_.insert(positional_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.name == name || (!s.alias.empty() && s.alias == name)) spec = &s;
    }
    if (!spec) throw UsageError("unknown flag " + name);
    if (!spec->takes_value) {
      if (inline_value) throw UsageError(spec->name + " takes no value");
      values_[spec->name].push_back("true");
      continue;
    }
    if (inline_value) {
      values_[spec->name].push_back(*inline_value);
    } else if (i + 1 < args.size()) {
      values_[spec->name].push_back(args[++i]);
    } else {
      throw UsageError(spec->name + " needs a value");
    }
  }
}

std::optional<std::string> ParsedArgs::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::values(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::map<std::string, std::string> parse_key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw UsageError("expected key=value, got \"" + item + "\"");
      }
      out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string tenant_namespace_error(const std::string& value) {
  return "--tenant-namespace: expected NAMESPACE=CC with an ISO 3166-1 alpha-2 code, got \"" +
         value + "\"";
}

}  // namespace exportgate::cli
