// libFuzzer target: manifest text as `exportgate check -f` reads it (multi-document YAML, JSON,
// Lists, AdmissionReviews). Parsing either succeeds or throws ManifestError; every parsed object
// either yields a demand with sane TPP figures or throws ManifestError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/errors.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace exportgate;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<policy::ManifestObject> objects;
  try {
    objects = policy::parse_manifests(text, "fuzz.yaml");
  } catch (const policy::ManifestError&) {
    return 0;  // reported with file:line:column, exit code 2
  }
  for (const auto& m : objects) {
    try {
      auto d = policy::extract_demand(m.object, fuzz::decision_policy());
      if (!fuzz::sane_tpp(d.total_tpp) || !fuzz::sane_tpp(d.controlled_tpp) ||
          !fuzz::sane_tpp(d.accelerator_count)) {
        fuzz::fail("demand with a TPP or count that is negative or not finite");
      }
      if (d.controlled_tpp > d.total_tpp * (1 + 1e-9) + 1e-9) {
        fuzz::fail("controlled TPP exceeds total TPP");
      }
      if (d.total_pods < 0) fuzz::fail("negative pod count");
    } catch (const policy::ManifestError&) {
      // a malformed object of a known kind: denied with the reason
    }
  }
  return 0;
}
