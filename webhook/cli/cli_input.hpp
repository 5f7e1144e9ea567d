// Input for the offline subcommands: reading files or stdin, and loading the policy to use.
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>

#include "policy/policy.hpp"
#include "policy/policy_loader.hpp"

namespace exportgate::cli {

// A file that cannot be read. The message names the file and the reason.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a whole file; "-" reads stdin. Throws InputError.
std::string read_input(const std::string& path);

// Display name of an input path in messages: "<stdin>" for "-".
std::string input_name(const std::string& path);

// The policy in `path`, or the default preset when `path` is empty. Throws InputError or
// policy::PolicyError (with every diagnostic).
policy::Policy load_policy_or_default(const std::string& path,
                                      const policy::LoadOptions& options = {});

// What is wrong with a `--in-force-on` value ("YYYY-MM-DD" or "today"); "" when nothing.
std::string in_force_flag_problem(const std::string& value);

// A policy argument of `policy diff` and `audit`: "preset:NAME", a file ("-" = stdin), or a bare
// preset name when no file of that name exists (a file wins). Throws like load_policy_or_default.
policy::Policy load_policy_argument(const std::string& arg,
                                    const policy::LoadOptions& options = {});

}  // namespace exportgate::cli
