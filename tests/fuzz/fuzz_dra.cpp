// libFuzzer target: DRA manifests as `check -f` and the webhook read them. Every DRA object of the
// input goes into one context (classes, slices, claims, templates), then each object's demand is
// extracted against it; the raw input is also analysed as one CEL selector. Decoding either
// succeeds or throws ManifestError; charges are finite and non-negative, every request is charged
// as a model, and no unallocated request as more devices than one claim can be allocated.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/dra_charge.hpp"
#include "policy/dra_selector.hpp"
#include "policy/errors.hpp"
#include "policy/manifest.hpp"
#include "policy/workload.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace exportgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  {
    policy::DraRequirements r;
    r.add_selector(text);
    if (r.drivers && r.drivers->size() > size) fuzz::fail("more drivers than input bytes");
  }
  std::vector<policy::ManifestObject> objects;
  try {
    objects = policy::parse_manifests(text, "fuzz.yaml");
  } catch (const policy::ManifestError&) {
    return 0;
  }
  policy::DraContext context;
  context.default_namespace = "team-sg";
  for (const auto& m : objects) {
    try {
      context.add_object(m.object);
    } catch (const policy::ManifestError&) {
    }
  }
  policy::ExtractOptions options;
  options.dra = &context;
  for (const auto& m : objects) {
    try {
      const auto d = policy::extract_demand(m.object, fuzz::decision_policy(), options);
      if (!fuzz::sane_tpp(d.total_tpp) || !fuzz::sane_tpp(d.controlled_tpp) ||
          !fuzz::sane_tpp(d.held_controlled_tpp) || !fuzz::sane_tpp(d.accelerator_count)) {
        fuzz::fail("DRA demand with a TPP or count that is negative or not finite");
      }
      for (const auto& set : d.pod_sets) {
        for (const auto& a : set.accelerators) {
          if (a.model_id.empty()) fuzz::fail("a DRA request charged as no model");
          const bool allocated = a.resource.ends_with(", allocated");
          if (a.quantity > static_cast<double>(policy::kDraMaxDevicesPerClaim) &&
              a.resource.starts_with("DRA ") && !allocated) {
            fuzz::fail("a DRA request charged more devices than a claim can be allocated");
          }
        }
      }
    } catch (const policy::ManifestError&) {
    }
  }
  return 0;
}
