// Dynamic Resource Allocation (resource.k8s.io/v1) objects, decoded into what the charge needs:
// device classes, claims and claim templates (requests, selectors, allocation results), resource
// slices (devices and their attributes) and a Pod's references to claims.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace exportgate::policy {

inline constexpr std::string_view kDraGroup = "resource.k8s.io";
// resource.k8s.io/v1 AllocationResultsMaxSize: no claim is ever allocated more devices, so it
// bounds a request whose count is unknown (allocationMode All) or larger.
inline constexpr int64_t kDraMaxDevicesPerClaim = 32;

struct DraDeviceClass {
  std::string name;
  std::vector<std::string> selectors;  // CEL expressions, all must hold
  std::string extended_resource_name;  // "" when the class backs none
};

// One way to satisfy a request: `exactly`, or one entry of `firstAvailable`.
struct DraExactRequest {
  std::string name;  // "gpu", or "gpu/h100" for a firstAvailable subrequest
  std::string device_class;
  std::vector<std::string> selectors;
  bool all = false;   // allocationMode: All
  int64_t count = 1;  // allocationMode: ExactCount
  bool admin_access = false;
};

struct DraRequest {
  std::string name;
  std::vector<DraExactRequest> alternatives;  // one for `exactly`; the list of `firstAvailable`
};

struct DraClaimSpec {
  std::vector<DraRequest> requests;
};

// One device of status.allocation.devices.results.
struct DraAllocatedDevice {
  std::string request;  // "gpu" or "gpu/h100"
  std::string driver;
  std::string pool;
  std::string device;
  bool admin_access = false;
};

struct DraClaim {
  std::string name;
  std::string namespace_;
  DraClaimSpec spec;
  bool allocated = false;  // status.allocation present
  std::vector<DraAllocatedDevice> allocation;
  std::string owner_pod;  // controller ownerReference of kind Pod (made from a template)
  // exportgate.io/admission-uid: the admission that reserved this claim's devices (cluster mode).
  std::string admission_uid;
};

struct DraClaimTemplate {
  std::string name;
  std::string namespace_;
  DraClaimSpec spec;
};

struct DraDevice {
  std::string name;
  // Qualified attribute name ("gpu.nvidia.com/productName"; an unqualified name gets the
  // driver's domain, as the API defines) -> value as text (strings as is, ints, bools, versions).
  std::map<std::string, std::string> attributes;
};

struct DraSlice {
  std::string name;
  std::string driver;
  std::string pool;
  std::string node_name;  // "" for slices shared by several nodes
  std::vector<DraDevice> devices;
};

// One entry of a Pod's spec.resourceClaims.
struct DraPodClaim {
  std::string name;           // the pod-local name containers refer to
  std::string claim_name;     // resourceClaimName: a claim that may be shared
  std::string template_name;  // resourceClaimTemplateName: one claim per pod
};

// True for an object of group resource.k8s.io with this kind.
bool is_dra_kind(const nlohmann::json& object, std::string_view kind);

// Decoders. Each throws ManifestError naming the field for a malformed object (a wrong type, a
// request with neither or both of exactly/firstAvailable, a count that is not a positive integer).
DraDeviceClass decode_device_class(const nlohmann::json& object);
DraClaim decode_resource_claim(const nlohmann::json& object);
DraClaimTemplate decode_resource_claim_template(const nlohmann::json& object);
DraSlice decode_resource_slice(const nlohmann::json& object);
// spec.resourceClaims of a pod spec; `spec_path` prefixes field names in errors.
std::vector<DraPodClaim> decode_pod_claims(const nlohmann::json& pod_spec,
                                           std::string_view spec_path);

}  // namespace exportgate::policy
