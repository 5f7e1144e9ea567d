// Metrics::observe_request keeps the series it looked up: each label combination must still
// count into its own series, in the registry the metrics endpoint serves.
#include "webhook/metrics.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace {

using exportgate::webhook::Metrics;
using exportgate::webhook::RequestLabels;

// The value of the requests counter with these labels, or -1 when there is no such series.
double requests_total(Metrics& m, const RequestLabels& l) {
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != "exportgate_admission_requests_total") continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& p : metric.label) labels[p.name] = p.value;
      if (labels == std::map<std::string, std::string>{{"endpoint", l.endpoint},
                                                       {"operation", l.operation},
                                                       {"kind", l.kind},
                                                       {"decision", l.decision},
                                                       {"tier", l.tier},
                                                       {"jurisdiction", l.jurisdiction},
                                                       {"reason", l.reason}}) {
        return metric.counter.value;
      }
    }
  }
  return -1;
}

uint64_t duration_count(Metrics& m, const std::string& endpoint) {
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != "exportgate_admission_duration_seconds") continue;
    for (const auto& metric : family.metric) {
      if (metric.label.size() == 1 && metric.label[0].value == endpoint) {
        return metric.histogram.sample_count;
      }
    }
  }
  return 0;
}

TEST(Metrics, ObserveRequestCountsEachLabelCombinationSeparately) {
  Metrics m;
  const RequestLabels allow{"validate", "CREATE", "Pod", "allow", "tier1", "US", ""};
  const RequestLabels deny{"validate", "CREATE", "Pod", "deny", "tier2", "SG", "cap"};
  const RequestLabels deny_other{"validate", "CREATE", "Pod",         "deny",
                                 "tier2",    "SG",     "jurisdiction"};
  const RequestLabels mutate{"mutate", "CREATE", "Pod", "allow", "tier1", "US", ""};
  // Values that would collide if the key were a plain concatenation.
  const RequestLabels shifted_a{"validate", "CREATE", "Pod", "allow", "", "tier1US", ""};
  const RequestLabels shifted_b{"validate", "CREATE", "Pod", "allow", "tier1US", "", ""};
  for (int i = 0; i < 3; ++i) m.observe_request(allow, 0.0002);
  m.observe_request(deny, 0.002);
  m.observe_request(deny_other, 0.002);
  m.observe_request(mutate, 0.0001);
  m.observe_request(shifted_a, 0.0001);
  m.observe_request(shifted_b, 0.0001);
  m.observe_request(shifted_b, 0.0001);
  EXPECT_EQ(requests_total(m, allow), 3);
  EXPECT_EQ(requests_total(m, deny), 1);
  EXPECT_EQ(requests_total(m, deny_other), 1);  // the reason is a label of its own
  EXPECT_EQ(requests_total(m, mutate), 1);
  EXPECT_EQ(requests_total(m, shifted_a), 1);
  EXPECT_EQ(requests_total(m, shifted_b), 2);
  EXPECT_EQ(duration_count(m, "validate"), 8u);
  EXPECT_EQ(duration_count(m, "mutate"), 1u);

  // A second Metrics (its own registry) does not see the first one's series.
  Metrics other;
  other.observe_request(allow, 0.0002);
  EXPECT_EQ(requests_total(other, allow), 1);
  EXPECT_EQ(requests_total(m, allow), 3);
}

TEST(Metrics, ObserveRequestFromManyThreads) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m, t] {
      const RequestLabels l{"validate", "CREATE", "Pod", t % 2 ? "allow" : "deny",
                            "tier1",    "US",     ""};
      for (int i = 0; i < 1000; ++i) m.observe_request(l, 0.0001);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(requests_total(m, {"validate", "CREATE", "Pod", "allow", "tier1", "US", ""}), 4000);
  EXPECT_EQ(requests_total(m, {"validate", "CREATE", "Pod", "deny", "tier1", "US", ""}), 4000);
  EXPECT_EQ(duration_count(m, "validate"), 8000u);
}

}  // namespace

// A scrape runs the refresh before it reads the registry: cache_synced mirrored state that only
// readiness probes refreshed, so a replica whose caches synced after its last probe showed 0.
TEST(MetricsEndpoint, ScrapeRefreshesStateBeforeReadingTheRegistry) {
  exportgate::webhook::Metrics metrics;
  std::atomic<bool> synced{false};
  std::atomic<int> refreshes{0};
  exportgate::webhook::MetricsEndpoint endpoint("127.0.0.1:0", metrics.registry(), [&] {
    ++refreshes;
    metrics.set_cache_synced("/apis/resource.k8s.io/v1/deviceclasses", synced.load());
  });
  httplib::Client client("127.0.0.1", endpoint.port());
  const std::string series =
      "exportgate_cache_synced{resource=\"/apis/resource.k8s.io/v1/deviceclasses\"} ";
  auto first = client.Get("/metrics");
  ASSERT_TRUE(first);
  EXPECT_NE(first->body.find(series + "0"), std::string::npos) << first->body;
  synced = true;  // the cache syncs; nothing calls set_cache_synced outside a scrape
  auto second = client.Get("/metrics");
  ASSERT_TRUE(second);
  EXPECT_NE(second->body.find(series + "1"), std::string::npos) << second->body;
  EXPECT_EQ(refreshes.load(), 2);
}
