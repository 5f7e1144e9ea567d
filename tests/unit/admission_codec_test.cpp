// AdmissionReview v1 codec: strict decoding with clear errors, and responses in the exact shape
// the kube-apiserver verifies (uid echo, status, patch with patchType or neither).
#include "webhook/admission_codec.hpp"

#include <gtest/gtest.h>

namespace exportgate::webhook {
namespace {

using nlohmann::json;

json valid_review() {
  return json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
      "uid": "abc-123", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
      "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
      "subResource": "scale", "name": "web", "namespace": "team-a", "operation": "UPDATE",
      "userInfo": {"username": "alice", "groups": ["dev", "system:authenticated"]},
      "object": {"kind": "Scale"}, "oldObject": {"kind": "Scale"}, "dryRun": true
    }})");
}

TEST(AdmissionCodec, DecodesEveryField) {
  auto r = decode_admission_review(valid_review().dump());
  EXPECT_EQ(r.uid, "abc-123");
  EXPECT_EQ(r.kind.group, "apps");
  EXPECT_EQ(r.kind.kind, "Deployment");
  EXPECT_EQ(r.resource, "deployments");
  EXPECT_EQ(r.sub_resource, "scale");
  EXPECT_EQ(r.name, "web");
  EXPECT_EQ(r.namespace_, "team-a");
  EXPECT_EQ(r.operation, "UPDATE");
  EXPECT_EQ(r.username, "alice");
  EXPECT_EQ(r.groups, (std::vector<std::string>{"dev", "system:authenticated"}));
  EXPECT_EQ(r.object["kind"], "Scale");
  EXPECT_EQ(r.old_object["kind"], "Scale");
  EXPECT_TRUE(r.dry_run);
}

TEST(AdmissionCodec, DeleteMayOmitObject) {
  json j = valid_review();
  j["request"]["operation"] = "DELETE";
  j["request"]["object"] = nullptr;
  auto r = decode_admission_review(j.dump());
  EXPECT_TRUE(r.object.is_null());
}

struct BadCase {
  const char* name;
  std::function<void(json&)> mutate;
  const char* expected;
};

TEST(AdmissionCodec, RejectsMalformedReviewsWithClearMessages) {
  const std::vector<BadCase> cases = {
      {"v1beta1", [](json& j) { j["apiVersion"] = "admission.k8s.io/v1beta1"; },
       "unsupported apiVersion \"admission.k8s.io/v1beta1\""},
      {"no apiVersion", [](json& j) { j.erase("apiVersion"); }, "unsupported apiVersion \"\""},
      {"wrong kind", [](json& j) { j["kind"] = "Pod"; }, "kind must be AdmissionReview"},
      {"no request", [](json& j) { j.erase("request"); }, "has no request"},
      {"null request", [](json& j) { j["request"] = nullptr; }, "has no request"},
      {"request not object", [](json& j) { j["request"] = 5; }, "request must be an object"},
      {"no uid", [](json& j) { j["request"].erase("uid"); }, "request.uid is missing"},
      {"empty uid", [](json& j) { j["request"]["uid"] = ""; }, "request.uid is missing"},
      {"uid number", [](json& j) { j["request"]["uid"] = 7; }, "request.uid must be a string"},
      {"bad operation", [](json& j) { j["request"]["operation"] = "GET"; }, "request.operation"},
      {"no kind", [](json& j) { j["request"].erase("kind"); }, "request.kind is missing"},
      {"object array", [](json& j) { j["request"]["object"] = json::array(); },
       "request.object must be an object"},
      {"update no object", [](json& j) { j["request"]["object"] = nullptr; },
       "request.object is missing for UPDATE"},
      {"groups not array", [](json& j) { j["request"]["userInfo"]["groups"] = "x"; },
       "groups must be an array"},
      {"dryRun string", [](json& j) { j["request"]["dryRun"] = "yes"; },
       "dryRun must be a boolean"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    json j = valid_review();
    c.mutate(j);
    try {
      decode_admission_review(j.dump());
      ADD_FAILURE() << "accepted";
    } catch (const AdmissionDecodeError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(decode_admission_review("{not json"), AdmissionDecodeError);
  EXPECT_THROW(decode_admission_review(""), AdmissionDecodeError);
  EXPECT_THROW(decode_admission_review("[]"), AdmissionDecodeError);
}

TEST(AdmissionCodec, EncodesAllowWithoutStatusOrPatch) {
  AdmissionResponse r;
  r.uid = "u-1";
  json out = json::parse(encode_admission_review(r));
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  EXPECT_EQ(out["response"]["uid"], "u-1");
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_FALSE(out["response"].contains("status"));
  EXPECT_FALSE(out["response"].contains("patch"));
  EXPECT_FALSE(out["response"].contains("patchType"));
}

TEST(AdmissionCodec, EncodesDenialWarningsAuditAndPatch) {
  AdmissionResponse r;
  r.uid = "u-2";
  r.allowed = false;
  r.status_code = 403;
  r.status_reason = "Forbidden";
  r.status_message = "exportgate: denied";
  r.warnings = {"near cap"};
  r.audit_annotations = {{"tenant", "t"}};
  r.patch =
      json::array({{{"op", "add"}, {"path", "/metadata/annotations"}, {"value", json::object()}}});
  json out = json::parse(encode_admission_review(r));
  const auto& resp = out["response"];
  EXPECT_EQ(resp["allowed"], false);
  EXPECT_EQ(resp["status"]["code"], 403);
  EXPECT_EQ(resp["status"]["message"], "exportgate: denied");
  EXPECT_EQ(resp["status"]["reason"], "Forbidden");
  EXPECT_EQ(resp["warnings"][0], "near cap");
  EXPECT_EQ(resp["auditAnnotations"]["tenant"], "t");
  EXPECT_EQ(resp["patchType"], "JSONPatch");
  EXPECT_EQ(resp["patch"], base64_encode(r.patch->dump()));
}

TEST(AdmissionCodec, EmptyPatchIsOmittedTogetherWithPatchType) {
  AdmissionResponse r;
  r.uid = "u";
  r.patch = json::array();
  json out = json::parse(encode_admission_review(r));
  EXPECT_FALSE(out["response"].contains("patch"));
  EXPECT_FALSE(out["response"].contains("patchType"));
}

TEST(AdmissionCodec, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(AdmissionCodec, ErrorBodyIsAKubernetesStatus) {
  json j = json::parse(error_body(413, "too big"));
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["code"], 413);
  EXPECT_EQ(j["message"], "too big");
  EXPECT_EQ(j["status"], "Failure");
}

}  // namespace
}  // namespace exportgate::webhook
