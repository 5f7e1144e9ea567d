// Input a hostile or careless tenant can submit, that the API server accepts: quantities past any
// real cluster, documents nested tens of thousands deep, bodies cut short. Each must give a clear
// denial or error, never a crash (issue 13: one such Pod used to bring down every replica).
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>

#include "policy/errors.hpp"
#include "policy/json_limits.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/workload.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/admission_skim.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate {
namespace {

using nlohmann::json;

json gpu_pod(const std::string& ns, const json& quantity) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", ns}}},
          {"spec",
           {{"containers",
             {{{"name", "c"}, {"resources", {{"limits", {{"nvidia.com/gpu", quantity}}}}}}}}}}};
}

webhook::AdmissionRequest create(const json& object) {
  webhook::AdmissionRequest r;
  r.uid = "u1";
  r.kind = {"", "v1", "Pod"};
  r.resource = "pods";
  r.operation = "CREATE";
  r.namespace_ = object["metadata"]["namespace"];
  r.name = object["metadata"]["name"];
  r.object = object;
  return r;
}

policy::Policy policy_with(const std::string& ns, const std::string& jurisdiction) {
  auto p = policy::load_preset(policy::kDefaultPreset);
  policy::Tenant t;
  t.name = ns;
  t.jurisdiction = jurisdiction;
  t.namespaces = {ns};
  p.tenants.push_back(t);
  return p;
}

// "25T" is a whole number to the API server: 2.5e13 GPUs, 4e17 TPP as the worst-case H-class.
TEST(HostileInput, HugeGpuQuantityIsDeniedAsBeyondRangeInEveryTier) {
  for (const auto& [ns, jurisdiction] :
       std::vector<std::pair<std::string, std::string>>{{"us", "US"}, {"sg", "SG"}}) {
    for (const json& q : {json("25T"), json("1e14"), json(1e300), json("8Ei")}) {
      auto p = policy_with(ns, jurisdiction);
      webhook::InMemoryLedger ledger;
      auto out = webhook::handle_admission(create(gpu_pod(ns, q)), webhook::Endpoint::kValidate, p,
                                           ledger);
      EXPECT_FALSE(out.response.allowed) << ns << " " << q.dump();
      EXPECT_NE(out.response.status_message.find("beyond the range exportgate evaluates"),
                std::string::npos)
          << out.response.status_message;
      // /mutate only annotates: its TPP figure is the saturated total, a valid integer.
      auto m =
          webhook::handle_admission(create(gpu_pod(ns, q)), webhook::Endpoint::kMutate, p, ledger);
      EXPECT_EQ(m.response.uid, "u1");
      ASSERT_TRUE(m.response.patch) << "no TPP annotation on /mutate";
      EXPECT_EQ(m.response.patch->dump().find("e+"), std::string::npos) << m.response.patch->dump();
      EXPECT_EQ(ledger.snapshot(ns, jurisdiction).tenant_tpp, 0) << "a denial reserves nothing";
      // The next request is answered normally.
      auto next = webhook::handle_admission(create(gpu_pod(ns, "1")), webhook::Endpoint::kValidate,
                                            p, ledger);
      EXPECT_EQ(next.response.status_message.find("beyond the range"), std::string::npos);
    }
  }
}

TEST(HostileInput, BeyondRangeDemandIsSaturatedNotOverflowed) {
  const auto p = policy::load_preset(policy::kDefaultPreset);
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", "j"}, {"namespace", "x"}}},
              {"spec",
               {{"parallelism", 9'000'000'000'000'000'000ull},
                {"template", {{"spec", gpu_pod("x", "8")["spec"]}}}}}};
  const auto d = policy::extract_demand(job, p);
  EXPECT_TRUE(d.beyond_range);
  EXPECT_LE(d.total_tpp, policy::kMaxChargeTpp);
  EXPECT_LE(d.controlled_tpp, policy::kMaxChargeTpp);
  EXPECT_LE(d.accelerator_count, policy::kMaxChargeDevices);
  EXPECT_FALSE(policy::extract_demand(gpu_pod("x", "8"), p).beyond_range);
}

TEST(HostileInput, NumbersFormatWhateverTheirSize) {
  EXPECT_EQ(policy::format_thousands(126656), "126,656");
  EXPECT_EQ(policy::format_thousands(2.5e21), "2.5e+21");
  EXPECT_EQ(policy::format_thousands(-1e300), "-1e+300");
  EXPECT_EQ(policy::format_thousands(1.5e17), "150,000,000,000,000,000");
  EXPECT_EQ(policy::percent_of(91, 100), 91);
  EXPECT_EQ(policy::percent_of(1e300, 1), 1000000);
  EXPECT_EQ(policy::percent_of(5, 0), 0);
  EXPECT_EQ(policy::format_whole(126656.4), "126656");
  EXPECT_EQ(policy::format_whole(1e30), "9200000000000000000");
}

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

std::string job_review(const std::string& extra_field_value) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
         R"("kind":{"group":"batch","version":"v1","kind":"Job"},"resource":{"group":"batch",)"
         R"("version":"v1","resource":"jobs"},"operation":"CREATE","namespace":"us",)"
         R"("userInfo":{"username":"t"},"object":{"apiVersion":"batch/v1","kind":"Job",)"
         R"("metadata":{"name":"j","namespace":"us","annotations":{}},"spec":{"x":)" +
         extra_field_value +
         R"(,"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}}}}})";
}

TEST(HostileInput, DeepJsonIsRefusedBeforeAnythingRecursiveRuns) {
  // 100,000 levels: copying or dumping this recursed once per level and overflowed the stack.
  try {
    webhook::decode_admission_review(job_review(nested_arrays(100'000)));
    FAIL() << "a review nested 100,000 deep was accepted";
  } catch (const webhook::AdmissionDecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("deeper than 1000 levels"), std::string::npos) << e.what();
  }
  // Real objects stay well inside the bound, and such a review is handled end to end.
  auto ok = webhook::decode_admission_review(job_review(nested_arrays(900)));
  const auto p = policy_with("us", "US");
  webhook::InMemoryLedger ledger;
  for (auto endpoint : {webhook::Endpoint::kValidate, webhook::Endpoint::kMutate}) {
    EXPECT_TRUE(webhook::handle_admission(ok, endpoint, p, ledger).response.allowed);
  }
  EXPECT_TRUE(policy::parse_json_bounded_or_discarded(nested_arrays(5000)).is_discarded());
  EXPECT_FALSE(policy::parse_json_bounded_or_discarded(nested_arrays(50)).is_discarded());
}

std::string manifest_error(const std::string& text, const std::string& file) {
  try {
    policy::parse_manifests(text, file);
  } catch (const policy::ManifestError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(HostileInput, DeepManifestsAreErrorsNotCrashes) {
  const std::string deep_json =
      R"({"apiVersion":"v1","kind":"ConfigMap","data":)" + nested_arrays(100'000) + "}";
  EXPECT_NE(manifest_error(deep_json, "d.json").find("deeper than 1000"), std::string::npos);
  // yaml-cpp itself gives up on deep flow collections; either way an error, not a crash.
  const std::string deep_yaml = "apiVersion: v1\nkind: ConfigMap\ndata: " + nested_arrays(1500);
  EXPECT_NE(manifest_error(deep_yaml, "d.yaml"), "<no error>");
  const std::string very_deep_yaml =
      "apiVersion: v1\nkind: ConfigMap\ndata: " + nested_arrays(100'000);
  EXPECT_NE(manifest_error(very_deep_yaml, "d.yaml"), "<no error>");
  // An anchor used inside itself would make the document infinitely deep.
  const std::string cycle = "apiVersion: v1\nkind: ConfigMap\ndata: &a [*a]\n";
  EXPECT_NE(manifest_error(cycle, "c.yaml"), "<no error>");
}

std::string read_review(const std::string& name) {
  std::ifstream in(std::string(EXPORTGATE_SOURCE_DIR) + "/bench/reviews/" + name + ".json");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every prefix of a real review, each in a buffer of exactly its size, so a read past the end is
// an ASan report (make sanitize) and not a read of the rest of the text.
TEST(HostileInput, TruncatedBodiesAreRejectedWithoutReadingPastTheEnd) {
  for (const char* name : {"gpu-pod-h100-pinned", "cpu-pod-web", "gpu-deployment"}) {
    std::string full = read_review(name);
    while (!full.empty() && std::isspace(static_cast<unsigned char>(full.back()))) full.pop_back();
    ASSERT_FALSE(full.empty()) << name;
    for (size_t n = 0; n < full.size(); ++n) {
      auto buf = std::make_unique<char[]>(n == 0 ? 1 : n);
      std::copy(full.data(), full.data() + n, buf.get());
      const std::string_view prefix(buf.get(), n);
      EXPECT_FALSE(webhook::skim_pod_review(prefix).has_value()) << name << " prefix " << n;
      EXPECT_THROW(webhook::decode_admission_review(prefix), webhook::AdmissionDecodeError)
          << name << " prefix " << n;
    }
    EXPECT_NO_THROW(webhook::decode_admission_review(full));
  }
}

}  // namespace
}  // namespace exportgate
