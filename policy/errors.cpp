// Formatting of the error types in errors.hpp: diagnostics as file:line:column: message.
#include "policy/errors.hpp"

#include <utility>

namespace exportgate::policy {

std::string Diagnostic::to_string() const {
  // Omit unknown positions rather than printing a misleading ":0:0".
  std::string out = file.empty() ? std::string("<input>") : file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  out += ": ";
  out += message;
  return out;
}

namespace {
std::string join_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  if (diagnostics.empty()) return "invalid policy";
  std::string out;
  for (const auto& d : diagnostics) {
    if (!out.empty()) out += '\n';
    out += d.to_string();
  }
  return out;
}
}  // namespace

PolicyError::PolicyError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

}  // namespace exportgate::policy
