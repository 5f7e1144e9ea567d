// libFuzzer target: the bytes an HTTPS client posts to /validate and /mutate. Decoding must
// either succeed or throw AdmissionDecodeError; a decoded review must be answered (both
// endpoints) with a response the apiserver accepts (uid echoed); and /validate must never admit
// a Tier 3 tenant's Pod with controlled accelerators, however the object is shaped.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/errors.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/usage_ledger.hpp"

namespace {

using namespace exportgate;
using nlohmann::json;

void check_response(const webhook::AdmissionRequest& request, const std::string& text) {
  json out = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) fuzz::fail("response is not JSON");
  if (out.value("apiVersion", "") != webhook::kAdmissionApiVersion ||
      out.value("kind", "") != "AdmissionReview") {
    fuzz::fail("response is not an admission.k8s.io/v1 AdmissionReview");
  }
  const json& resp = out["response"];
  if (!resp.is_object() || resp.value("uid", "") != request.uid) fuzz::fail("uid not echoed");
  if (!resp.contains("allowed") || !resp["allowed"].is_boolean()) fuzz::fail("no allowed");
  if (resp.contains("patch") != resp.contains("patchType")) fuzz::fail("patch without type");
}

// The export-control invariant: a Pod CREATE in the Tier 3 tenant's namespace is admitted only
// when it holds no controlled accelerators. The apiserver sets kind, resource and namespace;
// the tenant controls only the object, so only those requests are held to it.
void check_tier3_pod(const webhook::AdmissionRequest& request, bool allowed) {
  if (!allowed || request.namespace_ != "team-cn" || request.operation != "CREATE" ||
      request.kind.kind != "Pod" || request.resource != "pods" || !request.sub_resource.empty() ||
      !request.object.is_object() || request.object.value("kind", json()) != "Pod") {
    return;
  }
  const json& meta = request.object.value("metadata", json());
  if (meta.is_object() && meta.contains("namespace") && meta["namespace"] != "team-cn") return;
  policy::WorkloadDemand demand;
  try {
    demand = policy::extract_demand(request.object, fuzz::decision_policy());
  } catch (const policy::ManifestError&) {
    fuzz::fail("a malformed Tier 3 pod was admitted");
  }
  if (!fuzz::sane_tpp(demand.controlled_tpp)) fuzz::fail("controlled TPP is not a sane number");
  if (demand.controlled_tpp > 0) fuzz::fail("Tier 3 pod with controlled accelerators admitted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  webhook::AdmissionRequest request;
  try {
    request = webhook::decode_admission_review(body);
  } catch (const webhook::AdmissionDecodeError&) {
    return 0;  // answered with 400
  }
  for (auto endpoint : {webhook::Endpoint::kValidate, webhook::Endpoint::kMutate}) {
    webhook::InMemoryLedger ledger;  // fresh per input: no state leaks between inputs
    auto outcome = webhook::handle_admission(request, endpoint, fuzz::decision_policy(), ledger);
    check_response(request, webhook::encode_admission_review(outcome.response));
    // /mutate only annotates; the decision that can refuse is /validate's.
    if (endpoint == webhook::Endpoint::kValidate)
      check_tier3_pod(request, outcome.response.allowed);
  }
  return 0;
}
