// libFuzzer target, differential: the Pod fast path of AdmissionReview decoding
// (webhook/admission/admission_skim + webhook/admission/json_skim) against the full nlohmann parse
// it stands in for. For every body the skimmer vouches for: nlohmann must accept the body too; the
// skimmed document must be exactly the full document with request.object reduced as
// admission_skim.hpp documents; and decoding plus the answers of /validate and /mutate (status,
// message, warnings, audit annotations, patch, decision record) must not depend on which path
// decoded the body.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/policy_loader.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/admission_skim.hpp"
#include "webhook/usage_ledger.hpp"

namespace {

using namespace exportgate;
using nlohmann::json;

// Keeps only `keys` of an object; anything else is returned as it is (the skimmer keeps values
// of an unexpected type whole, so the engine reports them exactly as on the full path).
json keep_members(const json& v, std::initializer_list<std::string_view> keys) {
  if (!v.is_object()) return v;
  json out = json::object();
  for (auto k : keys) {
    if (auto it = v.find(k); it != v.end()) out[std::string(k)] = *it;
  }
  return out;
}

// An array member reduced to the elements `keep` accepts, null in place of the others (indices
// stay those of the whole object); nullopt when none is kept, and the member is then left out.
// A value that is not an array is kept as it is.
template <class Keep>
std::optional<json> keep_elements(const json& v, Keep&& keep) {
  if (!v.is_array()) return v;
  json out = json::array();
  bool any = false;
  for (const auto& e : v) {
    const bool k = keep(e);
    any = any || k;
    out.push_back(k ? e : json());
  }
  if (!any) return std::nullopt;
  return out;
}

json reduce_container(const json& c) {
  if (!c.is_object()) return c;
  json out = keep_members(c, {"name", "resources", "restartPolicy", "securityContext"});
  if (auto env = c.find("env"); env != c.end()) {
    auto kept = keep_elements(*env, [](const json& e) {
      return !e.is_object() || (e.contains("name") && e["name"] == "NVIDIA_VISIBLE_DEVICES");
    });
    if (kept) out["env"] = std::move(*kept);
  }
  return out;
}

json reduce_containers(const json& v) {
  if (!v.is_array()) return v;
  json out = json::array();
  for (const auto& c : v) out.push_back(reduce_container(c));
  return out;
}

// request.object as admission_skim.hpp promises it: apiVersion, kind, metadata without
// managedFields, and of spec only containers, initContainers and ephemeralContainers (name,
// resources, restartPolicy, securityContext, the NVIDIA_VISIBLE_DEVICES entries of env),
// resources, overhead, nodeSelector, affinity and the hostPath entries of volumes. Written from
// the header's contract on the DOM, independently of the skimmer's text walk.
json reduce_pod(const json& object) {
  json out = keep_members(object, {"apiVersion", "kind"});
  if (auto m = object.find("metadata"); m != object.end()) {
    json meta = *m;
    if (meta.is_object()) meta.erase("managedFields");
    out["metadata"] = std::move(meta);
  }
  if (auto s = object.find("spec"); s != object.end()) {
    json spec = keep_members(*s, {"resources", "overhead", "nodeSelector", "affinity"});
    if (s->is_object()) {
      for (const char* k : {"containers", "initContainers", "ephemeralContainers"}) {
        if (auto c = s->find(k); c != s->end()) spec[k] = reduce_containers(*c);
      }
      if (auto v = s->find("volumes"); v != s->end()) {
        auto kept = keep_elements(
            *v, [](const json& vol) { return !vol.is_object() || vol.contains("hostPath"); });
        if (kept) spec["volumes"] = std::move(*kept);
      }
    }
    out["spec"] = std::move(spec);
  }
  return out;
}

// The same document as `full`, as text the skimmer refuses: a top-level member whose key is
// spelled with an escape ("\u0066" = "f", ignored by the decoder) sends decoding to the full
// parse. Checked below, so a skimmer that stops refusing it fails loudly instead of making the
// comparison vacuous.
std::string force_full_parse(const json& full) {
  std::string text = full.dump(-1, ' ', false, json::error_handler_t::strict);
  return "{\"\\u0066\":0," + text.substr(1);
}

struct Decoded {
  std::optional<webhook::AdmissionRequest> request;
  std::string error;
};

Decoded decode(std::string_view body) {
  Decoded d;
  try {
    d.request = webhook::decode_admission_review(body);
  } catch (const webhook::AdmissionDecodeError& e) {
    d.error = e.what();
  }
  return d;
}

void same_request(const webhook::AdmissionRequest& skim, const webhook::AdmissionRequest& full) {
  if (skim.uid != full.uid || skim.kind.group != full.kind.group ||
      skim.kind.version != full.kind.version || skim.kind.kind != full.kind.kind ||
      skim.resource != full.resource || skim.sub_resource != full.sub_resource ||
      skim.name != full.name || skim.namespace_ != full.namespace_ ||
      skim.operation != full.operation || skim.username != full.username ||
      skim.groups != full.groups || skim.dry_run != full.dry_run ||
      skim.old_object != full.old_object) {
    fuzz::fail("request fields differ between the skim and the full path");
  }
  if (skim.object != reduce_pod(full.object)) {
    fuzz::fail("skimmed object is not the documented reduction of the full object");
  }
}

void same_outcome(const webhook::AdmissionOutcome& skim, const webhook::AdmissionOutcome& full) {
  if (webhook::encode_admission_review(skim.response) !=
      webhook::encode_admission_review(full.response)) {
    fuzz::fail("the response differs between the skim and the full path");
  }
  if (skim.decision != full.decision || skim.tenant != full.tenant ||
      skim.jurisdiction != full.jurisdiction || skim.tier != full.tier ||
      skim.ledger_unavailable != full.ledger_unavailable) {
    fuzz::fail("the decision differs between the skim and the full path");
  }
  if (skim.record != full.record) fuzz::fail("the decision record differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::optional<json> skimmed = webhook::skim_pod_review(body);
  if (!skimmed) return 0;  // the full parse decides alone: nothing to compare

  json full;
  try {
    full = json::parse(body);
  } catch (const json::exception&) {
    fuzz::fail("the skimmer vouched for a body nlohmann rejects");
  }
  json expected = full;
  if (!expected.is_object() || !expected["request"].is_object() ||
      !expected["request"]["object"].is_object()) {
    fuzz::fail("the skimmer accepted a review without a request.object");
  }
  expected["request"]["object"] = reduce_pod(full["request"]["object"]);
  if (*skimmed != expected) fuzz::fail("skimmed document differs from the full parse");

  const std::string full_body = force_full_parse(full);
  if (webhook::skim_pod_review(full_body)) fuzz::fail("force_full_parse no longer forces it");

  Decoded a = decode(body);
  Decoded b = decode(full_body);
  if (a.request.has_value() != b.request.has_value() || a.error != b.error) {
    fuzz::fail("accept/reject differs between the skim and the full path");
  }
  if (!a.request) return 0;
  same_request(*a.request, *b.request);

  for (auto endpoint : {webhook::Endpoint::kValidate, webhook::Endpoint::kMutate}) {
    for (bool annotate_uid : {false, true}) {
      webhook::AdmissionEnv env;
      env.annotate_admission_uid = annotate_uid;
      env.record_allows = true;
      webhook::InMemoryLedger la, lb;  // fresh per input: no state leaks between inputs
      same_outcome(
          webhook::handle_admission(*a.request, endpoint, fuzz::decision_policy(), la, env),
          webhook::handle_admission(*b.request, endpoint, fuzz::decision_policy(), lb, env));
    }
  }
  return 0;
}
