// The reconciler with its real inputs (Pod and Namespace stores fed like an informer does, a
// PolicyStore reading a file, the ClusterLedger) against the in-memory API server: after a
// policy reload that starts controlling a model, the ledger counts the Pods that use it.
#include "webhook/reconciler.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/unit/support/admission_reviews.hpp"
#include "tests/unit/support/cluster_caches.hpp"
#include "tests/unit/support/counter_total.hpp"
#include "tests/unit/support/fake_api_ledger.hpp"
#include "tests/unit/support/policy_file.hpp"
#include "tests/unit/support/rerated_h20.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/metrics.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;
using testing::kSgLedgerPath;

json h20_pod(const std::string& name) {
  json pod = testing::gpu_pod("team", name, 8, "NVIDIA-H20");
  pod["status"] = {{"phase", "Running"}};
  return pod;
}

json h100_pod(const std::string& ns) {
  json pod = h20_pod("p");
  pod["metadata"]["namespace"] = ns;
  pod["spec"]["nodeSelector"]["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3";
  return pod;
}

// A reconciler over `caches` writing through `cluster`; with `recharge`, a policy reload recharges
// the cached Pods first, as cluster mode does.
std::unique_ptr<Reconciler> reconciler_over(testing::ClusterCaches& caches, PolicyStore& policies,
                                            testing::FakeApiLedger& cluster, bool recharge,
                                            ReconcilerOptions options = {}) {
  std::function<void(const policy::Policy&)> recharge_cached;
  if (recharge) {
    recharge_cached = [&caches](const policy::Policy& p) {
      recharge_pods(caches.pods, p, nullptr);
    };
  }
  return std::make_unique<Reconciler>(
      ReconcilerInputs{&caches.pods, &caches.namespaces, [] { return true; }, recharge_cached,
                       &policies, &cluster.ledger, nullptr},
      options, cluster.metrics, cluster.log);
}

TEST(Reconciler, APolicyReloadRechargesCachedPodsBeforeCounting) {
  testing::PolicyFile file("reconciler", testing::diffusion_policy_yaml());
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  caches.list({testing::tenant_namespace("team", "SG")}, {h20_pod("a"), h20_pod("b")});

  testing::FakeApiLedger cluster;
  auto reconciler = reconciler_over(caches, policies, cluster, true);

  // The preset does not control the H20: nothing in use.
  ASSERT_TRUE(reconciler->run_once());
  auto before = cluster.api.object(kSgLedgerPath);
  EXPECT_FALSE(before && (*before)["spec"].value("inUseTPP", 0.0) > 0);

  // A catalog correction re-rates the H20 above the 3A090 threshold; the Pods did not change.
  file.rewrite(testing::diffusion_policy_yaml(testing::kH20RerateYaml));
  auto fresh = project_pod(h20_pod("a"), *policies.current(), nullptr);
  ASSERT_TRUE(fresh && fresh->controlled_tpp > 0);
  ASSERT_TRUE(reconciler->run_once());
  auto after = cluster.api.object(kSgLedgerPath);
  ASSERT_TRUE(after) << "the reconciler wrote no ledger for the Pods now controlled";
  EXPECT_DOUBLE_EQ((*after)["spec"]["tenants"]["team"]["inUseTPP"].get<double>(),
                   2 * fresh->controlled_tpp);
}

// A pass that outlives the Lease stops writing: once leadership is lost (here during its first
// ledger write) it leaves the remaining jurisdictions to the next leader.
TEST(Reconciler, APassStopsWritingOnceTheLeaseIsLost) {
  testing::PolicyFile file("reconciler-lease", testing::diffusion_policy_yaml());
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  std::vector<json> ns_page, pod_page;
  for (const char* cc : {"SG", "IN", "AE"}) {
    const std::string ns = std::string("ns-") + cc;
    ns_page.push_back(testing::tenant_namespace(ns, cc));
    pod_page.push_back(h100_pod(ns));
  }
  caches.list(ns_page, pod_page);

  testing::FakeApiLedger cluster;
  ReconcilerOptions ro;
  ro.debounce = std::chrono::milliseconds(1);
  auto reconciler = reconciler_over(caches, policies, cluster, false, ro);
  std::atomic<int> writes{0};
  cluster.api.set_fault([&](const std::string& method, const std::string&, const std::string&) {
    if (method == "POST" || method == "PUT") {
      if (++writes == 1) reconciler->set_active(false);  // the Lease is lost mid-pass
    }
    return std::optional<int>();
  });
  reconciler->start();
  reconciler->set_active(true);
  ASSERT_TRUE(testing::eventually([&] { return writes >= 1; }));
  // The pass has ended: it counts itself in exportgate_reconcile_runs_total after its writes.
  ASSERT_TRUE(testing::eventually([&] {
    return testing::counter_total(cluster.metrics, "exportgate_reconcile_runs_total") >= 1;
  }));
  reconciler->stop();
  EXPECT_EQ(writes, 1) << "the reconciler kept writing ledgers after losing the Lease";
}

// spec.siteNodeLabel: a cached Pod pinned to a region by its nodeSelector is counted in the
// TPPLedger of that region's country, not its tenant's jurisdiction (SG), and a policy reload
// that maps the region elsewhere moves it there. Before the map the Pod was counted under SG.
TEST(Reconciler, APodPinnedToARegionIsCountedUnderItsCountrysLedger) {
  testing::PolicyFile file(
      "sitemap",
      testing::diffusion_policy_yaml("  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
                                     "    countries: {ap-south-1: IN, eu-central-1: DE}\n"));
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  json pod = h100_pod("team");
  pod["spec"]["nodeSelector"]["topology.kubernetes.io/region"] = "ap-south-1";
  caches.list({testing::tenant_namespace("team", "SG")}, {pod});
  ASSERT_EQ(caches.pods.all().size(), 1u);
  EXPECT_EQ(caches.pods.all()[0]->site_code(), "IN");

  testing::FakeApiLedger cluster;
  auto reconciler = reconciler_over(caches, policies, cluster, true);
  const std::string base = "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-";
  auto in_use = [&](const std::string& code) {
    auto l = cluster.api.object(base + code);
    if (!l) return -1.0;
    return (*l)["spec"]["tenants"].value("team", json::object()).value("inUseTPP", 0.0);
  };
  ASSERT_TRUE(reconciler->run_once());
  EXPECT_DOUBLE_EQ(in_use("in"), 126656);  // 8 x H100 SXM
  EXPECT_FALSE(in_use("sg") > 0);

  // The same Pod, the region now mapped to DE: recounted there at the reload.
  file.rewrite(
      testing::diffusion_policy_yaml("  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
                                     "    countries: {ap-south-1: DE}\n"));
  ASSERT_TRUE(reconciler->run_once());
  EXPECT_EQ(caches.pods.all()[0]->site_code(), "DE");
  EXPECT_DOUBLE_EQ(in_use("de"), 126656);
  EXPECT_FALSE(in_use("in") > 0);
}

// Issue 19: the leader's reconcile write used to be a compare-and-swap of its own, racing the
// admission writes of its own replica (and losing, under load, until the reservations it should
// have claimed filled the object). It now rides in that replica's group commit: a pass that
// starts while an admission write is in flight waits for it and writes on top of it, so the two
// never conflict, and the write claims the stored Pod's reservation and keeps the new one.
TEST(Reconciler, APassRidesInItsReplicasGroupCommitInsteadOfRacingIt) {
  testing::PolicyFile file("reconciler-commit", testing::diffusion_policy_yaml());
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  // A stored Pod that claims the reservation its admission made.
  json stored = h100_pod("team");
  stored["metadata"]["annotations"] = {{"exportgate.io/admission-uid", "uid-p"}};
  caches.list({testing::tenant_namespace("team", "SG")}, {stored});

  testing::FakeApiLedger cluster(testing::ledger_in_eg(),
                                 testing::FakeApiLedger::LedgerMetrics::kCounted);
  auto& api = cluster.api;
  api.put_object(kSgLedgerPath,
                 {{"apiVersion", "exportgate.io/v1alpha1"},
                  {"kind", "TPPLedger"},
                  {"metadata", {{"name", "jurisdiction-sg"}, {"namespace", "eg"}}},
                  {"spec",
                   {{"jurisdiction", "SG"},
                    {"reservations",
                     {{{"uid", "uid-p"},
                       {"tenant", "team"},
                       {"tpp", 126656},
                       {"namespace", "team"},
                       {"pod", "p"},
                       {"created", format_time(std::chrono::system_clock::now())}}}}}}});
  // The first write (the admission's) is held until another write reaches the server, or 1 s:
  // a reconcile write of its own would arrive meanwhile, with the resourceVersion both read.
  std::mutex mu;
  std::condition_variable cv;
  int writes = 0;
  bool first_in_flight = false;
  api.set_fault([&](const std::string& method, const std::string& path, const std::string&) {
    if ((method != "PUT" && method != "POST") || path != kSgLedgerPath) return std::optional<int>();
    std::unique_lock lock(mu);
    const int n = ++writes;
    cv.notify_all();
    if (n == 1) {
      first_in_flight = true;
      cv.wait_for(lock, std::chrono::seconds(1), [&] { return writes > 1; });
    }
    return std::optional<int>();
  });

  auto& ledger = cluster.ledger;
  auto reconciler = reconciler_over(caches, policies, cluster, false);

  bool accepted = false;
  std::thread admission([&] {
    accepted =
        ledger.reserve({"team/a", "team", "SG", 126656, "uid-a", "team"}, 1e12, std::nullopt);
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return first_in_flight; }));
  }
  const bool ok = reconciler->run_once();
  admission.join();

  EXPECT_TRUE(ok);
  EXPECT_TRUE(accepted);
  EXPECT_EQ(testing::counter_total(cluster.metrics, "exportgate_ledger_conflicts_total"), 0)
      << "the reconcile write raced its own replica's admission write";
  auto obj = api.object(kSgLedgerPath);
  ASSERT_TRUE(obj);
  std::set<std::string> held;
  for (const auto& r : (*obj)["spec"].value("reservations", json::array()))
    held.insert(r.value("uid", ""));
  EXPECT_EQ(held, std::set<std::string>{"uid-a"});  // uid-p claimed by its Pod, uid-a kept
  EXPECT_DOUBLE_EQ((*obj)["spec"]["tenants"]["team"]["inUseTPP"].get<double>(), 126656);
  EXPECT_DOUBLE_EQ(
      (*obj)["spec"]["inUseTPP"].get<double>() + (*obj)["spec"]["reservedTPP"].get<double>(),
      2 * 126656.0);
}

// A lease its holder stopped renewing (the replica died) is dropped once it has been seen
// unchanged for the holder's term plus the TTL; one renewed meanwhile is kept.
TEST(Reconciler, DropsALeaseOnlyAfterItsHolderStoppedRenewingIt) {
  testing::PolicyFile file("reconciler-leases", testing::diffusion_policy_yaml());
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  caches.list({testing::tenant_namespace("team", "SG")}, {});
  testing::FakeApiLedger cluster;
  auto& api = cluster.api;
  auto ledger_with = [&](int live_generation) {
    json lease = [](const std::string& holder, int generation) {
      return json{{"holder", holder},
                  {"tenant", "team"},
                  {"tpp", 126656},
                  {"generation", generation},
                  {"renewed", format_time(std::chrono::system_clock::now())}};
    }("dead/1", 7);
    json live = {
        {"holder", "live/2"}, {"tenant", "team"}, {"tpp", 126656}, {"generation", live_generation}};
    json obj = {{"apiVersion", "exportgate.io/v1alpha1"},
                {"kind", "TPPLedger"},
                {"metadata", {{"name", "jurisdiction-sg"}, {"namespace", "eg"}}},
                {"spec", {{"jurisdiction", "SG"}, {"leases", {lease, live}}}}};
    if (auto old = api.object(kSgLedgerPath)) obj["metadata"] = (*old)["metadata"];
    api.put_object(kSgLedgerPath, obj);
    json copy = *api.object(kSgLedgerPath);
    cluster.ledger.sink().apply(WatchEventType::kModified, copy);  // as the watch delivers it
  };
  ledger_with(1);
  ReconcilerOptions options;
  options.lease_term = std::chrono::milliseconds(0);
  options.reservation_ttl = std::chrono::seconds(0);
  auto reconciler = reconciler_over(caches, policies, cluster, false, options);
  ASSERT_TRUE(reconciler->run_once());  // first seen: kept, whatever the term
  auto holders = [&] {
    std::set<std::string> out;
    for (const auto& l : (*api.object(kSgLedgerPath))["spec"].value("leases", json::array()))
      out.insert(l.value("holder", ""));
    return out;
  };
  EXPECT_EQ(holders(), (std::set<std::string>{"dead/1", "live/2"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ledger_with(2);  // the live holder renewed
  ASSERT_TRUE(reconciler->run_once());
  EXPECT_EQ(holders(), std::set<std::string>{"live/2"});
  EXPECT_EQ(cluster.api.object(kSgLedgerPath).value()["spec"].value("leasedTPP", 0.0), 126656);
}

// countedThrough: with leases in the ledger, the reconciler publishes how far its Pod cache
// was when it counted; and it never counts from a cache behind the revision already published
// (a new leader catching up), as lease holders released admissions against that count.
TEST(Reconciler, PublishesHowFarItCountedAndNeverCountsFromAnOlderCache) {
  testing::PolicyFile file("reconciler-through", testing::diffusion_policy_yaml());
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  caches.list({testing::tenant_namespace("team", "SG")}, {});  // no Pod cached yet
  testing::FakeApiLedger cluster;
  auto& api = cluster.api;
  api.put_object(
      kSgLedgerPath,
      {{"apiVersion", "exportgate.io/v1alpha1"},
       {"kind", "TPPLedger"},
       {"metadata", {{"name", "jurisdiction-sg"}, {"namespace", "eg"}}},
       {"spec",
        {{"jurisdiction", "SG"},
         {"countedThrough", "100"},
         {"tenants", {{"team", {{"inUseTPP", 126656}}}}},
         {"leases",
          {{{"holder", "r/1"}, {"tenant", "team"}, {"tpp", 126656}, {"generation", 1}}}}}}});
  json copy = *api.object(kSgLedgerPath);
  cluster.ledger.sink().apply(WatchEventType::kModified, copy);
  std::atomic<uint64_t> through{50};
  ReconcilerInputs inputs{&caches.pods,
                          &caches.namespaces,
                          [] { return true; },
                          nullptr,
                          &policies,
                          &cluster.ledger,
                          nullptr,
                          [&] { return through.load(); }};
  Reconciler reconciler(inputs, {}, cluster.metrics, cluster.log);
  ASSERT_TRUE(reconciler.run_once());
  auto spec = (*api.object(kSgLedgerPath))["spec"];
  EXPECT_EQ(spec["tenants"]["team"]["inUseTPP"].get<double>(), 126656)
      << "counted from a cache older than the published count";
  through = 150;
  ASSERT_TRUE(reconciler.run_once());
  spec = (*api.object(kSgLedgerPath))["spec"];
  EXPECT_EQ(spec.value("countedThrough", ""), "150");
  EXPECT_EQ(spec["tenants"].value("team", json::object()).value("inUseTPP", 0.0), 0);
}

}  // namespace
}  // namespace exportgate::webhook
