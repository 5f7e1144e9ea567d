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
// `cache_memory PODS list-items|list-pages` measures instead, in a fresh process, a full list of
// PODS Pods into the Pod cache in pages of 500 as the informer reads it: each item projected as
// soon as it is parsed (list-items, what Informer::list does since issue 19), or each page parsed
// whole first (list-pages, what it did before); with what glibc holds and the RSS, before and
// after malloc_trim.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench/review_files.hpp"
#include "policy/json_limits.hpp"
#include "webhook/annotations.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/kube_watch.hpp"
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

// Bytes glibc has from the system for the heap (arenas and mmapped chunks).
size_t held_bytes() {
  const auto m = mallinfo2();
  return m.arena + m.hblkhd;
}

// A full list of `pods` Pods (the pinned H100 Pod, Running, as the API server lists it: no kind
// or apiVersion) into a Pod cache, in pages of 500.
int list_mode(size_t pods, bool item_by_item, const policy::Policy& policy) {
  json pod = json::parse(bench::read_review("gpu-pod-h100-pinned"))["request"]["object"];
  pod.erase("kind");
  pod.erase("apiVersion");
  pod["spec"]["nodeName"] = "gpu-h100-0";
  pod["status"] = {{"phase", "Running"}, {"hostIP", "10.0.0.10"}, {"podIP", "10.1.0.10"}};
  webhook::ObjectStore<webhook::PodInfo> cache(
      [&](const json& o) { return webhook::project_pod(o, policy, nullptr); });
  auto sink = cache.sink();
  constexpr size_t kPage = 500;  // kListPageSize of webhook/kube/kube_informer.cpp
  const size_t rss0 = rss_bytes(), heap0 = heap_bytes(), held0 = held_bytes();
  bool first = true;
  for (size_t from = 0; from < pods; from += kPage) {
    std::string text =
        R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[)";
    for (size_t i = from; i < std::min(pods, from + kPage); ++i) {
      pod["metadata"]["name"] = pod_name(i);
      pod["metadata"]["uid"] = uuid(i);
      if (i > from) text += ',';
      text += pod.dump();
    }
    text += "]}";
    if (item_by_item) {
      std::vector<json> one;
      webhook::parse_list_page(text, [&](json& item) {
        one.clear();
        one.push_back(std::move(item));
        sink.list_page(one, first);
        first = false;
      });
    } else {
      json page = policy::parse_json_bounded(text);
      std::vector<json> items;
      for (auto& item : page["items"]) {
        item["kind"] = "Pod";
        item["apiVersion"] = "v1";
        items.push_back(std::move(item));
      }
      page = nullptr;
      sink.list_page(items, first);
      first = false;
    }
  }
  sink.list_done();
  const size_t rss = rss_bytes(), heap = heap_bytes(), held = held_bytes();
  malloc_trim(0);
  const size_t rss_trimmed = rss_bytes();
  if (cache.size() != pods) {
    std::cerr << "cache_memory: expected " << pods << " pods, the cache holds " << cache.size()
              << "\n";
    return 1;
  }
  const auto mib = [](size_t b) { return static_cast<double>(b) / (1 << 20); };
  std::cout << json{{"pods", pods},
                    {"mode", item_by_item ? "list-items" : "list-pages"},
                    {"heap_in_use_mib", mib(heap - heap0)},
                    {"heap_held_mib", mib(held - held0)},
                    {"rss_growth_mib", mib(rss - rss0)},
                    {"rss_mib", mib(rss)},
                    {"rss_after_malloc_trim_mib", mib(rss_trimmed)}}
                   .dump()
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t pods = argc > 1 ? std::stoul(argv[1]) : 100'000;
  webhook::PolicyStore store(webhook::PolicySource{"", {{"team-us", "US"}, {"team-sg", "SG"}}});
  store.load();
  const auto policy = store.current();
  if (argc > 2) {
    const std::string mode = argv[2];
    if (mode != "list-items" && mode != "list-pages") {
      std::cerr << "usage: cache_memory [PODS] [list-items|list-pages]\n";
      return 2;
    }
    return list_mode(pods, mode == "list-items", *policy);
  }

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
