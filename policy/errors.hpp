// Error types that cross the policy/ border: every failure carries where it happened.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace exportgate::policy {

// One problem found in a file, reported as file:line:column: message.
struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;

  std::string to_string() const;  // "file:line:col: message"
};

// A policy that cannot be loaded. Holds every problem found, not only the first.
class PolicyError : public std::runtime_error {
 public:
  explicit PolicyError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// A manifest (Pod, Job, AdmissionReview...) that is malformed or cannot be interpreted.
class ManifestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace exportgate::policy
