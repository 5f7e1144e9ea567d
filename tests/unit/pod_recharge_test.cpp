// The Pod cache after a policy reload: a Pod the old policy did not control stays cached (it asks
// for a device) and is charged under the new policy; the store recharges in place.
#include <gtest/gtest.h>

#include "policy/policy_loader.hpp"
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
  return policy::load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: rerated}
spec:
  preset: diffusion-2025
  catalog:
    models:
      - {id: h20, denseTops: 2000}
)",
                             "rerated.yaml");
}

TEST(PodRecharge, UncontrolledDevicePodsStayCachedAndAreChargedAfterAReload) {
  auto before = policy::load_preset(policy::kDefaultPreset);
  auto after = h20_controlled();
  ASSERT_NE(before.hash, after.hash);

  auto p = project_pod(h20_pod("p"), before, nullptr);
  ASSERT_TRUE(p) << "a Pod asking for GPUs was dropped from the cache because this policy does "
                    "not control its model; a reload could never charge it";
  EXPECT_EQ(p->controlled_tpp, 0);
  ASSERT_TRUE(p->basis);
  // The basis keeps what the charge reads, not the whole Pod.
  EXPECT_FALSE(p->basis->dump().find(std::string(64, 'x')) != std::string::npos);

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

}  // namespace
}  // namespace exportgate::webhook
