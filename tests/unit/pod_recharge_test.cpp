// The Pod cache after a policy reload: a Pod the old policy did not control stays cached (it asks
// for a device) and is charged under the new policy; the store recharges in place.
#include <gtest/gtest.h>

#include "policy/errors.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload.hpp"
#include "tests/unit/support/rerated_h20.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_informer.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

json h20_pod(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "sg"}}},
          {"spec",
           {{"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H20"}}},
            {"containers",
             {{{"name", "c"},
               {"env", {{{"name", "X"}, {"value", std::string(4096, 'x')}}}},
               {"resources", {{"limits", {{"nvidia.com/gpu", "8"}}}}}}}}}}};
}

// The same preset with the H20 re-rated above the 3A090 thresholds (a catalog correction).
policy::Policy h20_controlled() {
  return testing::h20_rerated_policy();
}

TEST(PodRecharge, UncontrolledDevicePodsStayCachedAndAreChargedAfterAReload) {
  auto before = policy::load_preset(policy::kDefaultPreset);
  auto after = h20_controlled();
  ASSERT_NE(before.hash, after.hash);

  auto p = project_pod(h20_pod("p"), before, nullptr);
  ASSERT_TRUE(p) << "a Pod asking for GPUs was dropped from the cache because this policy does "
                    "not control its model; a reload could never charge it";
  EXPECT_EQ(p->controlled_tpp, 0);
  ASSERT_FALSE(p->basis.empty());
  // The basis keeps what the charge reads, not the whole Pod.
  EXPECT_FALSE(pod_basis(*p).dump().find(std::string(64, 'x')) != std::string::npos);

  auto fresh = project_pod(h20_pod("p"), after, nullptr);
  ASSERT_TRUE(fresh);
  ASSERT_GT(fresh->controlled_tpp, 0);
  auto recharged = recharge_pod(*p, after, nullptr);
  EXPECT_DOUBLE_EQ(recharged.controlled_tpp, fresh->controlled_tpp);
  EXPECT_EQ(recharged.policy_hash, after.hash);
  // And back: a reload that no longer controls the model releases the charge.
  EXPECT_EQ(recharge_pod(recharged, before, nullptr).controlled_tpp, 0);
}

TEST(PodRecharge, CpuOnlyPodsAreNotCached) {
  auto policy = policy::load_preset(policy::kDefaultPreset);
  json cpu = h20_pod("cpu");
  cpu["spec"]["containers"][0]["resources"] = {{"requests", {{"cpu", "1"}, {"memory", "1Gi"}}}};
  EXPECT_FALSE(project_pod(cpu, policy, nullptr));
}

TEST(PodRecharge, StoreRechargesEveryPodChargedUnderAnotherPolicy) {
  auto before = policy::load_preset(policy::kDefaultPreset);
  auto after = h20_controlled();
  const policy::Policy* current = &before;
  ObjectStore<PodInfo> store([&](const json& o) { return project_pod(o, *current, nullptr); });
  auto sink = store.sink();
  std::vector<json> page = {h20_pod("a"), h20_pod("b")};
  sink.list_page(page, true);
  sink.list_done();
  ASSERT_EQ(store.size(), 2u);

  current = &after;
  auto recharge = [&](const PodInfo& pod) -> std::optional<PodInfo> {
    if (pod.policy_hash == after.hash) return std::nullopt;
    return recharge_pod(pod, after, nullptr);
  };
  EXPECT_EQ(store.update_all(recharge), 2u);
  for (const auto& pod : store.all()) EXPECT_GT(pod->controlled_tpp, 0);
  EXPECT_EQ(store.update_all(recharge), 0u) << "already charged under the current policy";
}

// What the engine charges the whole Pod object (0 when it cannot read it), the reference a
// recharge from the kept basis must match.
double full_charge(const json& pod, const policy::Policy& policy,
                   const std::vector<std::string>* models) {
  try {
    policy::ExtractOptions options;
    options.available_models = models;
    return policy::extract_demand(pod, policy, options).controlled_tpp;
  } catch (const policy::ManifestError&) {
    return 0;
  }
}

json with_spec(json spec) {
  json pod = h20_pod("p");
  pod["spec"] = std::move(spec);
  return pod;
}

json container(json resources, json extra = json::object()) {
  json c = {{"name", "c"},
            {"image", "nvcr.io/nvidia/pytorch:24.05-py3"},
            {"env", {{{"name", "X"}, {"value", "y"}}}},
            {"resources", std::move(resources)}};
  c.update(extra);
  return c;
}

json gpus(const char* resource, const char* n) {
  return {{"requests", {{"cpu", "8"}, {"memory", "64Gi"}, {resource, n}}},
          {"limits", {{"cpu", "8"}, {"memory", "64Gi"}, {resource, n}}}};
}

struct Shape {
  const char* name;
  json pod;
  bool reduced;  // the compact basis is kept (not the whole spec)
};

std::vector<Shape> shapes() {
  const json h20_pin = {{"nvidia.com/gpu.product", "NVIDIA-H20"}};
  const json h100_pin = {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}};
  const json affinity = {
      {"nodeAffinity",
       {{"requiredDuringSchedulingIgnoredDuringExecution",
         {{"nodeSelectorTerms",
           {{{"matchExpressions",
              {{{"key", "nvidia.com/gpu.product"},
                {"operator", "In"},
                {"values", {"NVIDIA-H20", "NVIDIA-H100-80GB-HBM3"}}},
               {{"key", "kubernetes.io/arch"}, {"operator", "In"}, {"values", {"amd64"}}}}}}}}}}}}};
  return {
      {"h20 pinned", h20_pod("p"), true},
      {"h100 pinned, cpu and memory too",
       with_spec(
           {{"nodeSelector", h100_pin}, {"containers", {container(gpus("nvidia.com/gpu", "8"))}}}),
       true},
      {"unpinned",
       with_spec({{"nodeSelector", {{"kubernetes.io/hostname", "n1"}}},
                  {"containers", {container(gpus("nvidia.com/gpu", "4"))}}}),
       true},
      {"MIG slices, limits only",
       with_spec({{"containers",
                   {container({{"limits", {{"nvidia.com/mig-3g.20gb", "2"}, {"cpu", "1"}}}})}}}),
       true},
      {"required node affinity",
       with_spec(
           {{"affinity", affinity}, {"containers", {container(gpus("nvidia.com/gpu", "8"))}}}),
       true},
      {"init containers and a sidecar",
       with_spec({{"nodeSelector", h20_pin},
                  {"initContainers",
                   {container(gpus("nvidia.com/gpu", "8")),
                    container(gpus("nvidia.com/gpu", "1"), {{"restartPolicy", "Always"}})}},
                  {"containers", {container(gpus("nvidia.com/gpu", "2"))}}}),
       true},
      {"pod-level resources and overhead",
       with_spec({{"nodeSelector", h20_pin},
                  {"resources", gpus("nvidia.com/gpu", "6")},
                  {"overhead", {{"cpu", "250m"}, {"nvidia.com/gpu", "1"}}},
                  {"containers", {container(gpus("nvidia.com/gpu", "2"))}}}),
       true},
      {"DRA claims",
       with_spec({{"nodeSelector", h20_pin},
                  {"resourceClaims", {{{"name", "gpus"}, {"resourceClaimTemplateName", "eight"}}}},
                  {"containers",
                   {container({{"claims", {{{"name", "gpus"}}}}}),
                    container(gpus("nvidia.com/gpu", "1"))}}}),
       true},
      {"a plain quantity that does not parse",
       with_spec(
           {{"nodeSelector", h20_pin},
            {"containers", {container({{"limits", {{"cpu", "lots"}, {"nvidia.com/gpu", "8"}}}})}}}),
       true},
      // Not an object: the engine rejects the whole Pod; a basis that kept the other container
      // alone would charge it after a reload.
      {"a container that is not an object",
       with_spec({{"nodeSelector", h20_pin},
                  {"containers", {"oops", container(gpus("nvidia.com/gpu", "8"))}}}),
       true},
  };
}

TEST(PodRecharge, TheCompactBasisChargesWhatTheWholePodIsChargedForEveryShape) {
  const auto preset = policy::load_preset(policy::kDefaultPreset);
  const auto rerated = h20_controlled();
  const std::vector<std::string> h100_only = {"h100"};
  const std::vector<const std::vector<std::string>*> model_sets = {nullptr, &h100_only};
  for (const auto& shape : shapes()) {
    SCOPED_TRACE(shape.name);
    auto p = project_pod(shape.pod, preset, nullptr);
    ASSERT_TRUE(p) << "a Pod asking for devices was not cached";
    EXPECT_DOUBLE_EQ(p->controlled_tpp, full_charge(shape.pod, preset, nullptr));
    const json basis = pod_basis(*p);
    EXPECT_EQ(basis["spec"].dump().find("pytorch") == std::string::npos, shape.reduced)
        << basis.dump();
    for (const auto* models : model_sets) {
      for (const auto* policy : {&rerated, &preset}) {
        auto recharged = recharge_pod(*p, *policy, models);
        EXPECT_DOUBLE_EQ(recharged.controlled_tpp, full_charge(shape.pod, *policy, models))
            << "policy " << policy->name << (models ? ", h100 nodes" : "");
      }
    }
  }
}

TEST(PodRecharge, TheBasisDropsWhatNoPolicyCharges) {
  const auto preset = policy::load_preset(policy::kDefaultPreset);
  auto p = project_pod(shapes()[1].pod, preset, nullptr);
  ASSERT_TRUE(p);
  const json spec = pod_basis(*p)["spec"];
  EXPECT_EQ(spec, json::parse(R"({"containers":[{"resources":{
      "limits":{"nvidia.com/gpu":"8"},"requests":{"nvidia.com/gpu":"8"}}}],
      "nodeSelector":{"nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3"}})"));
  EXPECT_LT(p->basis.str().size(), 200u) << "MessagePack of the basis";
}

}  // namespace
}  // namespace exportgate::webhook
