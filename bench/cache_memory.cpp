// Bytes per pod of the two per-pod caches, measured by filling them with 100,000 synthetic pods
// (bench/run.sh runs it; the figures go to the Memory table of docs/benchmarks.md):
// - standalone: the in-memory usage ledger, one reservation per admitted accelerator pod;
// - cluster mode: the Pod cache (ObjectStore<PodInfo>, the projection kept per pod), filled
//   through its informer sink one watch event at a time, as the watch does: Pods of one template
//   (a Deployment or a Job: they share one charge basis), and Pods that each have a basis of their
//   own (a DaemonSet's, pinned to their node by an affinity).
// Heap bytes come from glibc's mallinfo2 (allocated chunks, headers included), so the figure
// does not depend on what else the process holds; RSS growth is printed next to it. Also the
// heap size of one Pod as a JSON document, which a full list holds for every Pod at once.
// Output: one JSON object on stdout. Usage: cache_memory [PODS]
#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench/review_files.hpp"
#include "webhook/annotations.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/policy_store.hpp"
#include "webhook/usage_ledger.hpp"

namespace {

using namespace exportgate;
using nlohmann::json;

size_t heap_bytes() {
  return mallinfo2().uordblks;
}

size_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

struct Use {
  size_t heap = 0;
  size_t rss = 0;
};

template <class Fill>
Use measure(Fill&& fill) {
  const size_t heap0 = heap_bytes(), rss0 = rss_bytes();
  fill();
  return {heap_bytes() - heap0, rss_bytes() - rss0};
}

// Pod names like the ones controllers generate (ReplicaSet hash + 5 characters), admission uids
// like the apiserver's (UUIDs).
std::string pod_name(size_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "train-6f7d8c9b4-%05zx", i);
  return buf;
}
std::string uuid(size_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "5b7e1c2a-%04zx-4d3e-9f1a-%012zx", i % 0x10000, i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t pods = argc > 1 ? std::stoul(argv[1]) : 100'000;
  webhook::PolicyStore store(webhook::PolicySource{"", {{"team-us", "US"}, {"team-sg", "SG"}}});
  store.load();
  const auto policy = store.current();

  // Standalone: the ledger as the admission handler fills it (namespace/name, tenant,
  // jurisdiction, TPP of an 8 x H100 pod).
  webhook::InMemoryLedger ledger;
  const Use standalone = measure([&] {
    for (size_t i = 0; i < pods; ++i) {
      webhook::Reservation r{"team-us/" + pod_name(i), "team-us", "US", 126656, uuid(i), "team-us"};
      ledger.reserve(r, std::nullopt, std::nullopt);
    }
  });

  // Cluster mode: the pinned-H100 pod of the benchmark reviews, stored (status, uid annotation).
  json pod = json::parse(bench::read_review("gpu-pod-h100-pinned"))["request"]["object"];
  pod["status"] = {{"phase", "Running"}};
  webhook::ObjectStore<webhook::PodInfo> cache(
      [&](const json& o) { return webhook::project_pod(o, *policy, nullptr); });
  auto sink = cache.sink();
  const Use cluster = measure([&] {
    for (size_t i = 0; i < pods; ++i) {
      pod["metadata"]["name"] = pod_name(i);
      pod["metadata"]["uid"] = uuid(i + pods);
      pod["metadata"]["annotations"][webhook::kAdmissionUidAnnotation] = uuid(i);
      sink.apply(webhook::WatchEventType::kAdded, pod);
    }
  });
  // The same Pods when no two share a basis: a DaemonSet's Pods each carry an affinity to their
  // own node, so their specs differ (the worst case for the Pod cache's sharing).
  webhook::ObjectStore<webhook::PodInfo> unique_cache(
      [&](const json& o) { return webhook::project_pod(o, *policy, nullptr); });
  auto unique_sink = unique_cache.sink();
  json ds_pod = pod;
  const Use unique = measure([&] {
    for (size_t i = 0; i < pods; ++i) {
      ds_pod["metadata"]["name"] = pod_name(i);
      ds_pod["metadata"]["uid"] = uuid(i + 2 * pods);
      ds_pod["metadata"]["annotations"][webhook::kAdmissionUidAnnotation] = uuid(i + 3 * pods);
      ds_pod["spec"]["affinity"] = {{"nodeAffinity",
                                     {{"requiredDuringSchedulingIgnoredDuringExecution",
                                       {{"nodeSelectorTerms",
                                         {{{"matchFields",
                                            {{{"key", "metadata.name"},
                                              {"operator", "In"},
                                              {"values", {pod_name(i)}}}}}}}}}}}}};
      unique_sink.apply(webhook::WatchEventType::kAdded, ds_pod);
    }
  });
  // What one listed Pod costs while Informer::list() holds the items of every page before
  // projecting them (the same pod as a JSON document): the peak of a full (re)list.
  constexpr size_t kListed = 1000;
  std::vector<json> listed;
  listed.reserve(kListed);
  const std::string pod_text = pod.dump();
  const Use list = measure([&] {
    for (size_t i = 0; i < kListed; ++i) listed.push_back(json::parse(pod_text));
  });
  if (cache.size() != pods || ledger.size() != pods || unique_cache.size() != pods) {
    std::cerr << "cache_memory: expected " << pods << " pods, the ledger holds " << ledger.size()
              << " and the Pod cache " << cache.size() << "\n";
    return 1;
  }
  const auto per_pod = [&](size_t bytes) { return static_cast<double>(bytes) / pods; };
  std::cout << json{{"pods", pods},
                    {"ledger_heap_bytes", standalone.heap},
                    {"ledger_rss_bytes", standalone.rss},
                    {"ledger_bytes_per_pod", per_pod(standalone.heap)},
                    {"pod_cache_heap_bytes", cluster.heap},
                    {"pod_cache_rss_bytes", cluster.rss},
                    {"pod_cache_bytes_per_pod", per_pod(cluster.heap)},
                    {"pod_cache_unique_basis_heap_bytes", unique.heap},
                    {"pod_cache_unique_basis_bytes_per_pod", per_pod(unique.heap)},
                    {"listed_pod_json_bytes", static_cast<double>(list.heap) / kListed},
                    {"listed_pod_text_bytes", pod_text.size()}}
                   .dump()
            << "\n";
  return 0;
}
