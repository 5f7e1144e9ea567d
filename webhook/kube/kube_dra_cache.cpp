// DRA caches (see kube_dra_cache.hpp).
#include "webhook/kube_dra_cache.hpp"

#include "policy/errors.hpp"

namespace exportgate::webhook {

namespace {

// resource.k8s.io/v1 collections, GA since Kubernetes 1.34.
constexpr const char* kDeviceClasses = "/apis/resource.k8s.io/v1/deviceclasses";
constexpr const char* kResourceSlices = "/apis/resource.k8s.io/v1/resourceslices";
constexpr const char* kResourceClaims = "/apis/resource.k8s.io/v1/resourceclaims";
constexpr const char* kResourceClaimTemplates = "/apis/resource.k8s.io/v1/resourceclaimtemplates";

template <class T, class Decode>
std::function<std::optional<T>(const nlohmann::json&)> projection(Decode decode) {
  return [decode](const nlohmann::json& object) -> std::optional<T> {
    try {
      return decode(object);
    } catch (const policy::ManifestError&) {
      return std::nullopt;
    }
  };
}

template <class T>
std::vector<T> copy_all(const ObjectStore<T>& store) {
  std::vector<T> out;
  for (const auto& item : store.all()) out.push_back(*item);
  return out;
}

}  // namespace

DraCaches::DraCaches()
    : classes_(projection<policy::DraDeviceClass>(policy::decode_device_class)),
      slices_(projection<policy::DraSlice>(policy::decode_resource_slice)),
      claims_(projection<policy::DraClaim>(policy::decode_resource_claim)),
      templates_(projection<policy::DraClaimTemplate>(policy::decode_resource_claim_template)) {}

std::vector<ClaimInUse> dra_claims_in_use(const policy::DraContext& context,
                                          const policy::Policy& policy) {
  std::vector<ClaimInUse> out;
  for (const auto& claim : context.claims) {
    if (!claim.allocated) continue;
    std::vector<std::string> notes;
    ClaimInUse c{claim.namespace_, claim.name, 0, claim.admission_uid};
    for (const auto& a : policy::dra_claim_accelerators(claim, policy.catalog, &context, notes)) {
      // What the caps count: 3A090.a only (3A090.b is outside them, 90 FR 4544).
      if (a.export_class == policy::ExportClass::k3A090a) c.controlled_tpp += a.tpp_per_pod;
    }
    out.push_back(std::move(c));
  }
  return out;
}

void DraCaches::add_informers(const std::function<void(std::string, InformerSink)>& add,
                              std::function<void()> claims_changed) {
  add(kDeviceClasses, classes_.sink());
  add(kResourceSlices, slices_.sink());
  add(kResourceClaims, claims_.sink(std::move(claims_changed)));
  add(kResourceClaimTemplates, templates_.sink());
}

std::shared_ptr<const policy::DraContext> DraCaches::context() {
  const uint64_t now[4] = {classes_.version(), slices_.version(), claims_.version(),
                           templates_.version()};
  std::lock_guard lock(mu_);
  if (context_ && std::equal(std::begin(now), std::end(now), std::begin(versions_))) {
    return context_;
  }
  auto c = std::make_shared<policy::DraContext>();
  c->classes = copy_all(classes_);
  c->slices = copy_all(slices_);
  c->claims = copy_all(claims_);
  c->templates = copy_all(templates_);
  std::copy(std::begin(now), std::end(now), std::begin(versions_));
  context_ = std::move(c);
  return context_;
}

}  // namespace exportgate::webhook
