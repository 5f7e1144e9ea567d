// Cluster mode's view of Dynamic Resource Allocation: DeviceClasses, ResourceSlices,
// ResourceClaims and ResourceClaimTemplates, each kept by an informer, and a DraContext snapshot
// of them for the engine (rebuilt only when one of them changed).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "policy/dra_charge.hpp"
#include "policy/policy.hpp"
#include "webhook/kube_informer.hpp"

namespace exportgate::webhook {

// An allocated claim as the ledger counts it.
struct ClaimInUse {
  std::string namespace_;
  std::string name;
  double controlled_tpp = 0;  // the allocated devices, charged exactly
  std::string admission_uid;  // exportgate.io/admission-uid: the reservation it takes over
};

// The claims of `context` that hold devices now (allocated), charged under `policy`. A claim that
// is not allocated holds nothing here: its admission's reservation covers it until it expires.
std::vector<ClaimInUse> dra_claims_in_use(const policy::DraContext& context,
                                          const policy::Policy& policy);

class DraCaches {
 public:
  DraCaches();

  // Registers one informer per resource through `add(path, sink)`; `claims_changed` runs after
  // each change of the claims (the reconciler recounts).
  void add_informers(const std::function<void(std::string, InformerSink)>& add,
                     std::function<void()> claims_changed = nullptr);
  // The objects as they are now. Objects the engine cannot read are not kept (a class that is
  // missing is charged as the worst case, so this fails closed).
  std::shared_ptr<const policy::DraContext> context();

 private:
  ObjectStore<policy::DraDeviceClass> classes_;
  ObjectStore<policy::DraSlice> slices_;
  ObjectStore<policy::DraClaim> claims_;
  ObjectStore<policy::DraClaimTemplate> templates_;
  std::mutex mu_;
  uint64_t versions_[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
  std::shared_ptr<const policy::DraContext> context_;
};

}  // namespace exportgate::webhook
