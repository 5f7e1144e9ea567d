// The flags of `exportgate serve`, defined once (help, environment variables, validation) and
// parsed into ServerOptions.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "webhook/decision_log.hpp"
#include "webhook/server.hpp"

namespace CLI {
class App;
}

namespace exportgate::webhook {

struct ServeCommand {
  ServerOptions options;
  DecisionLogOptions decision_log;  // path "" = no decision log
};

// Defines serve's flags on `command`. Each value is checked as it is parsed (cli::UsageError
// naming the flag); the returned function then checks the combinations and gives the result.
std::function<ServeCommand()> define_serve_flags(CLI::App& command);

// `exportgate serve ARGS...` parsed with those definitions and the environment (tests). Throws
// cli::UsageError (webhook/command_line.hpp), also for what CLI11 refuses.
ServeCommand parse_serve_args(const std::vector<std::string>& args);

}  // namespace exportgate::webhook
