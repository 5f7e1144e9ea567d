// The subcommands of the `exportgate` binary. Each takes the arguments after its own name and
// returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace exportgate::cli {

using Args = std::vector<std::string>;

int run_serve(const Args& args);   // webhook/cli/cmd_serve.cpp
int run_check(const Args& args);   // webhook/cli/cmd_check.cpp: 0 admitted, 1 denied, 2 bad input
int run_policy(const Args& args);  // webhook/cli/cmd_policy.cpp: `policy validate FILE`
int run_policy_diff(const Args& args);  // webhook/cli/cmd_policy_diff.cpp: `policy diff A B`
int run_audit(const Args& args);        // webhook/cli/cmd_audit.cpp: 0 clean, 1 violations, 2 error
int run_log(const Args& args);          // webhook/cli/cmd_log.cpp: `log verify FILE...`
int run_catalog(const Args& args);      // webhook/cli/cmd_catalog.cpp
int run_version(const Args& args);      // webhook/cli/cmd_version.cpp

}  // namespace exportgate::cli
