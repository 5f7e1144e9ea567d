// encode_admission_review writes plain responses directly: the text must be byte for byte what
// the nlohmann document gives (the reference below is the encoder as it was before).
#include <gtest/gtest.h>

#include "webhook/admission_codec.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

std::string reference(const wh::AdmissionResponse& r) {
  json response = {{"uid", r.uid}, {"allowed", r.allowed}};
  if (!r.allowed || r.status_code != 0) {
    json status = {{"code", r.status_code != 0 ? r.status_code : 403},
                   {"message", r.status_message}};
    if (!r.status_reason.empty()) status["reason"] = r.status_reason;
    if (!r.allowed) status["status"] = "Failure";
    response["status"] = std::move(status);
  }
  if (!r.warnings.empty()) response["warnings"] = r.warnings;
  if (!r.audit_annotations.empty()) response["auditAnnotations"] = r.audit_annotations;
  if (r.patch && r.patch->is_array() && !r.patch->empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = wh::base64_encode(r.patch->dump());
  }
  json review = {{"apiVersion", wh::kAdmissionApiVersion},
                 {"kind", "AdmissionReview"},
                 {"response", std::move(response)}};
  return review.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<wh::AdmissionResponse> responses() {
  std::vector<wh::AdmissionResponse> out;
  wh::AdmissionResponse allow;
  allow.uid = "705ab4f5-6393-11e8-b7cc-42010a800002";
  out.push_back(allow);

  wh::AdmissionResponse audited = allow;
  audited.audit_annotations = {{"tenant", "team-us"},
                               {"tpp", "126656"},
                               {"decision", "allow"},
                               {"policy-hash", "sha256:0123abcd"},
                               {"jurisdiction", "US"}};
  out.push_back(audited);

  wh::AdmissionResponse warned = audited;
  warned.warnings = {"exportgate: tenant team-sg is at 91% of its cap", "second warning"};
  out.push_back(warned);

  wh::AdmissionResponse denied = audited;
  denied.allowed = false;
  denied.status_code = 403;
  denied.status_reason = "Forbidden";
  denied.status_message = "exportgate: 8 x H100 exceeds the cap of tenant team-sg (500,000 TPP)";
  out.push_back(denied);

  wh::AdmissionResponse no_reason = denied;
  no_reason.status_reason.clear();
  no_reason.status_code = 0;  // 403 by default
  out.push_back(no_reason);

  wh::AdmissionResponse allowed_with_code = allow;
  allowed_with_code.status_code = 200;
  allowed_with_code.status_message = "ok";
  out.push_back(allowed_with_code);

  wh::AdmissionResponse patched = audited;
  patched.patch = json::array(
      {{{"op", "add"}, {"path", "/metadata/annotations/exportgate.io~1tpp"}, {"value", "5"}}});
  out.push_back(patched);

  wh::AdmissionResponse empty_patch = allow;
  empty_patch.patch = json::array();
  out.push_back(empty_patch);

  // Strings that need escaping or UTF-8 handling take the nlohmann dump.
  for (std::string odd : {std::string("quote \" inside"), std::string("back\\slash"),
                          std::string("new\nline"), std::string("caf\xc3\xa9"),
                          std::string("bad \xff byte"), std::string("del \x7f"), std::string()}) {
    wh::AdmissionResponse a = denied;
    a.status_message = odd;
    out.push_back(a);
    wh::AdmissionResponse b = warned;
    b.warnings.push_back(odd);
    out.push_back(b);
    wh::AdmissionResponse c = audited;
    c.audit_annotations["k" + odd] = odd;
    out.push_back(c);
    wh::AdmissionResponse d = allow;
    d.uid = odd;
    out.push_back(d);
  }
  return out;
}

TEST(AdmissionEncode, SameTextAsTheNlohmannDocument) {
  for (const auto& r : responses()) {
    EXPECT_EQ(wh::encode_admission_review(r), reference(r));
  }
}

}  // namespace
