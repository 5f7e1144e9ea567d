// The subcommands of the `exportgate` binary. Each add_* defines its command line on `root`
// (webhook/cli/command_line.hpp); when that command is the one parsed, it sets `action` to run
// it, which returns the process exit status.
#pragma once

#include "webhook/flag_definitions.hpp"

namespace exportgate::cli {

void add_serve(CLI::App& root, Action& action);  // cmd_serve.cpp
void add_check(CLI::App& root, Action& action);  // cmd_check.cpp: 0 admitted, 1 denied, 2 bad input
void add_policy(CLI::App& root, Action& action);  // cmd_policy.cpp: validate, show; diff in
                                                  // cmd_policy_diff.cpp
void add_policy_diff(CLI::App& policy, Action& action);
void add_audit(CLI::App& root, Action& action);    // cmd_audit.cpp: 0 clean, 1 violations, 2 error
void add_log(CLI::App& root, Action& action);      // cmd_log.cpp: `log verify FILE...`
void add_catalog(CLI::App& root, Action& action);  // cmd_catalog.cpp
void add_version(CLI::App& root, Action& action);  // cmd_version.cpp

int run_version();  // also `exportgate --version`

}  // namespace exportgate::cli
