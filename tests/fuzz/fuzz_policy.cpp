// libFuzzer target: Policy files (`exportgate policy validate`, `serve --policy`, hot reload).
// Loading either succeeds or throws PolicyError (with diagnostics); a loaded policy must be
// usable: extracting a GPU pod's demand under it gives sane figures or a ManifestError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/errors.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace exportgate;
using nlohmann::json;

const json& gpu_pod() {
  static const json pod = json::parse(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"team-sg"},
    "spec":{"nodeSelector":{"nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3"},
      "containers":[{"name":"c","resources":{"limits":{"nvidia.com/gpu":"8"}}}]}})");
  return pod;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  policy::Policy p;
  try {
    p = policy::load_policy(text, "fuzz-policy.yaml");
  } catch (const policy::PolicyError& e) {
    if (e.diagnostics().empty()) fuzz::fail("PolicyError without a diagnostic");
    return 0;
  }
  try {
    auto d = policy::extract_demand(gpu_pod(), p);
    if (!fuzz::sane_tpp(d.total_tpp) || !fuzz::sane_tpp(d.controlled_tpp)) {
      fuzz::fail("a loaded policy yields a TPP that is negative or not finite");
    }
  } catch (const policy::ManifestError&) {
  }
  return 0;
}
