// encode_admission_review writes plain responses directly: the text must be byte for byte what
// the nlohmann document gives (encode_admission_review_dom, the encoder as it was before), and
// that document must be the AdmissionReview the apiserver expects.
#include <gtest/gtest.h>

#include "webhook/admission_codec.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

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
    EXPECT_EQ(wh::encode_admission_review(r), wh::encode_admission_review_dom(r));
  }
}

TEST(AdmissionEncode, TheDocumentIsTheReviewTheApiserverExpects) {
  const auto all = responses();
  const json denied = json::parse(wh::encode_admission_review(all[3]));
  EXPECT_EQ(denied["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(denied["kind"], "AdmissionReview");
  EXPECT_EQ(denied["response"]["uid"], all[3].uid);
  EXPECT_EQ(denied["response"]["allowed"], false);
  EXPECT_EQ(denied["response"]["status"]["code"], 403);
  EXPECT_EQ(denied["response"]["status"]["status"], "Failure");
  EXPECT_EQ(denied["response"]["status"]["message"], all[3].status_message);
  EXPECT_EQ(denied["response"]["auditAnnotations"]["tenant"], "team-us");
  EXPECT_FALSE(denied["response"].contains("patch"));
  const json patched = json::parse(wh::encode_admission_review(all[6]));
  EXPECT_EQ(patched["response"]["patchType"], "JSONPatch");
  EXPECT_EQ(patched["response"]["patch"], wh::base64_encode(all[6].patch->dump()));
  const json empty_patch = json::parse(wh::encode_admission_review(all[7]));
  EXPECT_FALSE(empty_patch["response"].contains("patchType"));  // never one without the other
}

}  // namespace
