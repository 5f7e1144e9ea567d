// The AdmissionReview fast path (webhook/admission/admission_skim, webhook/admission/json_skim): a
// Pod decoded through it gets the same admission answer as with the whole object, and everything
// else falls back to the full parse with its exact errors.
#include "webhook/admission_skim.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/json_skim.hpp"
#include "webhook/policy_store.hpp"
#include "webhook/usage_ledger.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

std::string read_review(const std::string& name) {
  std::ifstream in(std::string(EXPORTGATE_SOURCE_DIR) + "/bench/reviews/" + name + ".json");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<const exportgate::policy::Policy> test_policy() {
  wh::PolicyStore store(wh::PolicySource{"", {{"team-us", "US"}, {"team-sg", "SG"}}});
  store.load();
  return store.current();
}

bool skims(std::string_view text) {
  const char* end = text.data() + text.size();
  return wh::skim::skip_value(text.data(), end) == end;
}

TEST(JsonSkim, AcceptsValidJson) {
  for (const char* ok : {"0", "-1.5e+3", "\"a\\\"b\\u00e9\"", "true", "null", "[]", "{}",
                         "{\"a\":[1,{\"b\":null}],\"k:{\\\"x\\\"}\":false}"}) {
    EXPECT_TRUE(skims(ok)) << ok;
  }
}

TEST(JsonSkim, RejectsInvalidOrUnvouchedJson) {
  for (const char* bad : {"01", "1.", "-", "\"a", "\"\\x\"", "\"\\u12g4\"", "tru", "[1,]",
                          "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "\"caf\xc3\xa9\"", "\"tab\there\""}) {
    EXPECT_FALSE(skims(bad)) << bad;
  }
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_FALSE(skims(deep));  // left to the full parser
}

TEST(AdmissionSkim, PodKeepsOnlyWhatAdmissionReads) {
  auto doc = wh::skim_pod_review(read_review("cpu-pod-sidecar"));
  ASSERT_TRUE(doc);
  const json& obj = (*doc)["request"]["object"];
  EXPECT_FALSE(obj["metadata"].contains("managedFields"));
  EXPECT_TRUE(obj["metadata"].contains("annotations"));
  EXPECT_FALSE(obj.contains("status"));
  const json& c = obj["spec"]["containers"][1];
  EXPECT_EQ(c["name"], "istio-proxy");
  EXPECT_TRUE(c.contains("resources"));
  EXPECT_FALSE(c.contains("env"));
  EXPECT_TRUE(obj["spec"].contains("initContainers"));
  EXPECT_FALSE(obj["spec"].contains("volumes"));
  // The envelope is untouched.
  const json full = json::parse(read_review("cpu-pod-sidecar"));
  for (const auto& [k, v] : full["request"].items()) {
    if (k != "object") {
      EXPECT_EQ((*doc)["request"][k], v) << k;
    }
  }
}

// Same answer from /validate and /mutate with the pruned object as with the whole one.
TEST(AdmissionSkim, SameAdmissionOutcomeAsTheWholeObject) {
  const auto policy = test_policy();
  for (const char* name : {"cpu-pod-web", "cpu-pod-batch", "cpu-pod-sidecar", "gpu-pod-h100-pinned",
                           "gpu-pod-unpinned", "gpu-pod-mig-tier2", "pod-50-containers"}) {
    const std::string body = read_review(name);
    ASSERT_TRUE(wh::skim_pod_review(body)) << name;
    wh::AdmissionRequest fast = wh::decode_admission_review(body);
    wh::AdmissionRequest whole = fast;
    whole.object = json::parse(body)["request"]["object"];
    for (auto endpoint : {wh::Endpoint::kValidate, wh::Endpoint::kMutate}) {
      wh::InMemoryLedger ledger_fast, ledger_whole;
      auto a = wh::handle_admission(fast, endpoint, *policy, ledger_fast);
      auto b = wh::handle_admission(whole, endpoint, *policy, ledger_whole);
      EXPECT_EQ(wh::encode_admission_review(a.response), wh::encode_admission_review(b.response))
          << name;
      EXPECT_EQ(a.decision, b.decision) << name;
    }
  }
}

// Device access outside requests (issue 13) survives the skim: the NVIDIA_VISIBLE_DEVICES entry
// of env, securityContext and hostPath volumes reach the engine, and the answer is the one the
// whole object gets. Old skim: dropped env and volumes, so the CPU-only pod was admitted.
TEST(AdmissionSkim, DeviceAccessFieldsAreKept) {
  const auto policy = test_policy();
  for (int variant = 0; variant < 3; ++variant) {
    json doc = json::parse(read_review("cpu-pod-web"));
    doc["request"]["namespace"] = "team-x";
    json& spec = doc["request"]["object"]["spec"];
    json& c = spec["containers"][0];
    c["env"] = json::array({{{"name", "A"}, {"value", "1"}}});
    if (variant == 0) c["env"].push_back({{"name", "NVIDIA_VISIBLE_DEVICES"}, {"value", "all"}});
    if (variant == 1) c["securityContext"] = {{"privileged", true}};
    spec["volumes"] = json::array({{{"name", "tmp"}, {"emptyDir", json::object()}}});
    if (variant == 2)
      spec["volumes"].push_back({{"name", "dev"}, {"hostPath", {{"path", "/dev"}}}});
    const std::string body = doc.dump();
    auto skimmed = wh::skim_pod_review(body);
    ASSERT_TRUE(skimmed) << variant;
    const json& kept = (*skimmed)["request"]["object"]["spec"];
    if (variant == 0) {
      EXPECT_EQ(kept["containers"][0]["env"][1]["name"], "NVIDIA_VISIBLE_DEVICES");
      EXPECT_TRUE(kept["containers"][0]["env"][0].is_null());  // other entries are dropped
    }
    if (variant == 2) {
      EXPECT_EQ(kept["volumes"][1]["hostPath"]["path"], "/dev");
    }
    wh::AdmissionRequest fast = wh::decode_admission_review(body);
    wh::AdmissionRequest whole = fast;
    whole.object = json::parse(body)["request"]["object"];
    wh::InMemoryLedger ledger_fast, ledger_whole;
    auto a = wh::handle_admission(fast, wh::Endpoint::kValidate, *policy, ledger_fast);
    auto b = wh::handle_admission(whole, wh::Endpoint::kValidate, *policy, ledger_whole);
    // team-x has no jurisdiction: controlled compute is denied, device access included.
    EXPECT_FALSE(a.response.allowed) << variant;
    EXPECT_EQ(wh::encode_admission_review(a.response), wh::encode_admission_review(b.response));
  }
}

TEST(AdmissionSkim, MalformedPodIsReportedTheSame) {
  // A bad quantity in a CPU-only Pod: resources are kept, so the engine still rejects it.
  json doc = json::parse(read_review("cpu-pod-web"));
  doc["request"]["object"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots";
  const auto policy = test_policy();
  wh::InMemoryLedger ledger;
  auto req = wh::decode_admission_review(doc.dump());
  auto out = wh::handle_admission(req, wh::Endpoint::kValidate, *policy, ledger);
  EXPECT_FALSE(out.response.allowed);
  EXPECT_NE(out.response.status_message.find("spec.containers[0].resources.requests[\"cpu\"]"),
            std::string::npos)
      << out.response.status_message;
}

TEST(AdmissionSkim, FallsBackForEverythingElse) {
  EXPECT_FALSE(wh::skim_pod_review(read_review("gpu-deployment")));  // not a Pod
  json doc = json::parse(read_review("cpu-pod-web"));
  json old = doc;
  old["request"]["operation"] = "UPDATE";
  old["request"]["oldObject"] = old["request"]["object"];
  EXPECT_FALSE(wh::skim_pod_review(old.dump()));  // has an oldObject
  std::string escaped = doc.dump();
  escaped.replace(escaped.find("\"spec\""), 6, "\"sp\\u0065c\"");
  EXPECT_FALSE(wh::skim_pod_review(escaped));  // a matched key spelled with an escape
  EXPECT_EQ(wh::decode_admission_review(escaped).object.count("spec"), 1u);
  const std::string body = doc.dump();
  EXPECT_FALSE(wh::skim_pod_review(body + " x"));  // trailing garbage
  EXPECT_FALSE(wh::skim_pod_review(body.substr(0, body.size() - 1)));
  // The full parse then gives the usual error.
  EXPECT_THROW(wh::decode_admission_review(body.substr(0, body.size() - 1)),
               wh::AdmissionDecodeError);
  json accent = doc;
  accent["request"]["object"]["metadata"]["annotations"]["note"] = "caf\xc3\xa9";
  EXPECT_FALSE(wh::skim_pod_review(accent.dump()));  // non-ASCII: full parse
  EXPECT_EQ(wh::decode_admission_review(accent.dump()).object["metadata"]["annotations"]["note"],
            "caf\xc3\xa9");
}

}  // namespace
