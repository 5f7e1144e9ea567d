// Manifest parsing: multi-document YAML, JSON, Lists, AdmissionReviews, Kubernetes-style scalar
// typing, and syntax errors reported as file:line:column.
#include "policy/manifest.hpp"

#include <gtest/gtest.h>

#include "policy/errors.hpp"

namespace exportgate::policy {
namespace {

using nlohmann::json;

std::string error_of(std::string_view text, std::string_view file = "m.yaml") {
  try {
    parse_manifests(text, file);
  } catch (const ManifestError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Manifest, MultiDocumentYaml) {
  const auto objects = parse_manifests(R"(---
apiVersion: v1
kind: Pod
metadata: {name: a}
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
...
)",
                                       "multi.yaml");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0].object["metadata"]["name"], "a");
  EXPECT_EQ(objects[0].origin, "multi.yaml:2");
  EXPECT_EQ(objects[1].object["kind"], "ConfigMap");
  EXPECT_EQ(objects[1].origin, "multi.yaml:8");
  EXPECT_TRUE(objects[0].operation.empty());
}

TEST(Manifest, EmptyInputHasNoObjects) {
  EXPECT_TRUE(parse_manifests("", "e.yaml").empty());
  EXPECT_TRUE(parse_manifests("---\n---\n", "e.yaml").empty());
}

TEST(Manifest, Json) {
  const auto objects =
      parse_manifests(R"(  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
                         "spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 8}}}]}})",
                      "p.json");
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_TRUE(objects[0]
                  .object["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
                  .is_number_integer());
  EXPECT_EQ(objects[0].origin, "p.json:1");
}

TEST(Manifest, JsonSyntaxErrorHasLineAndColumn) {
  const std::string e = error_of("{\n  \"apiVersion\": \"v1\",\n  \"kind\": Pod\n}\n", "bad.json");
  EXPECT_EQ(e.rfind("bad.json:3:11: invalid JSON", 0), 0u) << e;
}

TEST(Manifest, YamlSyntaxErrorHasLineAndColumn) {
  const std::string e = error_of("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n", "bad.yaml");
  EXPECT_EQ(e.rfind("bad.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  EXPECT_EQ(e, "bad.yaml:5:1: invalid YAML: end of sequence flow not found") << e;

  const std::string tab =
      error_of("apiVersion: v1\nkind: Pod\nmetadata:\n\t name: x\n", "tab.yaml");
  EXPECT_EQ(tab.rfind("tab.yaml:4:7: invalid YAML", 0), 0u) << tab;
}

TEST(Manifest, ListsAreFlattened) {
  const auto objects = parse_manifests(R"(apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: b}
)",
                                       "list.yaml");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0].object["kind"], "Pod");
  EXPECT_EQ(objects[1].object["kind"], "Deployment");
  EXPECT_EQ(objects[1].origin, "list.yaml:7");

  const auto typed = parse_manifests(
      R"({"apiVersion":"v1","kind":"PodList","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}]})",
      "pods.json");
  ASSERT_EQ(typed.size(), 1u);
  EXPECT_EQ(typed[0].object["metadata"]["name"], "x");
}

TEST(Manifest, AdmissionReviewYieldsRequestObject) {
  const auto objects = parse_manifests(R"({
  "apiVersion": "admission.k8s.io/v1",
  "kind": "AdmissionReview",
  "request": {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
    "operation": "CREATE",
    "namespace": "team-a",
    "subResource": "",
    "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "x-"}}
  }
})",
                                       "review.json");
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].object["kind"], "Pod");
  EXPECT_EQ(objects[0].operation, "CREATE");
  EXPECT_EQ(objects[0].request_namespace, "team-a");

  const auto scale = parse_manifests(R"(apiVersion: admission.k8s.io/v1
kind: AdmissionReview
request:
  operation: UPDATE
  namespace: ns
  subResource: scale
  object: {apiVersion: autoscaling/v1, kind: Scale, spec: {replicas: 4}}
)",
                                     "scale.yaml");
  ASSERT_EQ(scale.size(), 1u);
  EXPECT_EQ(scale[0].sub_resource, "scale");
  EXPECT_EQ(scale[0].object["spec"]["replicas"], 4);

  EXPECT_NE(error_of(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
                        "request":{"operation":"DELETE","object":null}})")
                .find("has no object"),
            std::string::npos);
}

TEST(Manifest, ScalarsAreTypedLikeKubernetes) {
  const json j = yaml_text_to_json(R"(
int: 8
negative: -3
hex: 0x1F
octal: 0o17
float: 1.5
exp: 1e3
big: 18446744073709551615
huge: 100000000000000000000
yes_bool: true
title_bool: False
null_value: null
tilde: ~
empty:
quoted_int: "8"
single_quoted: '1.5'
quoted_bool: "true"
quoted_null: "null"
quantity: 500m
word: yes
version: 1.2.3
explicit_str: !!str 42
explicit_int: !!int "42"
list: [1, "2", three]
)",
                                   "t.yaml");
  EXPECT_TRUE(j["int"].is_number_integer());
  EXPECT_EQ(j["int"], 8);
  EXPECT_EQ(j["negative"], -3);
  EXPECT_EQ(j["hex"], 31);
  EXPECT_EQ(j["octal"], 15);
  EXPECT_TRUE(j["float"].is_number_float());
  EXPECT_DOUBLE_EQ(j["float"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["exp"].get<double>(), 1000);
  EXPECT_TRUE(j["big"].is_number_unsigned());
  EXPECT_TRUE(j["huge"].is_number_float());
  EXPECT_EQ(j["yes_bool"], true);
  EXPECT_EQ(j["title_bool"], false);
  EXPECT_TRUE(j["null_value"].is_null());
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["quoted_int"], "8");
  EXPECT_EQ(j["single_quoted"], "1.5");
  EXPECT_EQ(j["quoted_bool"], "true");
  EXPECT_EQ(j["quoted_null"], "null");
  EXPECT_EQ(j["quantity"], "500m");
  EXPECT_EQ(j["word"], "yes");  // YAML 1.2: only true/false are booleans
  EXPECT_EQ(j["version"], "1.2.3");
  EXPECT_EQ(j["explicit_str"], "42");
  EXPECT_EQ(j["explicit_int"], 42);
  EXPECT_EQ(j["list"], json::parse(R"([1, "2", "three"])"));
}

TEST(Manifest, YamlTextToJsonRejectsSeveralDocuments) {
  EXPECT_THROW(yaml_text_to_json("a: 1\n---\nb: 2\n", "x.yaml"), ManifestError);
  EXPECT_TRUE(yaml_text_to_json("", "x.yaml").is_null());
}

TEST(Manifest, DocumentsMustBeKubernetesObjects) {
  EXPECT_EQ(error_of("- a\n- b\n", "s.yaml"),
            "s.yaml:1:1: expected a Kubernetes object (a mapping)");
  EXPECT_EQ(error_of("kind: Pod\nmetadata: {}\n", "k.yaml"),
            "k.yaml:1:1: not a Kubernetes object: missing apiVersion");
  EXPECT_EQ(error_of("apiVersion: v1\n---\napiVersion: v1\nkind: Pod\n", "k.yaml"),
            "k.yaml:1:1: not a Kubernetes object: missing kind");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: List\nitems:\n  - 3\n", "l.yaml"),
            "l.yaml:4:5: expected a Kubernetes object (a mapping), got number");
  EXPECT_EQ(error_of("\"just a string\""), "m.yaml:1:1: expected a Kubernetes object (a mapping)");
  EXPECT_NE(error_of("[1, 2]", "a.json").find("a.json:1 items[0]"), std::string::npos);
}

TEST(Manifest, AliasBombIsBounded) {
  // Each level doubles the expanded size: 2^30 nodes if aliases were expanded blindly.
  std::string text = "a0: &a0 [x, x]\n";
  for (int i = 1; i <= 30; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) +
            ", *a" + std::to_string(i - 1) + "]\n";
  }
  text = "apiVersion: v1\nkind: ConfigMap\ndata:\n" + [&] {
    std::string indented;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t nl = text.find('\n', pos);
      indented += "  " + text.substr(pos, nl - pos + 1);
      pos = nl + 1;
    }
    return indented;
  }();
  EXPECT_NE(error_of(text, "bomb.yaml").find("document too large"), std::string::npos);
}

}  // namespace
}  // namespace exportgate::policy
