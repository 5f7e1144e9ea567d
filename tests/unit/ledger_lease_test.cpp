// Leased headroom through ClusterLedger and the admission handler, against the in-memory API
// server: admissions under a lease write nothing until a flush moves them into reservations,
// and three replicas admitting concurrently fill a tenant cap exactly, neither past it nor short
// of it while another replica's lease holds the room.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "policy/policy_loader.hpp"
#include "tests/unit/fake_kube_api.hpp"
#include "tests/unit/support/admission_reviews.hpp"
#include "tests/unit/support/counter_total.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/ledger_cluster.hpp"
#include "webhook/log.hpp"
#include "webhook/metrics.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr double kPod = 126656;  // 8 x H100
const std::string kInLedger =
    "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-in";

std::string policy_with_cap(int pods) {
  return "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: leases}\nspec:\n"
         "  preset: diffusion-2025\n  tenants:\n"
         "  - {name: acme, jurisdiction: IN, namespaces: [acme], capTPP: " +
         std::to_string(static_cast<long long>(pods * kPod)) + "}\n";
}

LedgerOptions lease_options(const std::string& holder, std::chrono::milliseconds flush) {
  LedgerOptions o;
  o.namespace_ = "eg";
  o.leases.enabled = !holder.empty();
  o.leases.holder = holder;
  o.leases.flush_interval = flush;
  return o;
}

struct Replica {
  // `holder` "": leases off.
  Replica(testing::FakeKubeApi& api, const std::string& holder, std::chrono::milliseconds flush,
          std::chrono::milliseconds idle = 1s, double min_requests = 16)
      : client(api.kube_config()),
        ledger(client, options(holder, flush, idle, min_requests), &metrics, log) {}
  static LedgerOptions options(const std::string& holder, std::chrono::milliseconds flush,
                               std::chrono::milliseconds idle, double min_requests) {
    LedgerOptions o = lease_options(holder, flush);
    o.leases.idle = idle;
    o.leases.min_requests = min_requests;
    return o;
  }
  KubeClient client;
  std::ostringstream log_text;
  Logger log{LogLevel::kError, &log_text};
  Metrics metrics;
  ClusterLedger ledger;
};

AdmissionEnv acme_env() {
  AdmissionEnv env;
  env.namespace_labels = [](const std::string&) {
    return std::optional<std::map<std::string, std::string>>(std::map<std::string, std::string>{});
  };
  return env;
}

// The watch each replica has in cluster mode: the ledger object as the API server holds it.
class WatchFeed {
 public:
  WatchFeed(testing::FakeKubeApi& api, std::vector<Replica*> replicas) : api_(api) {
    for (auto* r : replicas) sinks_.push_back(r->ledger.sink());
    thread_ = std::thread([this] {
      while (!stop_) {
        if (auto obj = api_.object(kInLedger)) {
          for (auto& s : sinks_) {
            json copy = *obj;
            s.apply(WatchEventType::kModified, copy);
          }
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ~WatchFeed() {
    stop_ = true;
    thread_.join();
  }

 private:
  testing::FakeKubeApi& api_;
  std::vector<InformerSink> sinks_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(LedgerLeases, AdmissionsUnderALeaseWriteNothingUntilAFlushMovesThemIntoReservations) {
  testing::FakeKubeApi api;
  std::atomic<int> writes{0};
  api.set_fault([&](const std::string& method, const std::string&, const std::string&) {
    if (method == "PUT" || method == "POST") ++writes;
    return std::optional<int>();
  });
  Replica a(api, "replica-a/1", 1h);  // flushed by hand below
  const auto policy = std::make_shared<const policy::Policy>(
      policy::load_policy(policy_with_cap(100), "leases.yaml"));
  const AdmissionEnv env = acme_env();
  auto admit = [&](int i) {
    const std::string name = "p" + std::to_string(i);
    auto req = testing::pod_create("uid-" + name, "acme", name, testing::gpu_pod("acme", name, 8));
    return handle_admission(req, Endpoint::kValidate, *policy, a.ledger, env).response.allowed;
  };
  ASSERT_TRUE(admit(0));  // the first one reserves by compare-and-swap, as without leases
  const int after_first = writes;
  EXPECT_GE(after_first, 1);
  ASSERT_TRUE(a.ledger.flush_leases("IN"));  // grants a lease
  const int after_grant = writes;
  const auto granted = json(*api.object(kInLedger))["spec"];
  ASSERT_EQ(granted["leases"].size(), 1u);
  const double lease = granted["leases"][0]["tpp"].get<double>();
  const int fit = static_cast<int>(lease / kPod);
  ASSERT_GE(fit, 1);
  for (int i = 1; i <= fit; ++i) ASSERT_TRUE(admit(i)) << i;
  EXPECT_EQ(writes, after_grant) << "a Pod admitted under the lease wrote the ledger";
  EXPECT_EQ(testing::counter_total(a.metrics, "exportgate_ledger_lease_admissions_total"), fit);

  ASSERT_TRUE(a.ledger.flush_leases("IN"));
  const auto flushed = json(*api.object(kInLedger))["spec"];
  std::set<std::string> uids;
  for (const auto& r : flushed["reservations"]) uids.insert(r["uid"].get<std::string>());
  for (int i = 0; i <= fit; ++i) EXPECT_TRUE(uids.contains("uid-p" + std::to_string(i))) << i;
  // What the caps see: every admitted Pod, plus what the lease still holds, within the cap.
  const double reserved = flushed["reservedTPP"].get<double>();
  EXPECT_DOUBLE_EQ(reserved, (fit + 1) * kPod);
  EXPECT_LE(reserved + flushed.value("leasedTPP", 0.0), 100 * kPod);
  // The usage gauges show TPP reserved or in use, not the room a lease holds.
  EXPECT_GT(flushed.value("leasedTPP", 0.0), 0);
  EXPECT_DOUBLE_EQ(a.ledger.totals().jurisdictions.at("IN"), reserved);
}

// At the cap, room held in another replica's lease is asked back before a denial: the cap denies
// only when admitted Pods fill it.
TEST(LedgerLeases, ACapDenialWaitsForAnotherReplicasLeaseToBeGivenBack) {
  constexpr int kCap = 60;
  testing::FakeKubeApi api;
  // Holds its lease however long it stays unused and however near the cap.
  Replica a(api, "replica-a/1", 10ms, 1h, 0);
  Replica b(api, "", 1h);  // leases off: every admission by compare-and-swap
  WatchFeed feed(api, {&a, &b});
  const auto policy = std::make_shared<const policy::Policy>(
      policy::load_policy(policy_with_cap(kCap), "leases.yaml"));
  const AdmissionEnv env = acme_env();
  auto admit = [&](Replica& r, const std::string& name) {
    auto req = testing::pod_create("uid-" + name, "acme", name, testing::gpu_pod("acme", name, 8));
    return handle_admission(req, Endpoint::kValidate, *policy, r.ledger, env);
  };
  ASSERT_TRUE(admit(a, "a0").response.allowed);
  a.ledger.flush_leases("IN");  // or its flusher does
  for (int i = 0; i < 200 && json(*api.object(kInLedger))["spec"].value("leasedTPP", 0.0) < kPod;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GE(json(*api.object(kInLedger))["spec"].value("leasedTPP", 0.0), kPod)
      << "replica a holds no lease: the scenario did not happen";
  int admitted_by_b = 0;
  for (int i = 0; i < 2 * kCap; ++i) {
    auto out = admit(b, "b" + std::to_string(i));
    if (!out.response.allowed) {
      EXPECT_EQ(out.code, "tenant-cap") << out.response.status_message;
      break;
    }
    ++admitted_by_b;
  }
  EXPECT_EQ(admitted_by_b, kCap - 1) << "denied while replica a's lease held room";
}

TEST(LedgerLeases, ThreeReplicasFillATenantCapExactly) {
  constexpr int kCap = 60;  // Pods: room for leases (16 of the largest) until the last ones
  testing::FakeKubeApi api;
  Replica a(api, "replica-a/1", 10ms), b(api, "replica-b/2", 10ms), c(api, "replica-c/3", 10ms);
  WatchFeed feed(api, {&a, &b, &c});
  const auto policy = std::make_shared<const policy::Policy>(
      policy::load_policy(policy_with_cap(kCap), "leases.yaml"));
  const AdmissionEnv env = acme_env();
  std::atomic<int> seq{0}, admitted{0}, denied{0}, other{0};
  std::vector<std::thread> creators;
  for (Replica* r : {&a, &b, &c}) {
    for (int t = 0; t < 6; ++t) {
      creators.emplace_back([&, r] {
        for (;;) {
          const std::string name = "p" + std::to_string(seq++);
          auto req =
              testing::pod_create("uid-" + name, "acme", name, testing::gpu_pod("acme", name, 8));
          auto out = handle_admission(req, Endpoint::kValidate, *policy, r->ledger, env);
          if (out.response.allowed) {
            ++admitted;
          } else if (out.code == "tenant-cap") {
            ++denied;
            return;
          } else {
            ++other;
            return;
          }
        }
      });
    }
  }
  for (auto& t : creators) t.join();
  EXPECT_EQ(other, 0);
  EXPECT_EQ(admitted, kCap) << "the cap fits exactly " << kCap << " Pods";
  const double by_lease =
      testing::counter_total(a.metrics, "exportgate_ledger_lease_admissions_total") +
      testing::counter_total(b.metrics, "exportgate_ledger_lease_admissions_total") +
      testing::counter_total(c.metrics, "exportgate_ledger_lease_admissions_total");
  EXPECT_GT(by_lease, 0) << "no admission used a lease: the scenario did not happen";
  // Once flushed, the object holds one reservation per admitted Pod and no more.
  for (Replica* r : {&a, &b, &c}) r->ledger.flush_leases("IN");
  const auto spec = json(*api.object(kInLedger))["spec"];
  EXPECT_EQ(spec["reservations"].size(), static_cast<size_t>(admitted));
  EXPECT_LE(spec["reservedTPP"].get<double>() + spec.value("leasedTPP", 0.0), kCap * kPod + 1e-3);
}

}  // namespace
}  // namespace exportgate::webhook
