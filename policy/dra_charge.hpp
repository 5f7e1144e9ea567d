// DRA claims -> accelerator demand. Before allocation a request is charged as the most capable
// device it could be given (its class and selectors against the known ResourceSlices, else the
// catalog's devices for the driver); after allocation, as the devices allocated.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "policy/catalog.hpp"
#include "policy/dra_objects.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {

// The DRA objects known where the decision is made: the other documents of a `check -f` file,
// or the webhook's caches in cluster mode. Empty is valid (everything unknown: worst case).
struct DraContext {
  std::vector<DraDeviceClass> classes;
  std::vector<DraSlice> slices;
  std::vector<DraClaim> claims;
  std::vector<DraClaimTemplate> templates;
  // Namespace of objects and Pods that name none (check -f: --namespace).
  std::string default_namespace;

  const DraDeviceClass* find_class(std::string_view name) const;
  const DraClaim* find_claim(std::string_view ns, std::string_view name) const;
  const DraClaimTemplate* find_template(std::string_view ns, std::string_view name) const;
  const DraDevice* find_device(std::string_view driver, std::string_view pool,
                               std::string_view device) const;
  // Decodes and keeps `object` when it is a DeviceClass, ResourceSlice, ResourceClaim or
  // ResourceClaimTemplate (claims and templates without a namespace get default_namespace).
  // Returns false for other objects; throws ManifestError for a malformed DRA object.
  bool add_object(const nlohmann::json& object);
};

// One AcceleratorDemand per request of `spec` whose devices the catalog charges (quantity =
// devices, model = the charged one). `label` names the claim in messages ("ResourceClaimTemplate
// \"gpu8\""). Approximations made go to `notes`.
std::vector<AcceleratorDemand> dra_spec_accelerators(const DraClaimSpec& spec,
                                                     std::string_view label, const Catalog& catalog,
                                                     const DraContext* context,
                                                     std::vector<std::string>& notes);

// A claim: exact from status.allocation when allocated (devices looked up in the slices; a device
// not found is charged as its request's worst case), else as dra_spec_accelerators.
std::vector<AcceleratorDemand> dra_claim_accelerators(const DraClaim& claim, const Catalog& catalog,
                                                      const DraContext* context,
                                                      std::vector<std::string>& notes);

}  // namespace exportgate::policy
