// List+watch of one resource into a local store: relists after 410 Gone, follows bookmarks,
// reconnects with backoff, and reports when the first list has synced. ObjectStore<T> keeps a
// small projection of each object (not the whole JSON) to bound memory.
#pragma once

#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "webhook/kube_client.hpp"
#include "webhook/kube_watch.hpp"
#include "webhook/log.hpp"

namespace exportgate::webhook {

// What an informer does with what it sees. A full (re)list arrives one item at a time, as each
// is parsed, so that only one listed object is held as JSON: 100,000 listed Pods as JSON
// documents are GiBs, their projections a few tens of MiB, and even one page of 500 parsed whole
// fragmented the heap between the projections (issue 19). list_page(items, first) takes the
// items (which may be moved from; today one at a time, none for an empty list); `first` starts a
// new list and drops what an abandoned one (expired continue token) gave. list_done() then makes
// the listed set current.
struct InformerSink {
  std::function<void(std::vector<nlohmann::json>&, bool first)> list_page;
  std::function<void()> list_done;
  std::function<void(WatchEventType, nlohmann::json&)> apply;  // one watch event
  std::function<void()> changed;                               // after list_done or apply
};

class Informer {
 public:
  // `path`: the collection, e.g. "/api/v1/pods" or
  // "/apis/exportgate.io/v1alpha1/namespaces/ns/tppledgers".
  Informer(KubeClient& client, std::string path, InformerSink sink, Logger& log);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  void stop();  // the client's streams must be cancelled too (KubeClient::cancel_all)
  bool synced() const { return synced_; }
  uint64_t relists() const { return relists_; }
  // The resourceVersion (as a number) up to which every event is in the sink: the cache holds
  // each object as of that revision or later. 0 while (re)listing or when versions are not
  // numbers (they are opaque; etcd's are increasing integers).
  uint64_t applied_through() const { return applied_through_; }
  const std::string& path() const { return path_; }

 private:
  void run();
  void list();
  void watch();
  void sleep_for(std::chrono::milliseconds d);

  KubeClient& client_;
  std::string path_;
  InformerSink sink_;
  Logger& log_;
  std::string resource_version_;
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> relists_{0};
  std::atomic<uint64_t> applied_through_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

// "namespace/name" (or "name" for cluster-scoped objects) of an object.
std::string object_key(const nlohmann::json& object);

// A projection that carries its own store key (object_key of the object it was made from), so
// the store's map keys view it instead of holding a second copy (cache memory, issue 19).
template <class T>
concept KeyedProjection = requires(const T& t) {
  { t.store_key() } -> std::convertible_to<std::string_view>;
};

// A map of key -> projection, filled by an Informer. project() returns nullopt for objects that
// are not worth keeping (e.g. Pods without accelerators).
template <class T>
class ObjectStore {
  static constexpr bool kKeyed = KeyedProjection<T>;
  using Key = std::conditional_t<kKeyed, std::string_view, std::string>;
  using Map = std::unordered_map<Key, std::shared_ptr<const T>>;

 public:
  using Project = std::function<std::optional<T>(const nlohmann::json&)>;
  explicit ObjectStore(Project project) : project_(std::move(project)) {}

  // Projected pages are staged (only the informer's thread touches listed_) and swapped in at
  // the end of the list.
  InformerSink sink(std::function<void()> changed = nullptr) {
    return {[this](std::vector<nlohmann::json>& items, bool first) {
              if (first) listed_.clear();
              for (auto& o : items) {
                if (auto p = project_(o))
                  put(listed_, object_key(o), std::make_shared<const T>(std::move(*p)));
              }
            },
            [this] {
              {
                std::lock_guard lock(mu_);
                items_.swap(listed_);
                ++version_;
              }
              listed_.clear();  // the previous set, freed outside the lock
            },
            [this](WatchEventType type, nlohmann::json& o) {
              const std::string key = object_key(o);
              std::optional<T> p;
              if (type != WatchEventType::kDeleted) p = project_(o);
              std::shared_ptr<const T> old;  // freed outside the lock
              std::lock_guard lock(mu_);
              if (p) {
                old = put(items_, key, std::make_shared<const T>(std::move(*p)));
              } else if (auto it = items_.find(key); it != items_.end()) {
                old = std::move(it->second);
                items_.erase(it);
              }
              ++version_;
            },
            std::move(changed)};
  }

  std::shared_ptr<const T> get(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second;
  }
  std::vector<std::shared_ptr<const T>> all() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<const T>> out;
    out.reserve(items_.size());
    for (const auto& [_, v] : items_) out.push_back(v);
    return out;
  }
  // Replaces each item for which `f` returns a new projection (e.g. Pods recharged after a
  // policy reload). Returns how many changed.
  size_t update_all(const std::function<std::optional<T>(const T&)>& f) {
    std::lock_guard lock(mu_);
    std::vector<std::pair<std::string, std::shared_ptr<const T>>> changed;
    for (const auto& [k, v] : items_) {
      if (auto n = f(*v)) changed.emplace_back(std::string(k), std::make_shared<const T>(*n));
    }
    // Put after the walk: a keyed item is re-inserted under its new copy's key.
    for (auto& [k, v] : changed) put(items_, k, std::move(v));
    if (!changed.empty()) ++version_;
    return changed.size();
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  uint64_t version() const {
    std::lock_guard lock(mu_);
    return version_;
  }

 private:
  // Stores `v` under `key`; returns the projection it replaces. A keyed projection must carry
  // that same key (its map key views the projection's own copy).
  static std::shared_ptr<const T> put(Map& map, const std::string& key,
                                      std::shared_ptr<const T> v) {
    if constexpr (kKeyed) {
      const std::string_view own = v->store_key();
      if (own != key)
        throw std::logic_error("ObjectStore: projection key \"" + std::string(own) +
                               "\" differs from object key \"" + key + "\"");
      auto it = map.find(own);
      if (it == map.end()) {
        map.emplace(own, std::move(v));
        return nullptr;
      }
      // The node's key views the projection it replaces: re-key it to the new one.
      auto node = map.extract(it);
      std::shared_ptr<const T> old = std::move(node.mapped());
      node.key() = own;
      node.mapped() = std::move(v);
      map.insert(std::move(node));
      return old;
    } else {
      std::shared_ptr<const T>& slot = map[key];
      std::shared_ptr<const T> old = std::move(slot);
      slot = std::move(v);
      return old;
    }
  }

  Project project_;
  mutable std::mutex mu_;
  Map items_;
  Map listed_;  // a list in progress
  uint64_t version_ = 0;
};

}  // namespace exportgate::webhook
