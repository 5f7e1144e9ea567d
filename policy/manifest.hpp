// Turns manifest text (multi-document YAML, JSON, a List, or an AdmissionReview) into objects.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace exportgate::policy {

struct ManifestObject {
  nlohmann::json object;  // the Kubernetes object
  std::string origin;     // "file.yaml:12" (document start) for messages
  // Present when the object came out of an AdmissionReview request.
  std::string operation;  // "CREATE", ...
  std::string request_namespace;
  std::string sub_resource;  // "scale" ...
};

// Parses YAML (any number of documents) or JSON. Lists (kind ends with "List", with items) are
// flattened; AdmissionReviews yield request.object with the request's namespace. Empty
// documents are skipped. Throws ManifestError with file:line:column for syntax errors and for
// documents that are not objects or lack apiVersion/kind.
std::vector<ManifestObject> parse_manifests(std::string_view text, std::string_view filename);

// Converts one parsed YAML document into JSON (ints stay ints, "true" stays a bool, quoted
// scalars stay strings). Exposed for tests and the policy loader.
nlohmann::json yaml_text_to_json(std::string_view yaml_text, std::string_view filename);

}  // namespace exportgate::policy
