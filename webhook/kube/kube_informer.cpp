// The list+watch loop (see kube_informer.hpp).
#include "webhook/kube_informer.hpp"

#include <malloc.h>

#include <algorithm>

#include "webhook/kube_list.hpp"
#include "webhook/resource_version.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {
// The server ends each watch after this long; we then resume from the last resourceVersion.
constexpr int kWatchTimeoutSeconds = 300;
constexpr int kListPageSize = 500;
}  // namespace

std::string object_key(const json& o) {
  const json& meta = o.value("metadata", json::object());
  std::string ns = meta.value("namespace", "");
  std::string name = meta.value("name", "");
  return ns.empty() ? name : ns + "/" + name;
}

Informer::Informer(KubeClient& client, std::string path, InformerSink sink, Logger& log)
    : client_(client), path_(std::move(path)), sink_(std::move(sink)), log_(log) {}

Informer::~Informer() {
  stop();
}

void Informer::start() {
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Informer::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void Informer::list() {
  applied_through_ = 0;  // the cache may be partly replaced until the list is done
  std::string rv;
  bool first = true;
  size_t listed = 0;
  // Each item goes to the sink as soon as it is parsed (parse_list_page): one item of the page
  // is held as JSON at a time, not the page. Kind and apiVersion, which list items lack, are
  // restored so consumers see the same objects as from a watch (the engine recognises a Pod
  // by its kind).
  std::vector<json> one;
  ListPaging paging;
  paging.limit = kListPageSize;
  paging.before_request = [&] {
    if (stop_) throw KubeUnavailable("list " + path_ + ": stopped");
  };
  paging.on_item = [&](json& item) {
    one.clear();
    one.push_back(std::move(item));
    sink_.list_page(one, first);
    first = false;
  };
  paging.on_refused = [&](const KubeResponse& res, const std::string&, bool continued) {
    if (res.status != 410 || !continued) {
      throw KubeUnavailable("list " + path_ + ": " + res.describe());
    }
    // The continue token expired mid-list: start over (the pages so far are dropped).
    first = true;
    listed = 0;
    return PageRefused::kRestart;
  };
  paging.on_page = [&](const ListPage& page, const std::string&) {
    if (first) {  // a page without items still starts the list
      one.clear();
      sink_.list_page(one, true);
      first = false;
    }
    rv = page.resource_version;
    listed += page.items;
  };
  for_each_page(client_, path_, paging);
  sink_.list_done();
  // The list's page bodies and parsed items were freed between the projections it left, and
  // glibc keeps such pages in its arenas rather than return them: give them back after a list
  // of more than a page (issue 19; one call per full list, a few ms).
  if (listed > static_cast<size_t>(kListPageSize)) malloc_trim(0);
  if (sink_.changed) sink_.changed();
  resource_version_ = rv;
  applied_through_ = parse_resource_version(rv).value_or(0);
  ++relists_;
  if (!synced_.exchange(true)) {
    log_.info("cache synced", {{"resource", path_}, {"objects", listed}});
  }
}

void Informer::watch() {
  LineBuffer lines;
  bool restart_list = false;
  const std::string path = with_query(
      path_,
      "watch=1&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(kWatchTimeoutSeconds) +
          "&resourceVersion=" + url_encode(resource_version_));
  int status = client_.stream(path, [&](std::string_view chunk) {
    for (auto& line : lines.feed(chunk)) {
      WatchEvent ev;
      try {
        ev = parse_watch_event(line);
      } catch (const WatchDecodeError& e) {
        log_.warn("bad watch event; relisting", {{"resource", path_}, {"error", e.what()}});
        restart_list = true;
        return false;
      }
      if (ev.type == WatchEventType::kError) {
        // 410 Gone: our resourceVersion is older than the server keeps. Any other error: relist
        // too, it is the only safe way back to a consistent cache.
        if (!ev.gone()) {
          log_.warn("watch error; relisting",
                    {{"resource", path_}, {"status", ev.object.value("message", "")}});
        }
        restart_list = true;
        return false;
      }
      if (!ev.resource_version.empty()) resource_version_ = ev.resource_version;
      if (ev.type != WatchEventType::kBookmark) {
        sink_.apply(ev.type, ev.object);
        if (sink_.changed) sink_.changed();
      }
      // After the sink has it: a reader of applied_through() finds the cache at least as new.
      if (!ev.resource_version.empty() && applied_through_ != 0) {
        applied_through_ = std::max<uint64_t>(
            applied_through_, parse_resource_version(ev.resource_version).value_or(0));
      }
    }
    return !stop_;
  });
  if (status == 410 || restart_list) {
    resource_version_.clear();
  } else if (status != 200 && !stop_) {
    throw KubeUnavailable("watch " + path_ + ": HTTP " + std::to_string(status));
  }
}

void Informer::run() {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(10'000));
  bool reported = false;
  while (!stop_) {
    try {
      if (resource_version_.empty()) list();
      watch();
      backoff.reset();
      if (reported) log_.info("watch resumed", {{"resource", path_}});
      reported = false;
    } catch (const std::exception& e) {
      if (stop_) break;
      // Logged once per outage, not on every retry.
      if (!reported) {
        log_.warn("watch failed; retrying with backoff",
                  {{"resource", path_}, {"error", e.what()}});
        reported = true;
      }
      sleep_for(backoff.next());
    }
  }
}

}  // namespace exportgate::webhook
