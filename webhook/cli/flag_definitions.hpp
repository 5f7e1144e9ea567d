// Helpers for the flag definitions of the subcommands (cmd_*.cpp): each flag is defined once,
// with its help text and its EXPORTGATE_* environment variable.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "webhook/command_line.hpp"

namespace exportgate::cli {

// What a parsed subcommand does; returns the exit status. Set by the subcommand's definition
// when its part of the command line has parsed.
using Action = std::function<int()>;

// "--foo-bar" -> "EXPORTGATE_FOO_BAR".
std::string env_name(const std::string& long_flag);

// The settings every command shares: a repeated single-value flag keeps its last value.
void configure_command(CLI::App& app);

// A subcommand of `parent`: its own flags only, extras left for the caller to report, help
// generated, and its environment variables read only when it is the one that runs.
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description);

// Text after the flags in `app`'s help (what it does, exit status), ahead of the environment
// rule every command's help ends with.
void add_notes(CLI::App& app, const std::string& notes);

// An option `names` ("-o,--output") bound to `target`, also read from the variable of its long
// name (or `env` when given: see docs/operations.md for the names two commands share).
template <typename T>
CLI::Option* add_flag_option(CLI::App& app, const std::string& names, T& target,
                             const std::string& help, const std::string& env = {}) {
  CLI::Option* opt = app.add_option(names, target, help);
  opt->envname(env.empty() ? env_name(opt->get_name()) : env);
  return opt;
}

// A flag without a value, bound to `target`; its variable takes true/false (1/0, yes/no).
CLI::Option* add_switch(CLI::App& app, const std::string& names, bool& target,
                        const std::string& help);

// --in-force-on DATE of `check` and `audit`, bound to `target`.
CLI::Option* add_in_force_on(CLI::App& app, std::string& target);

// The --in-force-on date of `flag` (as add_in_force_on made it) when given, else nullopt; throws
// UsageError when it is no date.
std::optional<std::string> in_force_on_value(const CLI::Option& flag, const std::string& value);

// A value among `allowed`; throws UsageError "FLAG must be A or B, got "V"".
void check_one_of(const std::string& flag, const std::string& value,
                  const std::vector<std::string>& allowed);

// Parses "k=v,k2=v2" (namespace labels). Throws UsageError for an entry without '='.
std::map<std::string, std::string> parse_key_values(const std::string& text);

// The message for a bad `--tenant-namespace` value (serve and audit).
std::string tenant_namespace_error(const std::string& value);

}  // namespace exportgate::cli
