// The Kueue AdmissionCheck controller against the in-memory API server, with the real engine,
// PolicyStore and ClusterLedger: Workloads gated on exportgate's check become Ready within the
// tenant cap (with a workload reservation in the TPPLedger), Pending over it and Ready once TPP
// frees, Rejected for a Tier 3 jurisdiction or an unreadable pod set; reservations end when the
// workload finishes, loses its quota or is deleted. Status goes through server-side apply.
#include "webhook/kueue_check.hpp"

#include <gtest/gtest.h>

#include "tests/unit/fake_kube_api.hpp"
#include "tests/unit/support/admission_reviews.hpp"
#include "tests/unit/support/cluster_caches.hpp"
#include "tests/unit/support/fake_api_ledger.hpp"
#include "tests/unit/support/policy_file.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/metrics.hpp"
#include "webhook/reconciler.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

const std::string kApi = "/apis/kueue.x-k8s.io/v1beta2";
const std::string kLedgerIn =
    "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-in";

// acme (IN, Tier 2) may hold 300,000 TPP: two 8 x H100 workloads (126,656 each), not three.
constexpr const char* kPolicy = R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: kueue-test}
spec:
  preset: diffusion-2025
  tenants:
  - {name: acme, jurisdiction: IN, namespaces: [acme], capTPP: 300000}
)";

json h100_template(const json& containers = nullptr) {
  json c = containers.is_null()
               ? json::array({{{"name", "main"},
                               {"image", "x"},
                               {"resources", {{"limits", {{"nvidia.com/gpu", "8"}}}}}}})
               : containers;
  return {{"spec",
           {{"containers", c},
            {"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}}}}}};
}

json workload(const std::string& ns, const std::string& name, json pod_sets = nullptr) {
  if (pod_sets.is_null()) {
    pod_sets = json::array({{{"name", "main"}, {"count", 1}, {"template", h100_template()}}});
  }
  return {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
          {"kind", "Workload"},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"uid", "wl-uid-" + name},
            {"ownerReferences",
             {{{"apiVersion", "batch/v1"},
               {"kind", "Job"},
               {"name", name},
               {"uid", "job-uid-" + name},
               {"controller", true}}}}}},
          {"spec", {{"queueName", "q"}, {"podSets", pod_sets}}},
          {"status",
           {{"conditions", {{{"type", "QuotaReserved"}, {"status", "True"}}}},
            {"admissionChecks",
             {{{"name", "exportgate"}, {"state", "Pending"}, {"message", ""}},
              {{"name", "other"}, {"state", "Pending"}, {"message", ""}}}}}}};
}

std::string path_of(const std::string& ns, const std::string& name) {
  return kApi + "/namespaces/" + ns + "/workloads/" + name;
}

struct Fixture : ::testing::Test {
  testing::PolicyFile file{"kueue", kPolicy};
  testing::FakeApiLedger cluster;
  testing::FakeKubeApi& api = cluster.api;
  Logger& log = cluster.log;
  PolicyStore* policies = &file.store();
  ClusterLedger* ledger = &cluster.ledger;
  std::unique_ptr<KueueCheckController> controller;

  void SetUp() override {
    api.add_collection(kApi + "/workloads");
    api.put_object(kApi + "/admissionchecks/exportgate",
                   {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
                    {"kind", "AdmissionCheck"},
                    {"metadata", {{"name", "exportgate"}, {"generation", 1}}},
                    {"spec", {{"controllerName", "exportgate.io/tpp"}}}});
    api.put_object(kApi + "/admissionchecks/other",
                   {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
                    {"kind", "AdmissionCheck"},
                    {"metadata", {{"name", "other"}}},
                    {"spec", {{"controllerName", "example.com/other"}}}});
    KueueCheckInputs in;
    in.client = &cluster.client;
    in.policies = policies;
    in.ledger = ledger;
    in.namespace_labels = [](const std::string& ns) -> std::optional<Labels> {
      if (ns == "cn-lab") return Labels{{"exportgate.io/jurisdiction", "CN"}};
      return Labels{};
    };
    controller = std::make_unique<KueueCheckController>(in, KueueCheckOptions{}, log);
  }

  json check_of(const std::string& ns, const std::string& name,
                const std::string& check = "exportgate") {
    auto wl = api.object(path_of(ns, name));
    EXPECT_TRUE(wl);
    for (const auto& acs : (*wl)["status"]["admissionChecks"]) {
      if (acs["name"] == check) return acs;
    }
    return nullptr;
  }
  std::vector<std::string> workload_reservations() {
    std::vector<std::string> uids;
    auto l = api.object(kLedgerIn);
    if (!l) return uids;
    for (const auto& r : (*l)["spec"]["reservations"]) {
      if (r.value("workload", false)) uids.push_back(r["uid"]);
    }
    return uids;
  }
  void set_condition(const std::string& ns, const std::string& name, const std::string& type,
                     const std::string& status) {
    auto wl = *api.object(path_of(ns, name));
    json conds = json::array();
    for (const auto& c : wl["status"]["conditions"]) {
      if (c["type"] != type) conds.push_back(c);
    }
    conds.push_back({{"type", type}, {"status", status}});
    wl["status"]["conditions"] = conds;
    api.put_object(path_of(ns, name), wl);
  }
};

TEST_F(Fixture, ReadyWithinTheCapPendingOverItThenReadyWhenTppFrees) {
  for (const char* n : {"wl-1", "wl-2", "wl-3"})
    api.put_object(path_of("acme", n), workload("acme", n));

  auto stats = controller->run_once();
  EXPECT_EQ(stats.workloads, 3);
  EXPECT_EQ(check_of("acme", "wl-1")["state"], "Ready");
  EXPECT_EQ(check_of("acme", "wl-2")["state"], "Ready");
  const json waiting = check_of("acme", "wl-3");
  EXPECT_EQ(waiting["state"], "Pending");
  const std::string why = waiting["message"];
  EXPECT_NE(why.find("300,000"), std::string::npos) << why;  // the cap it waits for
  EXPECT_EQ(why.find('\n'), std::string::npos);
  EXPECT_FALSE(waiting.value("lastTransitionTime", "").empty());
  // Another controller's check is left alone.
  EXPECT_EQ(check_of("acme", "wl-1", "other")["state"], "Pending");
  EXPECT_EQ(workload_reservations(),
            (std::vector<std::string>{"kueue:wl-uid-wl-1", "kueue:wl-uid-wl-2"}));
  auto ledger_obj = *api.object(kLedgerIn);
  EXPECT_DOUBLE_EQ(ledger_obj["spec"]["tenants"]["acme"]["reservedTPP"].get<double>(), 253312);
  EXPECT_EQ(ledger_obj["spec"]["reservations"][0]["link"], "acme/job-uid-wl-1");
  for (const auto& t : api.patch_types()) EXPECT_EQ(t, "application/apply-patch+yaml");

  // Nothing changed: nothing written again.
  const int patches = api.requests("PATCH");
  controller->run_once();
  EXPECT_EQ(api.requests("PATCH"), patches);
  EXPECT_EQ(check_of("acme", "wl-3")["state"], "Pending");

  // wl-1 finishes: its reservation ends and wl-3 fits.
  set_condition("acme", "wl-1", "Finished", "True");
  controller->run_once();
  EXPECT_EQ(check_of("acme", "wl-3")["state"], "Ready");
  EXPECT_EQ(workload_reservations(),
            (std::vector<std::string>{"kueue:wl-uid-wl-2", "kueue:wl-uid-wl-3"}));
}

// The webhook charges a Pod of a Ready workload against the workload's reservation: with the
// tenant at its cap through two reservations, their Pods are admitted (and add nothing), a Pod of
// no workload is denied.
TEST_F(Fixture, PodsOfAReadyWorkloadAreAdmittedAgainstItsReservation) {
  for (const char* n : {"wl-1", "wl-2"}) api.put_object(path_of("acme", n), workload("acme", n));
  controller->run_once();
  ASSERT_EQ(workload_reservations().size(), 2u);
  const auto policy = policies->current();
  AdmissionEnv env;
  env.namespace_labels = [](const std::string&) -> std::optional<Labels> { return Labels{}; };
  auto create = [&](const std::string& name, const std::string& owner_uid) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}}},  // no namespace: the request's stands in
                {"spec", h100_template()["spec"]}};
    if (!owner_uid.empty()) {
      pod["metadata"]["ownerReferences"] = {
          {{"kind", "Job"}, {"name", "j"}, {"uid", owner_uid}, {"controller", true}}};
    }
    return handle_admission(testing::pod_create("uid-" + name, "acme", name, pod),
                            Endpoint::kValidate, *policy, *ledger, env);
  };
  EXPECT_TRUE(create("wl-1-pod", "job-uid-wl-1").response.allowed);
  EXPECT_TRUE(create("wl-2-pod", "job-uid-wl-2").response.allowed);
  EXPECT_DOUBLE_EQ(ledger->snapshot("acme", "IN").tenant_tpp, 253312);
  // A second Pod under wl-1's owner has no room left in its reservation: charged, over the cap.
  EXPECT_FALSE(create("wl-1-extra", "job-uid-wl-1").response.allowed);
  EXPECT_FALSE(create("loose", "").response.allowed);
  EXPECT_DOUBLE_EQ(ledger->snapshot("acme", "IN").tenant_tpp, 253312);
}

// Issue 17: a running Pod of a Ready workload was counted twice, in its workload's charge and as
// its own admission reservation, which the reconciler never claimed: the API server gives the
// /mutate and the /validate call of one Pod creation different AdmissionReview uids, and the
// reservation was made under /validate's while the Pod carries /mutate's. Here the Pod goes
// through both calls as the API server sends them (the generated name filled in for /validate,
// the patch of /mutate applied), is stored, and the reconciler runs: the tenant holds one Pod's
// TPP, and a second workload that fits beside it becomes Ready.
TEST_F(Fixture, ARunningPodOfAReadyWorkloadIsCountedOnce) {
  api.put_object(path_of("acme", "wl-1"), workload("acme", "wl-1"));
  controller->run_once();
  ASSERT_EQ(check_of("acme", "wl-1")["state"], "Ready");
  const auto policy = policies->current();
  AdmissionEnv env;
  env.namespace_labels = [](const std::string&) -> std::optional<Labels> { return Labels{}; };
  env.annotate_admission_uid = true;  // cluster mode

  // The Job controller's Pod: generateName, controlled by the Job.
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"generateName", "wl-1-"},
        {"namespace", "acme"},
        {"ownerReferences",
         {{{"kind", "Job"}, {"name", "wl-1"}, {"uid", "job-uid-wl-1"}, {"controller", true}}}}}},
      {"spec", h100_template()["spec"]}};
  AdmissionRequest r;
  r.kind = {"", "v1", "Pod"};
  r.resource = "pods";
  r.operation = "CREATE";
  r.namespace_ = "acme";
  r.uid = "mutate-call-uid";
  r.object = pod;
  const auto mutated = handle_admission(r, Endpoint::kMutate, *policy, *ledger, env);
  ASSERT_TRUE(mutated.response.patch.has_value());
  pod = pod.patch(*mutated.response.patch);
  ASSERT_EQ(pod["metadata"]["annotations"]["exportgate.io/admission-uid"], "mutate-call-uid");
  pod["metadata"]["name"] = "wl-1-x7k2p";  // generated before validation
  r.uid = "validate-call-uid";
  r.name = "wl-1-x7k2p";
  r.object = pod;
  ASSERT_TRUE(handle_admission(r, Endpoint::kValidate, *policy, *ledger, env).response.allowed);

  // Stored (Pending: kept off the nodes), seen by the reconciler.
  pod["metadata"]["uid"] = "pod-uid-1";
  pod["status"] = {{"phase", "Pending"}};
  testing::ClusterCaches caches(*policies);
  caches.list({}, {pod});
  Reconciler reconciler(ReconcilerInputs{&caches.pods, &caches.namespaces, [] { return true; },
                                         nullptr, policies, ledger, nullptr},
                        ReconcilerOptions{}, cluster.metrics, log);
  ASSERT_TRUE(reconciler.run_once());

  const json spec = (*api.object(kLedgerIn))["spec"];
  EXPECT_DOUBLE_EQ(spec["tenants"]["acme"]["reservedTPP"].get<double>(), 126656) << spec.dump();
  EXPECT_DOUBLE_EQ(ledger->snapshot("acme", "IN").tenant_tpp, 126656);
  EXPECT_EQ(workload_reservations(), std::vector<std::string>{"kueue:wl-uid-wl-1"});
  EXPECT_EQ(spec["reservations"].size(), 1u) << "the Pod's reservation was not claimed";

  api.put_object(path_of("acme", "wl-2"), workload("acme", "wl-2"));
  controller->run_once();
  EXPECT_EQ(check_of("acme", "wl-2")["state"], "Ready") << check_of("acme", "wl-2").dump();
}

TEST_F(Fixture, EvictedOrDeletedWorkloadsGiveTheirReservationBack) {
  for (const char* n : {"wl-1", "wl-2"}) api.put_object(path_of("acme", n), workload("acme", n));
  controller->run_once();
  ASSERT_EQ(workload_reservations().size(), 2u);
  set_condition("acme", "wl-1", "QuotaReserved", "False");  // evicted: Kueue took the quota back
  api.delete_object(path_of("acme", "wl-2"));
  auto stats = controller->run_once();
  EXPECT_EQ(stats.released, 2);
  EXPECT_TRUE(workload_reservations().empty());
}

TEST_F(Fixture, ATier3TenantIsRejectedWithTheReason) {
  api.put_object(path_of("cn-lab", "train"), workload("cn-lab", "train"));
  controller->run_once();
  const json c = check_of("cn-lab", "train");
  EXPECT_EQ(c["state"], "Rejected");
  const std::string why = c["message"];
  EXPECT_NE(why.find("CN"), std::string::npos) << why;
  EXPECT_NE(why.find("exportgate: denied"), std::string::npos) << why;
  // The reason in the Workload's conditions too (Kueue's own only names the check).
  const auto wl = *api.object(path_of("cn-lab", "train"));
  const auto& conds = wl["status"]["conditions"];
  auto it = std::find_if(conds.begin(), conds.end(),
                         [](const json& c) { return c["type"] == "ExportgateRejected"; });
  ASSERT_NE(it, conds.end()) << conds;
  EXPECT_EQ((*it)["status"], "True");
  EXPECT_EQ((*it)["message"], why);
  EXPECT_EQ(conds[0]["type"], "QuotaReserved");  // Kueue's conditions are kept
  EXPECT_FALSE(api.object("/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-cn"));
}

TEST_F(Fixture, AnUnreadablePodSetIsRejectedNotReady) {
  api.put_object(
      path_of("acme", "bad"),
      workload("acme", "bad",
               json::array(
                   {{{"name", "main"}, {"count", 1}, {"template", h100_template("not-a-list")}}})));
  api.put_object(path_of("acme", "empty"), workload("acme", "empty", json::array()));
  auto negative = workload("acme", "negative");
  negative["spec"]["podSets"][0]["count"] = -2;
  api.put_object(path_of("acme", "negative"), negative);
  controller->run_once();
  for (const char* n : {"bad", "empty", "negative"}) {
    const json c = check_of("acme", n);
    EXPECT_EQ(c["state"], "Rejected") << n;
    EXPECT_NE(c["message"].get<std::string>().find("cannot read"), std::string::npos)
        << c["message"];
  }
  EXPECT_TRUE(workload_reservations().empty());
}

TEST_F(Fixture, OnlyWorkloadsWithReservedQuotaAreJudged) {
  auto wl = workload("acme", "queued");
  wl["status"]["conditions"] = json::array();
  api.put_object(path_of("acme", "queued"), wl);
  controller->run_once();
  EXPECT_EQ(check_of("acme", "queued")["state"], "Pending");
  EXPECT_EQ(check_of("acme", "queued")["message"], "");
  EXPECT_TRUE(workload_reservations().empty());
}

TEST_F(Fixture, TheAdmissionCheckIsMarkedActive) {
  controller->run_once();
  auto ac = *api.object(kApi + "/admissionchecks/exportgate");
  ASSERT_TRUE(ac["status"]["conditions"].is_array());
  EXPECT_EQ(ac["status"]["conditions"][0]["type"], "Active");
  EXPECT_EQ(ac["status"]["conditions"][0]["status"], "True");
  EXPECT_FALSE(api.object(kApi + "/admissionchecks/other")->contains("status"));
}

// The ledger math behind "no double charge": a workload reservation counts the larger of what it
// holds and what its Pods use; its Pods are not counted again; other Pods are.
TEST(KueueLedger, PodsOfAReservedWorkloadAreChargedAgainstIt) {
  LedgerState s;
  s.jurisdiction = "IN";
  LedgerReservation w;
  w.uid = "kueue:w";
  w.tenant = "acme";
  w.tpp = 200;
  w.namespace_ = "acme";
  w.link = "acme/job";
  w.workload = true;
  ASSERT_TRUE(try_reserve(s, w, 300, std::nullopt));

  // Two Pods of the workload, admitted: inside the reservation, even with the tenant at its cap.
  LedgerReservation p{"pod-1", "acme", 100, "acme", "p1", {}, "acme/job", false, 0};
  ASSERT_TRUE(try_reserve(s, p, 200, std::nullopt));
  p.uid = "pod-2";
  p.pod = "p2";
  ASSERT_TRUE(try_reserve(s, p, 200, std::nullopt));
  EXPECT_DOUBLE_EQ(s.tenant_total("acme"), 200);
  EXPECT_DOUBLE_EQ(s.headroom("acme/job"), 0);
  // A third Pod naming the Job goes beyond the reservation: charged, so refused at the cap.
  p.uid = "pod-3";
  EXPECT_FALSE(try_reserve(s, p, 200, std::nullopt));
  // A Pod of another owner is charged in full.
  LedgerReservation other{"pod-x", "acme", 50, "acme", "x", {}, "", false, 0};
  EXPECT_FALSE(try_reserve(s, other, 200, std::nullopt));

  // The reconciler hands the Pods over: they run (200 TPP) and are the workload's charge.
  ReconcileInput in;
  in.in_use = {{"acme", 30}};  // a Pod of no workload
  in.claims.emplace("pod-1", PodClaim{"acme", "p1", 100, true});
  in.claims.emplace("pod-2", PodClaim{"acme", "p2", 100, true});
  in.linked = {{"acme/job", {"acme", 200}}};
  reconcile_ledger(s, in);
  EXPECT_DOUBLE_EQ(s.tenant_total("acme"), 230);
  // More Pods than reserved run under that owner (a forged ownerReference): all are counted.
  in.linked = {{"acme/job", {"acme", 260}}};
  reconcile_ledger(s, in);
  EXPECT_DOUBLE_EQ(s.tenant_total("acme"), 290);
  // Round trip through the TPPLedger spec keeps the workload fields.
  auto back = ledger_from_spec(ledger_to_spec(s));
  EXPECT_DOUBLE_EQ(back.tenant_total("acme"), 290);
  // The workload ends: its running Pods stay counted until the next reconcile.
  ASSERT_TRUE(drop_reservation(s, "kueue:w"));
  EXPECT_DOUBLE_EQ(s.tenant_total("acme"), 290);
  // Without the reservation the same Pods are plain usage.
  reconcile_ledger(s, in);
  EXPECT_DOUBLE_EQ(s.tenant_total("acme"), 290);
  EXPECT_DOUBLE_EQ(s.tenants["acme"].in_use, 290);
}

TEST(KueueLedger, WorkloadReservationsDoNotExpire) {
  LedgerState s;
  LedgerReservation w;
  w.uid = "kueue:w";
  w.tenant = "acme";
  w.tpp = 100;
  w.workload = true;
  w.link = "acme/job";
  w.created = SystemTime{};
  ASSERT_TRUE(try_reserve(s, w, std::nullopt, std::nullopt));
  ReconcileInput in;
  in.now = SystemTime{} + std::chrono::hours(24);
  auto r = reconcile_ledger(s, in);
  EXPECT_EQ(r.expired, 0);
  EXPECT_TRUE(s.holds("kueue:w"));
}

TEST(KueueLedger, ControllerLinkIsTheControllingOwner) {
  json pod = {{"metadata",
               {{"namespace", "acme"},
                {"ownerReferences",
                 {{{"uid", "not-controller"}}, {{"uid", "job-1"}, {"controller", true}}}}}}};
  EXPECT_EQ(controller_link(pod), "acme/job-1");
  pod["metadata"]["ownerReferences"] = json::array({{{"uid", "x"}, {"controller", false}}});
  EXPECT_EQ(controller_link(pod), "");
  EXPECT_EQ(controller_link(json::object()), "");
}

}  // namespace
}  // namespace exportgate::webhook
