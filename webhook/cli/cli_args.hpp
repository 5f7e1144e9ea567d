// Flag parsing shared by the offline subcommands: `--name value`, `--name=value`, short
// aliases (-f, -o), repeated flags, and positional arguments.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace exportgate::cli {

// A usage error: bad or unknown flag. Subcommands print it with their usage and exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;   // "--file"
  std::string alias;  // "-f" or ""
  bool takes_value = true;
};

class ParsedArgs {
 public:
  // Throws UsageError for unknown flags or a missing value.
  ParsedArgs(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  // Last value of a flag, if given.
  std::optional<std::string> value(const std::string& name) const;
  // Every value of a repeated flag, in order.
  std::vector<std::string> values(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Parses "k=v,k2=v2" (namespace labels). Throws UsageError for an entry without '='.
std::map<std::string, std::string> parse_key_values(const std::string& text);

// The message for a bad `--tenant-namespace` value (serve and audit).
std::string tenant_namespace_error(const std::string& value);

}  // namespace exportgate::cli
