// Cluster-mode admission without the network: namespace labels decide the tenant, /mutate stamps
// the admission uid, and a ledger that cannot be written denies capped requests (or admits with a
// warning when configured) while uncapped requests never touch it. Pod cache projections.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <sstream>

#include "policy/policy_loader.hpp"
#include "tests/unit/fake_kube_api.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/ledger_cluster.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

// The real ClusterLedger against an API server that answers every request with 503: what the
// admission path sees when the ledger cannot be written.
class UnreachableLedger : public ClusterLedger {
 public:
  UnreachableLedger() : UnreachableLedger(std::make_unique<State>()) {}
  int api_requests() const { return state_->calls; }

 private:
  struct State {
    State() : log(LogLevel::kError, &out) {
      api.set_fault([this](const std::string&, const std::string&, const std::string&) {
        ++calls;
        return std::optional<int>(503);
      });
    }
    testing::FakeKubeApi api;
    std::atomic<int> calls{0};
    std::ostringstream out;
    Logger log;
    KubeClient client{api.kube_config()};
  };
  static LedgerOptions options() {
    LedgerOptions o;
    o.namespace_ = "eg";
    o.deadline = std::chrono::milliseconds(500);
    return o;
  }
  explicit UnreachableLedger(std::unique_ptr<State> s)
      : ClusterLedger(s->client, options(), nullptr, s->log), state_(std::move(s)) {}
  std::unique_ptr<State> state_;
};

json pod(const std::string& ns, int gpus, bool pinned = true) {
  json spec = {
      {"containers",
       {{{"name", "c"}, {"resources", {{"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}}}};
  if (pinned) spec["nodeSelector"] = {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", ns}}},
          {"spec", spec}};
}

AdmissionRequest create(const std::string& ns, json object) {
  AdmissionRequest r;
  r.uid = "uid-1";
  r.kind = {"", "v1", "Pod"};
  r.resource = "pods";
  r.operation = "CREATE";
  r.namespace_ = ns;
  r.name = "p";
  r.object = std::move(object);
  return r;
}

AdmissionEnv labelled_env(bool allow = false) {
  AdmissionEnv env;
  env.namespace_labels =
      [](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    // Each namespace is its own tenant (a capped tier denies namespaces without one).
    if (ns == "sg")
      return std::map<std::string, std::string>{{"exportgate.io/jurisdiction", "SG"},
                                                {"exportgate.io/tenant", "sg"}};
    if (ns == "de") return std::map<std::string, std::string>{{"exportgate.io/jurisdiction", "DE"}};
    if (ns == "cn") return std::map<std::string, std::string>{{"exportgate.io/jurisdiction", "CN"}};
    return std::nullopt;
  };
  env.annotate_admission_uid = true;
  env.allow_when_ledger_unavailable = allow;
  return env;
}

TEST(LedgerFallback, CappedRequestIsDeniedWithTheReason) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  UnreachableLedger ledger;
  auto out = handle_admission(create("sg", pod("sg", 8)), Endpoint::kValidate, policy, ledger,
                              labelled_env());
  EXPECT_FALSE(out.response.allowed);
  EXPECT_TRUE(out.ledger_unavailable);
  EXPECT_EQ(out.jurisdiction, "SG");
  EXPECT_NE(out.response.status_message.find("usage ledger is unavailable"), std::string::npos)
      << out.response.status_message;
  EXPECT_NE(out.response.status_message.find("126656"), std::string::npos);
}

TEST(LedgerFallback, AllowModeAdmitsWithAWarning) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  UnreachableLedger ledger;
  auto out = handle_admission(create("sg", pod("sg", 8)), Endpoint::kValidate, policy, ledger,
                              labelled_env(true));
  EXPECT_TRUE(out.response.allowed);
  ASSERT_FALSE(out.response.warnings.empty());
  EXPECT_NE(out.response.warnings[0].find("unavailable"), std::string::npos);
}

TEST(LedgerFallback, UncappedRequestsAreDecidedAsUsual) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  UnreachableLedger ledger;
  auto env = labelled_env();
  auto tier1 =
      handle_admission(create("de", pod("de", 8)), Endpoint::kValidate, policy, ledger, env);
  EXPECT_EQ(ledger.api_requests(), 0) << "an uncapped request went to the ledger's API";
  EXPECT_TRUE(tier1.response.allowed);
  EXPECT_EQ(tier1.jurisdiction, "DE");
  auto tier3 =
      handle_admission(create("cn", pod("cn", 8)), Endpoint::kValidate, policy, ledger, env);
  EXPECT_FALSE(tier3.response.allowed);
  EXPECT_FALSE(tier3.ledger_unavailable);
  auto cpu = pod("sg", 0);
  cpu["spec"]["containers"][0].erase("resources");
  EXPECT_TRUE(handle_admission(create("sg", cpu), Endpoint::kValidate, policy, ledger, env)
                  .response.allowed);
  EXPECT_EQ(ledger.api_requests(), 0);
}

TEST(LedgerFallback, MutateStampsTheAdmissionUidOnPods) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  UnreachableLedger ledger;
  auto out = handle_admission(create("sg", pod("sg", 8)), Endpoint::kMutate, policy, ledger,
                              labelled_env());
  ASSERT_TRUE(out.response.patch.has_value());
  json patched = pod("sg", 8).patch(*out.response.patch);
  EXPECT_EQ(patched["metadata"]["annotations"]["exportgate.io/admission-uid"], "uid-1");
}

TEST(KubeCaches, PodProjectionKeepsControlledPodsOnly) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  auto p = project_pod(pod("sg", 8), policy, nullptr);
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->controlled_tpp, 126656);
  EXPECT_TRUE(p->in_use(std::chrono::system_clock::now()));
  auto done = pod("sg", 8);
  done["status"]["phase"] = "Succeeded";
  EXPECT_FALSE(project_pod(done, policy, nullptr)->in_use(std::chrono::system_clock::now()));
  auto cpu = pod("sg", 0);
  cpu["spec"]["containers"][0].erase("resources");
  EXPECT_FALSE(project_pod(cpu, policy, nullptr));
}

TEST(KubeCaches, UnpinnedPodsAreChargedAsTheBestModelOnTheNodes) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  Labels h20 = {{"nvidia.com/gpu.product", "NVIDIA-H20"}};
  auto models = models_on_nodes({&h20}, policy);
  ASSERT_FALSE(models.empty());
  auto only_h20 = project_pod(pod("sg", 8, false), policy, &models);
  auto catalog = project_pod(pod("sg", 8, false), policy, nullptr);
  ASSERT_TRUE(catalog);
  // H20 is not controlled: with only H20 nodes the pod holds no controlled TPP at all.
  EXPECT_FALSE(only_h20 && only_h20->controlled_tpp > 0);
  EXPECT_GT(catalog->controlled_tpp, 0);
}

}  // namespace
}  // namespace exportgate::webhook
