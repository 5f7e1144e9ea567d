// The Pod cache shares what Pods have in common (issue 19): the Pods of one template hold one
// copy of their charge basis, namespace and policy hash; a reload charges each distinct basis
// once. Sharing must never carry one Pod's charge over to another: a changed template gets its
// own basis and charge, and the Pods still on the old template keep theirs.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload.hpp"
#include "tests/unit/support/rerated_h20.hpp"
#include "webhook/annotations.hpp"
#include "webhook/compact_uid.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/kube_watch.hpp"
#include "webhook/string_pool.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

// A Pod of a Deployment's template: `gpus` H20s pinned by node selector, in namespace `ns`.
json template_pod(const std::string& name, const char* gpus, const std::string& ns = "sg") {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"uid", "uid-" + name},
            {"labels", {{"app", "train"}, {"pod-template-hash", "6f7d8c9b4"}}}}},
          {"spec",
           {{"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H20"}}},
            {"containers",
             {{{"name", "trainer"},
               {"image", "nvcr.io/nvidia/pytorch:24.05-py3"},
               {"resources", {{"limits", {{"nvidia.com/gpu", gpus}, {"cpu", "8"}}}}}}}}}},
          {"status", {{"phase", "Running"}}}};
}

// The preset with the H20 re-rated above the 3A090 thresholds, so a reload changes its charge.
policy::Policy rerated(const std::string& extra = "") {
  return testing::h20_rerated_policy(extra);
}

double whole_pod_charge(const json& pod, const policy::Policy& policy) {
  try {
    return policy::capped_tpp(policy::extract_demand(pod, policy));
  } catch (const policy::ManifestError&) {
    return 0;
  }
}

TEST(StringPool, OneCopyPerValueAndUnheldValuesAreSwept) {
  StringPool pool;
  Interned a = pool.intern("team-a");
  Interned b = pool.intern(std::string("team-") + "a");
  EXPECT_TRUE(a.shares_with(b));
  EXPECT_EQ(a, "team-a");
  Interned c = pool.intern("team-b");
  EXPECT_FALSE(a.shares_with(c));
  EXPECT_FALSE(a == c);
  EXPECT_TRUE(pool.intern("").empty());
  EXPECT_EQ(pool.size(), 2u);
  // Values nobody holds are dropped once the pool has grown enough: it stays bounded under
  // churn (namespaces created and deleted, templates rolled).
  for (int i = 0; i < 10'000; ++i) pool.intern("gone-" + std::to_string(i));
  EXPECT_LT(pool.size(), 200u);
  EXPECT_EQ(a.str(), "team-a") << "held values survive a sweep";
  EXPECT_TRUE(pool.intern("team-a").shares_with(a));
}

TEST(CompactUid, GivesBackExactlyTheTextItWasMadeFrom) {
  StringPool pool;
  const CompactUid uuid("5b7e1c2a-0f3d-4d3e-9f1a-00000000abcd", pool);
  EXPECT_TRUE(uuid.compact());
  EXPECT_EQ(uuid.str(), "5b7e1c2a-0f3d-4d3e-9f1a-00000000abcd");
  EXPECT_EQ(CompactUid("00000000-0000-0000-0000-000000000000", pool).str(),
            "00000000-0000-0000-0000-000000000000");
  // Not a lower-case UUID: kept as it is (an upper-case one too, or it would come back changed).
  for (const char* other :
       {"5B7E1C2A-0F3D-4D3E-9F1A-00000000ABCD", "5b7e1c2a0f3d4d3e9f1a00000000abcd0000", "uid-1",
        "{5b7e1c2a-0f3d}", "5b7e1c2a-0f3d-4d3e-9f1a-00000000abcg",
        "5b7e1c2a-0f3d-4d3e-9f1a-00000000abc"}) {
    const CompactUid u(other, pool);
    EXPECT_FALSE(u.compact()) << other;
    EXPECT_EQ(u.str(), other);
  }
  EXPECT_TRUE(CompactUid().empty());
  EXPECT_TRUE(CompactUid("", pool).empty());
  EXPECT_FALSE(uuid.empty());
}

TEST(PodCacheSharing, PodsOfOneTemplateShareOneBasisAndTheStringsTheyHaveInCommon) {
  const auto policy = policy::load_preset(policy::kDefaultPreset);
  auto a = project_pod(template_pod("train-6f7d8c9b4-aaaaa", "8"), policy, nullptr);
  auto b = project_pod(template_pod("train-6f7d8c9b4-bbbbb", "8"), policy, nullptr);
  auto other = project_pod(template_pod("train-7c4b9d8e5-ccccc", "4"), policy, nullptr);
  ASSERT_TRUE(a && b && other);
  EXPECT_TRUE(a->basis.shares_with(b->basis)) << "one copy per template, not one per Pod";
  EXPECT_TRUE(a->namespace_.shares_with(b->namespace_));
  EXPECT_TRUE(a->policy_hash.shares_with(b->policy_hash));
  EXPECT_FALSE(a->basis.shares_with(other->basis));
  EXPECT_EQ(a->key, "sg/train-6f7d8c9b4-aaaaa");
  EXPECT_EQ(a->name(), "train-6f7d8c9b4-aaaaa");
  EXPECT_EQ(a->namespace_, "sg");
}

TEST(PodCacheSharing, ATemplateChangeDoesNotLeakTheOldChargeToOtherPods) {
  const auto before = policy::load_preset(policy::kDefaultPreset);
  const auto after = rerated();
  const policy::Policy* current = &before;
  ObjectStore<PodInfo> store([&](const json& o) { return project_pod(o, *current, nullptr); });
  auto sink = store.sink();
  std::vector<json> page;
  for (const char* n : {"a", "b", "c"}) page.push_back(template_pod(n, "8"));
  page.push_back(template_pod("small", "2"));
  sink.list_page(page, true);
  sink.list_done();
  ASSERT_EQ(store.size(), 4u);

  // The template of "b" changes (a rollout replaced it with a 1-GPU Pod of the same name).
  json b = template_pod("b", "1");
  sink.apply(WatchEventType::kModified, b);
  current = &after;
  EXPECT_EQ(recharge_pods(store, after, nullptr), 4u);
  for (const char* n : {"a", "c", "b", "small"}) {
    SCOPED_TRACE(n);
    auto pod = store.get(std::string("sg/") + n);
    ASSERT_TRUE(pod);
    const json now = n == std::string("b")       ? template_pod("b", "1")
                     : n == std::string("small") ? template_pod("small", "2")
                                                 : template_pod(n, "8");
    EXPECT_GT(whole_pod_charge(now, after), 0);
    EXPECT_DOUBLE_EQ(pod->controlled_tpp, whole_pod_charge(now, after));
    EXPECT_EQ(pod->policy_hash, after.hash);
  }
  EXPECT_TRUE(store.get("sg/a")->basis.shares_with(store.get("sg/c")->basis));
  EXPECT_FALSE(store.get("sg/a")->basis.shares_with(store.get("sg/b")->basis));
  // A later change of "a" alone leaves "c" on the template they shared.
  json a = template_pod("a", "2");
  sink.apply(WatchEventType::kModified, a);
  EXPECT_DOUBLE_EQ(store.get("sg/a")->controlled_tpp, whole_pod_charge(a, after));
  EXPECT_DOUBLE_EQ(store.get("sg/c")->controlled_tpp,
                   whole_pod_charge(template_pod("c", "8"), after));
  EXPECT_TRUE(store.get("sg/a")->basis.shares_with(store.get("sg/small")->basis));
  // Deleted Pods leave the cache under the key their projection carries.
  json c = template_pod("c", "8");
  sink.apply(WatchEventType::kDeleted, c);
  EXPECT_FALSE(store.get("sg/c"));
  EXPECT_EQ(store.size(), 3u);
}

// A privileged agent (device access outside requests) with no GPU request.
json privileged_agent(const std::string& ns, bool pinned_h20, bool admission_uid) {
  json agent = template_pod("agent", "1", ns);
  agent["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", "1"}}}};
  agent["spec"]["containers"][0]["securityContext"] = {{"privileged", true}};
  if (!pinned_h20) agent["spec"].erase("nodeSelector");
  if (admission_uid) agent["metadata"]["annotations"] = {{kAdmissionUidAnnotation, "uid-agent"}};
  return agent;
}

// The namespace is part of the basis: deviceAccessExempt reads it. A privileged agent of an
// exempt namespace (kept in the cache for its admission uid) is charged nothing, before and after
// a reload. (Before the basis kept the namespace, the recharge charged it 8 devices of access.)
TEST(PodCacheSharing, AnExemptNamespaceStaysExemptAfterAReload) {
  const std::string exempt = "  deviceAccessExempt: [gpu-agents]\n";
  const auto before = policy::load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: agents}
spec:
  preset: diffusion-2025
)" + exempt,
                                          "agents.yaml");
  const auto after = rerated(exempt);
  const json agent = privileged_agent("gpu-agents", false, true);
  auto p = project_pod(agent, before, nullptr);
  ASSERT_TRUE(p) << "kept for its admission uid";
  EXPECT_EQ(p->controlled_tpp, 0);
  EXPECT_EQ(whole_pod_charge(agent, after), 0);
  EXPECT_EQ(recharge_pod(*p, after, nullptr).controlled_tpp, 0)
      << "the exempt namespace's agent was charged for device access after a reload";
  // The same Pod elsewhere is charged for its device access, and shares no basis with it.
  const json elsewhere = privileged_agent("team-x", false, true);
  auto q = project_pod(elsewhere, before, nullptr);
  ASSERT_TRUE(q);
  EXPECT_FALSE(p->basis.shares_with(q->basis));
  EXPECT_GT(q->controlled_tpp, 0);
  EXPECT_DOUBLE_EQ(recharge_pod(*q, after, nullptr).controlled_tpp,
                   whole_pod_charge(elsewhere, after));
}

// Device access is part of the basis: a privileged Pod pinned to a model the policy does not
// control is charged 0 now, and is kept so that a reload that controls the model charges it (with
// or without an admission uid). Before, the basis dropped securityContext (it charged the same 0
// under the old policy) and such a Pod without a uid was not cached: the reload under-counted.
TEST(PodCacheSharing, DeviceAccessToAnUncontrolledModelIsChargedAfterAReload) {
  const auto before = policy::load_preset(policy::kDefaultPreset);
  const auto after = rerated();
  for (bool uid : {true, false}) {
    SCOPED_TRACE(uid ? "with an admission uid" : "without");
    const json agent = privileged_agent("team-x", true, uid);
    auto p = project_pod(agent, before, nullptr);
    ASSERT_TRUE(p) << "a Pod with device access was not cached";
    EXPECT_EQ(p->controlled_tpp, 0);
    EXPECT_GT(whole_pod_charge(agent, after), 0);
    EXPECT_DOUBLE_EQ(recharge_pod(*p, after, nullptr).controlled_tpp,
                     whole_pod_charge(agent, after));
  }
}

TEST(PodCacheSharing, AProjectionUnderAnotherKeyIsRefused) {
  const auto policy = policy::load_preset(policy::kDefaultPreset);
  ObjectStore<PodInfo> store([&](const json& o) -> std::optional<PodInfo> {
    auto p = project_pod(o, policy, nullptr);
    if (p) p->key = "elsewhere/x";
    return p;
  });
  auto sink = store.sink();
  json pod = template_pod("p", "8");
  EXPECT_THROW(sink.apply(WatchEventType::kAdded, pod), std::logic_error);
  EXPECT_EQ(store.size(), 0u);
}

// A list is taken apart item by item as it is parsed (parse_list_page, issue 19): each listed
// Pod is charged and kept exactly as the same Pod from a watch event, the whole object.
TEST(PodCacheSharing, ListedPodsAreChargedAsTheWholeObject) {
  const auto policy = rerated();  // the H20s of template_pod are controlled too
  std::ifstream in(std::string(EXPORTGATE_SOURCE_DIR) + "/bench/reviews/gpu-pod-h100-pinned.json");
  std::stringstream text;
  text << in.rdbuf();
  json pinned = json::parse(text.str())["request"]["object"];
  pinned["status"] = {{"phase", "Running"}};
  std::vector<json> watched = {pinned, template_pod("small", "2"), template_pod("big", "8")};
  watched[0]["metadata"]["annotations"][kAdmissionUidAnnotation] =
      "5b7e1c2a-0f3d-4d3e-9f1a-00000000abcd";
  json list = {{"kind", "PodList"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", "5"}}},
               {"items", json::array()}};
  for (json pod : watched) {  // list items carry no kind or apiVersion
    pod.erase("kind");
    pod.erase("apiVersion");
    list["items"].push_back(pod);
  }
  ObjectStore<PodInfo> store([&](const json& o) { return project_pod(o, policy, nullptr); });
  auto sink = store.sink();
  bool first = true;
  parse_list_page(list.dump(), [&](json& item) {
    std::vector<json> one;
    one.push_back(std::move(item));
    sink.list_page(one, first);
    first = false;
  });
  sink.list_done();
  ASSERT_EQ(store.size(), watched.size());
  for (const json& pod : watched) {
    const auto expected = project_pod(pod, policy, nullptr);
    ASSERT_TRUE(expected);
    SCOPED_TRACE(expected->key);
    const auto listed = store.get(expected->key);
    ASSERT_TRUE(listed);
    EXPECT_GT(listed->controlled_tpp, 0);
    EXPECT_EQ(listed->controlled_tpp, expected->controlled_tpp);
    EXPECT_EQ(listed->controlled_tpp, whole_pod_charge(pod, policy));
    EXPECT_EQ(listed->site, expected->site);
    EXPECT_EQ(listed->basis.str(), expected->basis.str());
    EXPECT_EQ(listed->admission_uid.str(), expected->admission_uid.str());
    EXPECT_EQ(listed->owner.str(), expected->owner.str());
    EXPECT_EQ(listed->finished, expected->finished);
  }
}

}  // namespace
}  // namespace exportgate::webhook
