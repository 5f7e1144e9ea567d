// The reconciler with its real inputs (Pod and Namespace stores fed like an informer does, a
// PolicyStore reading a file, the ClusterLedger) against the in-memory API server: after a
// policy reload that starts controlling a model, the ledger counts the Pods that use it.
#include "webhook/reconciler.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/unit/fake_kube_api.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/metrics.hpp"

namespace exportgate::webhook {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kLedgerPath =
    "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-sg";

json h20_pod(const std::string& name) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", "team"}}},
      {"spec",
       {{"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H20"}}},
        {"containers", {{{"name", "c"}, {"resources", {{"limits", {{"nvidia.com/gpu", "8"}}}}}}}}}},
      {"status", {{"phase", "Running"}}}};
}

const char* kPolicy = R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  preset: diffusion-2025
%s)";

void write_policy(const fs::path& file, const std::string& extra) {
  char buf[1024];
  std::snprintf(buf, sizeof buf, kPolicy, extra.c_str());
  std::ofstream(file) << buf;
}

TEST(Reconciler, APolicyReloadRechargesCachedPodsBeforeCounting) {
  const fs::path file =
      fs::temp_directory_path() / ("exportgate-reconciler-" + std::to_string(::getpid()) + ".yaml");
  write_policy(file, "");
  PolicyStore policies(PolicySource{file.string(), {}});
  policies.load();

  ObjectStore<PodInfo> pods(
      [&](const json& o) { return project_pod(o, *policies.current(), nullptr); });
  ObjectStore<Labels> namespaces(project_namespace);
  std::vector<json> ns_page = {
      {{"metadata",
        {{"name", "team"},
         {"labels", {{"exportgate.io/jurisdiction", "SG"}, {"exportgate.io/tenant", "team"}}}}}}};
  auto ns_sink = namespaces.sink();
  ns_sink.list_page(ns_page, true);
  ns_sink.list_done();
  std::vector<json> pod_page = {h20_pod("a"), h20_pod("b")};
  auto pod_sink = pods.sink();
  pod_sink.list_page(pod_page, true);
  pod_sink.list_done();

  testing::FakeKubeApi api;
  KubeClient client(api.kube_config());
  std::ostringstream out;
  Logger log(LogLevel::kError, &out);
  LedgerOptions lo;
  lo.namespace_ = "eg";
  ClusterLedger ledger(client, lo, nullptr, log);
  Metrics metrics;
  Reconciler reconciler(
      ReconcilerInputs{&pods, &namespaces, [] { return true; },
                       [&](const policy::Policy& p) { recharge_pods(pods, p, nullptr); }, &policies,
                       &ledger, nullptr},
      ReconcilerOptions{}, metrics, log);

  // The preset does not control the H20: nothing in use.
  ASSERT_TRUE(reconciler.run_once());
  auto before = api.object(kLedgerPath);
  EXPECT_FALSE(before && (*before)["spec"].value("inUseTPP", 0.0) > 0);

  // A catalog correction re-rates the H20 above the 3A090 threshold; the Pods did not change.
  write_policy(file, "  catalog:\n    models:\n      - {id: h20, denseTops: 2000}\n");
  policies.load();
  auto fresh = project_pod(h20_pod("a"), *policies.current(), nullptr);
  ASSERT_TRUE(fresh && fresh->controlled_tpp > 0);
  ASSERT_TRUE(reconciler.run_once());
  auto after = api.object(kLedgerPath);
  ASSERT_TRUE(after) << "the reconciler wrote no ledger for the Pods now controlled";
  EXPECT_DOUBLE_EQ((*after)["spec"]["tenants"]["team"]["inUseTPP"].get<double>(),
                   2 * fresh->controlled_tpp);
  fs::remove(file);
}

}  // namespace
}  // namespace exportgate::webhook

namespace exportgate::webhook {
namespace {

json h100_pod(const std::string& ns) {
  json pod = h20_pod("p");
  pod["metadata"]["namespace"] = ns;
  pod["spec"]["nodeSelector"]["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3";
  return pod;
}

// A pass that outlives the Lease stops writing: once leadership is lost (here during its first
// ledger write) it leaves the remaining jurisdictions to the next leader.
TEST(Reconciler, APassStopsWritingOnceTheLeaseIsLost) {
  const fs::path file = fs::temp_directory_path() /
                        ("exportgate-reconciler-lease-" + std::to_string(::getpid()) + ".yaml");
  write_policy(file, "");
  PolicyStore policies(PolicySource{file.string(), {}});
  policies.load();
  ObjectStore<PodInfo> pods(
      [&](const json& o) { return project_pod(o, *policies.current(), nullptr); });
  ObjectStore<Labels> namespaces(project_namespace);
  std::vector<json> ns_page, pod_page;
  for (const char* cc : {"SG", "IN", "AE"}) {
    const std::string ns = std::string("ns-") + cc;
    ns_page.push_back(
        {{"metadata",
          {{"name", ns},
           {"labels", {{"exportgate.io/jurisdiction", cc}, {"exportgate.io/tenant", ns}}}}}});
    pod_page.push_back(h100_pod(ns));
  }
  auto ns_sink = namespaces.sink();
  ns_sink.list_page(ns_page, true);
  ns_sink.list_done();
  auto pod_sink = pods.sink();
  pod_sink.list_page(pod_page, true);
  pod_sink.list_done();

  testing::FakeKubeApi api;
  KubeClient client(api.kube_config());
  std::ostringstream out;
  Logger log(LogLevel::kError, &out);
  LedgerOptions lo;
  lo.namespace_ = "eg";
  ClusterLedger ledger(client, lo, nullptr, log);
  Metrics metrics;
  ReconcilerOptions ro;
  ro.debounce = std::chrono::milliseconds(1);
  Reconciler reconciler(ReconcilerInputs{&pods, &namespaces, [] { return true; }, nullptr,
                                         &policies, &ledger, nullptr},
                        ro, metrics, log);
  std::atomic<int> writes{0};
  api.set_fault([&](const std::string& method, const std::string&, const std::string&) {
    if (method == "POST" || method == "PUT") {
      if (++writes == 1) reconciler.set_active(false);  // the Lease is lost mid-pass
    }
    return std::optional<int>();
  });
  reconciler.start();
  reconciler.set_active(true);
  ASSERT_TRUE(testing::eventually([&] { return writes >= 1; }));
  // The pass has ended: it counts itself in exportgate_reconcile_runs_total after its writes.
  auto passes = [&] {
    double n = 0;
    for (const auto& family : metrics.registry()->Collect()) {
      if (family.name != "exportgate_reconcile_runs_total") continue;
      for (const auto& m : family.metric) n += m.counter.value;
    }
    return n;
  };
  ASSERT_TRUE(testing::eventually([&] { return passes() >= 1; }));
  reconciler.stop();
  EXPECT_EQ(writes, 1) << "the reconciler kept writing ledgers after losing the Lease";
  fs::remove(file);
}

}  // namespace
}  // namespace exportgate::webhook

namespace exportgate::webhook {
namespace {

// spec.siteNodeLabel: a cached Pod pinned to a region by its nodeSelector is counted in the
// TPPLedger of that region's country, not its tenant's jurisdiction (SG), and a policy reload
// that maps the region elsewhere moves it there. Before the map the Pod was counted under SG.
TEST(Reconciler, APodPinnedToARegionIsCountedUnderItsCountrysLedger) {
  const fs::path file =
      fs::temp_directory_path() / ("exportgate-sitemap-" + std::to_string(::getpid()) + ".yaml");
  write_policy(file,
               "  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
               "    countries: {ap-south-1: IN, eu-central-1: DE}\n");
  PolicyStore policies(PolicySource{file.string(), {}});
  policies.load();
  ObjectStore<PodInfo> pods(
      [&](const json& o) { return project_pod(o, *policies.current(), nullptr); });
  ObjectStore<Labels> namespaces(project_namespace);
  std::vector<json> ns_page = {
      {{"metadata",
        {{"name", "team"},
         {"labels", {{"exportgate.io/jurisdiction", "SG"}, {"exportgate.io/tenant", "team"}}}}}}};
  auto ns_sink = namespaces.sink();
  ns_sink.list_page(ns_page, true);
  ns_sink.list_done();
  json pod = h100_pod("team");
  pod["spec"]["nodeSelector"]["topology.kubernetes.io/region"] = "ap-south-1";
  std::vector<json> pod_page = {pod};
  auto pod_sink = pods.sink();
  pod_sink.list_page(pod_page, true);
  pod_sink.list_done();
  ASSERT_EQ(pods.all().size(), 1u);
  EXPECT_EQ(pods.all()[0]->site_code(), "IN");

  testing::FakeKubeApi api;
  KubeClient client(api.kube_config());
  std::ostringstream out;
  Logger log(LogLevel::kError, &out);
  LedgerOptions lo;
  lo.namespace_ = "eg";
  ClusterLedger ledger(client, lo, nullptr, log);
  Metrics metrics;
  Reconciler reconciler(
      ReconcilerInputs{&pods, &namespaces, [] { return true; },
                       [&](const policy::Policy& p) { recharge_pods(pods, p, nullptr); }, &policies,
                       &ledger, nullptr},
      ReconcilerOptions{}, metrics, log);
  const std::string base = "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-";
  auto in_use = [&](const std::string& code) {
    auto l = api.object(base + code);
    if (!l) return -1.0;
    return (*l)["spec"]["tenants"].value("team", json::object()).value("inUseTPP", 0.0);
  };
  ASSERT_TRUE(reconciler.run_once());
  EXPECT_DOUBLE_EQ(in_use("in"), 126656);  // 8 x H100 SXM
  EXPECT_FALSE(in_use("sg") > 0);

  // The same Pod, the region now mapped to DE: recounted there at the reload.
  write_policy(file,
               "  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
               "    countries: {ap-south-1: DE}\n");
  policies.load();
  ASSERT_TRUE(reconciler.run_once());
  EXPECT_EQ(pods.all()[0]->site_code(), "DE");
  EXPECT_DOUBLE_EQ(in_use("de"), 126656);
  EXPECT_FALSE(in_use("in") > 0);
  fs::remove(file);
}

}  // namespace
}  // namespace exportgate::webhook

namespace exportgate::webhook {
namespace {

double metric_value(const Metrics& m, const std::string& name) {
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != name) continue;
    double sum = 0;
    for (const auto& metric : family.metric) sum += metric.counter.value;
    return sum;
  }
  return 0;
}

// Issue 19: the leader's reconcile write used to be a compare-and-swap of its own, racing the
// admission writes of its own replica (and losing, under load, until the reservations it should
// have claimed filled the object). It now rides in that replica's group commit: a pass that
// starts while an admission write is in flight waits for it and writes on top of it, so the two
// never conflict, and the write claims the stored Pod's reservation and keeps the new one.
TEST(Reconciler, APassRidesInItsReplicasGroupCommitInsteadOfRacingIt) {
  const fs::path file = fs::temp_directory_path() /
                        ("exportgate-reconciler-commit-" + std::to_string(::getpid()) + ".yaml");
  write_policy(file, "");
  PolicyStore policies(PolicySource{file.string(), {}});
  policies.load();
  ObjectStore<PodInfo> pods(
      [&](const json& o) { return project_pod(o, *policies.current(), nullptr); });
  ObjectStore<Labels> namespaces(project_namespace);
  std::vector<json> ns_page = {
      {{"metadata",
        {{"name", "team"},
         {"labels", {{"exportgate.io/jurisdiction", "SG"}, {"exportgate.io/tenant", "team"}}}}}}};
  auto ns_sink = namespaces.sink();
  ns_sink.list_page(ns_page, true);
  ns_sink.list_done();
  // A stored Pod that claims the reservation its admission made.
  json stored = h100_pod("team");
  stored["metadata"]["annotations"] = {{"exportgate.io/admission-uid", "uid-p"}};
  std::vector<json> pod_page = {stored};
  auto pod_sink = pods.sink();
  pod_sink.list_page(pod_page, true);
  pod_sink.list_done();

  testing::FakeKubeApi api;
  api.put_object(kLedgerPath,
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
    if ((method != "PUT" && method != "POST") || path != kLedgerPath) return std::optional<int>();
    std::unique_lock lock(mu);
    const int n = ++writes;
    cv.notify_all();
    if (n == 1) {
      first_in_flight = true;
      cv.wait_for(lock, std::chrono::seconds(1), [&] { return writes > 1; });
    }
    return std::optional<int>();
  });

  KubeClient client(api.kube_config());
  std::ostringstream out;
  Logger log(LogLevel::kError, &out);
  LedgerOptions lo;
  lo.namespace_ = "eg";
  Metrics metrics;
  ClusterLedger ledger(client, lo, &metrics, log);
  Reconciler reconciler(ReconcilerInputs{&pods, &namespaces, [] { return true; }, nullptr,
                                         &policies, &ledger, nullptr},
                        ReconcilerOptions{}, metrics, log);

  bool accepted = false;
  std::thread admission([&] {
    accepted =
        ledger.reserve({"team/a", "team", "SG", 126656, "uid-a", "team"}, 1e12, std::nullopt);
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return first_in_flight; }));
  }
  const bool ok = reconciler.run_once();
  admission.join();
  fs::remove(file);

  EXPECT_TRUE(ok);
  EXPECT_TRUE(accepted);
  EXPECT_EQ(metric_value(metrics, "exportgate_ledger_conflicts_total"), 0)
      << "the reconcile write raced its own replica's admission write";
  auto obj = api.object(kLedgerPath);
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

}  // namespace
}  // namespace exportgate::webhook
