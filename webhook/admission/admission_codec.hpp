// AdmissionReview admission.k8s.io/v1: decoding requests (strictly, with clear errors) and
// encoding responses the kube-apiserver accepts (uid echo, status, warnings, patch).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace exportgate::webhook {

inline constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

// The body is not a well-formed v1 AdmissionReview; answered with HTTP 400 and what().
class AdmissionDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
};

struct AdmissionRequest {
  std::string uid;
  GroupVersionKind kind;  // request.kind: the object's kind ("Scale" for */scale)
  std::string resource;   // request.resource.resource: "pods", "deployments"
  std::string sub_resource;
  std::string name;
  std::string namespace_;
  std::string operation;  // CREATE, UPDATE, DELETE, CONNECT
  std::string username;
  std::vector<std::string> groups;
  // null when absent. For a Pod CREATE only the parts admission reads (admission_skim.hpp):
  // the rest of the Pod is validated as JSON but never parsed.
  nlohmann::json object;
  nlohmann::json old_object;  // null when absent
  bool dry_run = false;
};

// Throws AdmissionDecodeError naming the first problem.
AdmissionRequest decode_admission_review(std::string_view body);

struct AdmissionResponse {
  std::string uid;
  bool allowed = true;
  int status_code = 0;         // set with a denial: 403, 400...
  std::string status_reason;   // "Forbidden", "BadRequest"
  std::string status_message;  // shown by kubectl
  std::vector<std::string> warnings;
  std::map<std::string, std::string> audit_annotations;
  std::optional<nlohmann::json> patch;  // a non-empty JSON Patch array, or nothing
};

// The AdmissionReview JSON text the apiserver expects back. Written with direct appends when no
// string needs escaping (the common case), else through nlohmann.
std::string encode_admission_review(const AdmissionResponse& response);
// The same text always built through nlohmann: the reference the fast encoding must match byte
// for byte (tests).
std::string encode_admission_review_dom(const AdmissionResponse& response);

// Standard base64 (with padding), as the apiserver decodes `patch`.
std::string base64_encode(std::string_view data);

// A Kubernetes Status body for HTTP errors (400, 405, 413, 415...).
std::string error_body(int code, std::string_view message);

}  // namespace exportgate::webhook
