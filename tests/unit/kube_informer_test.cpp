// Informer::list against a fake API server (plain HTTP): listed objects reach the sink one at a
// time, as each is parsed (never a page held whole as JSON: issue 19), an expired continue token
// restarts the list, an empty list still starts one, and the store ends with every object.
#include "webhook/kube_informer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/eventually.hpp"
#include "tests/unit/loopback_http_server.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

// /api/v1/pods in pages of 2 (of 6 pods); the first time page 3 is asked for, its continue
// token has expired (410). Watches answer an empty stream after a short wait.
class FakeApiServer : public exportgate::testing::LoopbackHttpServer {
 public:
  FakeApiServer() {
    server().Get("/api/v1/pods", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_param("watch")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        res.set_content("", "application/json");
        return;
      }
      const std::string cont = req.get_param_value("continue");
      int page = cont.empty() ? 0 : std::stoi(cont);
      if (page == 2 && !expired_once_.exchange(true)) {
        res.status = 410;
        res.set_content(R"({"kind":"Status","code":410,"reason":"Expired"})", "application/json");
        return;
      }
      json items = json::array();
      for (int i = 2 * page; i < 2 * page + 2; ++i) {
        items.push_back(
            {{"metadata", {{"namespace", "ns"}, {"name", "pod-" + std::to_string(i)}}}});
      }
      json meta = {{"resourceVersion", "42"}};
      if (page < 2) meta["continue"] = std::to_string(page + 1);
      ++pages_served_;
      res.set_content(
          json{{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", meta}, {"items", items}}
              .dump(),
          "application/json");
    });
    start();
  }
  int pages_served() const { return pages_served_; }

 private:
  std::atomic<bool> expired_once_{false};
  std::atomic<int> pages_served_{0};
};

using exportgate::testing::eventually;

TEST(Informer, ListDeliversObjectsOneAtATimeAndRestartsAfterAnExpiredContinueToken) {
  FakeApiServer api;
  wh::KubeClient client(api.kube_config());
  wh::Logger log(wh::LogLevel::kError);
  std::mutex mu;
  std::vector<std::pair<size_t, bool>> pages;  // (items, first) as the sink saw them
  int done = 0;
  wh::InformerSink sink{[&](std::vector<json>& items, bool first) {
                          std::lock_guard lock(mu);
                          pages.emplace_back(items.size(), first);
                          for (const auto& o : items) EXPECT_EQ(o.value("kind", ""), "Pod");
                        },
                        [&] {
                          std::lock_guard lock(mu);
                          ++done;
                        },
                        [](wh::WatchEventType, json&) {}, nullptr};
  wh::Informer informer(client, "/api/v1/pods", sink, log);
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.synced(); }));
  client.cancel_all();
  informer.stop();
  std::lock_guard lock(mu);
  // The 4 objects of pages 1 and 2, the 410 on page 3, then the 6 again from the start: one at a
  // time (a page parsed whole reached the sink as one call with 2).
  const std::vector<std::pair<size_t, bool>> expected = {
      {1, true},  {1, false}, {1, false}, {1, false}, {1, true},
      {1, false}, {1, false}, {1, false}, {1, false}, {1, false}};
  EXPECT_EQ(pages, expected);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(informer.relists(), 1u);
}

TEST(Informer, ObjectStoreHoldsEveryListedObjectAfterARestartedList) {
  FakeApiServer api;
  wh::KubeClient client(api.kube_config());
  wh::Logger log(wh::LogLevel::kError);
  wh::ObjectStore<std::string> store(
      [](const json& o) -> std::optional<std::string> { return o["metadata"].value("name", ""); });
  wh::Informer informer(client, "/api/v1/pods", store.sink(), log);
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.synced(); }));
  client.cancel_all();
  informer.stop();
  EXPECT_EQ(store.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    auto p = store.get("ns/pod-" + std::to_string(i));
    ASSERT_TRUE(p) << i;
    EXPECT_EQ(*p, "pod-" + std::to_string(i));
  }
  EXPECT_EQ(store.version(), 1u);  // one list: one swap, not one per page
}

// An empty list still starts a list (the sink drops what an abandoned one staged) and ends it.
TEST(Informer, AnEmptyListStartsAndEndsAList) {
  exportgate::testing::LoopbackHttpServer api;
  api.server().Get("/api/v1/nodes", [](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("watch")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      res.set_content("", "application/json");
      return;
    }
    res.set_content(R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"9"},)"
                    R"("items":[]})",
                    "application/json");
  });
  api.start();
  wh::KubeClient client(api.kube_config());
  wh::Logger log(wh::LogLevel::kError);
  std::mutex mu;
  std::vector<std::pair<size_t, bool>> pages;
  int done = 0;
  wh::InformerSink sink{[&](std::vector<json>& items, bool first) {
                          std::lock_guard lock(mu);
                          pages.emplace_back(items.size(), first);
                        },
                        [&] {
                          std::lock_guard lock(mu);
                          ++done;
                        },
                        [](wh::WatchEventType, json&) {}, nullptr};
  wh::Informer informer(client, "/api/v1/nodes", sink, log);
  informer.start();
  ASSERT_TRUE(eventually([&] { return informer.synced(); }));
  client.cancel_all();
  informer.stop();
  std::lock_guard lock(mu);
  const std::vector<std::pair<size_t, bool>> expected = {{0, true}};
  EXPECT_EQ(pages, expected);
  EXPECT_EQ(done, 1);
}

}  // namespace

// applied_through() is what the reconciler writes as the ledger's countedThrough: a reader must
// find every event up to it in the cache. So it is 0 while a list fills the sink, the list's
// revision once it is done, and a watch event's revision only after the sink has applied it.
TEST(Informer, AppliedThroughFollowsTheSinkNotTheStream) {
  exportgate::testing::LoopbackHttpServer api;
  api.server().Get("/api/v1/pods", [](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("watch")) {
      res.set_content(
          R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42"},)"
          R"("items":[{"metadata":{"namespace":"ns","name":"a","resourceVersion":"40"}}]})",
          "application/json");
      return;
    }
    if (req.get_param_value("resourceVersion") != "42") {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      res.set_content("", "application/json");
      return;
    }
    res.set_content(R"({"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":)"
                    R"({"namespace":"ns","name":"b","resourceVersion":"57"}}})"
                    "\n",
                    "application/json");
  });
  api.start();
  wh::KubeClient client(api.kube_config());
  wh::Logger log(wh::LogLevel::kError);
  std::unique_ptr<wh::Informer> informer;
  std::atomic<uint64_t> during_list{99}, during_event{99};
  wh::InformerSink sink{
      [&](std::vector<json>&, bool) { during_list = informer->applied_through(); }, [] {},
      [&](wh::WatchEventType, json&) { during_event = informer->applied_through(); }, nullptr};
  informer = std::make_unique<wh::Informer>(client, "/api/v1/pods", sink, log);
  informer->start();
  ASSERT_TRUE(eventually([&] { return informer->applied_through() == 57; }));
  client.cancel_all();
  informer->stop();
  EXPECT_EQ(during_list, 0u) << "a revision claimed while the list was still filling the cache";
  EXPECT_EQ(during_event, 42u) << "the event's revision claimed before the sink had it";
}
