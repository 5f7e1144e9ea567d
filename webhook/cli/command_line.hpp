// The command line of the `exportgate` binary: every subcommand parsed by one CLI11 parser, with
// `--help` generated from the flag definitions (flag_definitions.hpp, cmd_*.cpp) and each flag
// also read from an EXPORTGATE_* environment variable. No CLI11 type in here, so the tests and
// main.cpp need not see the library.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace exportgate::cli {

// A bad flag value or combination, found after parsing. `flag` ("--threads", or "" when no
// single flag is at fault) lets the caller say whether the value came from the environment.
// Printed as "exportgate COMMAND: MESSAGE"; the exit status is 2.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& message, std::string flag = {})
      : std::runtime_error(message), flag_(std::move(flag)) {}
  const std::string& flag() const { return flag_; }

 private:
  std::string flag_;
};

// The whole program: parses argv against every subcommand, runs the chosen one, and turns any
// usage error into a message and exit status 2. Help goes to stdout with exit status 0.
int run_command_line(int argc, char** argv);

// What the definitions declare, for tests: each command (its words after `exportgate`, e.g.
// {"policy", "diff"}) with its flags (long name and environment variable).
struct CommandFlags {
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> flags;
};
std::vector<CommandFlags> command_flags();

}  // namespace exportgate::cli
