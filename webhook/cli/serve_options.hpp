// Command-line flags of `exportgate serve`, parsed into ServerOptions.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "webhook/decision_log.hpp"
#include "webhook/server.hpp"

namespace exportgate::webhook {

// A flag error; `exportgate serve` prints it with the usage and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ServeCommand {
  ServerOptions options;
  DecisionLogOptions decision_log;  // path "" = no decision log
  bool help = false;
};

ServeCommand parse_serve_args(const std::vector<std::string>& args);

extern const char* const kServeUsage;

}  // namespace exportgate::webhook
