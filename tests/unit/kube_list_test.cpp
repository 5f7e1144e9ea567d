// The list pager (for_each_page) and KubeClient::replace against a loopback API server: the
// continue token goes url-encoded (the PolicyReport writer sent it raw, so a token with '+', '/'
// or '&' asked for the wrong page: the server answered 410 and the writer gave up), and an
// update goes without managedFields but with the resourceVersion read.
#include "webhook/kube_list.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/loopback_http_server.hpp"
#include "webhook/log.hpp"
#include "webhook/policy_report.hpp"

namespace {

using nlohmann::json;
namespace wh = exportgate::webhook;

// Base64 as etcd's tokens are, with the characters a raw query mangles.
constexpr char kToken[] = "eyJ2IjoibWV0YS5rOHMuaW8vdjEi+/x=&y=1";

// `path` in two pages: `first` items, then (only for exactly kToken) `second` items; any other
// continue value is the expired token a wrong one looks like (410).
void serve_two_pages(httplib::Server& http, const std::string& path, json first, json second) {
  http.Get(path, [=](const httplib::Request& req, httplib::Response& res) {
    const bool continued = req.has_param("continue");
    if (continued && req.get_param_value("continue") != kToken) {
      res.status = 410;
      res.set_content(R"({"kind":"Status","code":410,"reason":"Expired"})", "application/json");
      return;
    }
    json page = {{"kind", "List"},
                 {"apiVersion", "v1"},
                 {"metadata", {{"continue", continued ? "" : kToken}}},
                 {"items", continued ? second : first}};
    res.set_content(page.dump(), "application/json");
  });
}

TEST(ForEachPage, TheContinueTokenGoesUrlEncoded) {
  exportgate::testing::LoopbackHttpServer api;
  serve_two_pages(api.server(), "/api/v1/pods", json::array({{{"metadata", {{"name", "a"}}}}}),
                  json::array({{{"metadata", {{"name", "b"}}}}}));
  api.start();
  wh::KubeClient client(api.kube_config());
  std::vector<std::string> names;
  wh::ListPaging paging;
  paging.on_item = [&](json& item) { names.push_back(item["metadata"]["name"]); };
  EXPECT_TRUE(wh::for_each_page(client, "/api/v1/pods", paging));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
}

TEST(ForEachPage, ARefusedAnswerStopsOrRestartsAsTheHookSays) {
  exportgate::testing::LoopbackHttpServer api;
  std::atomic<int> gets = 0;
  api.server().Get("/api/v1/pods", [&](const httplib::Request& req, httplib::Response& res) {
    ++gets;
    if (req.has_param("continue") && gets == 2) {  // the first continued page has expired
      res.status = 410;
      res.set_content(R"({"kind":"Status","code":410})", "application/json");
      return;
    }
    const bool last = req.has_param("continue");
    json page = {{"kind", "List"},
                 {"apiVersion", "v1"},
                 {"metadata", {{"continue", last ? "" : "t"}}},
                 {"items", json::array({{{"metadata", {{"name", last ? "b" : "a"}}}}})}};
    res.set_content(page.dump(), "application/json");
  });
  api.start();
  wh::KubeClient client(api.kube_config());
  std::vector<std::string> names;
  wh::ListPaging paging;
  paging.on_item = [&](json& item) { names.push_back(item["metadata"]["name"]); };
  paging.on_refused = [&](const wh::KubeResponse& res, const std::string&, bool continued) {
    EXPECT_EQ(res.status, 410);
    EXPECT_TRUE(continued);
    names.clear();
    return wh::PageRefused::kRestart;
  };
  EXPECT_TRUE(wh::for_each_page(client, "/api/v1/pods", paging));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"})) << "listed again from the first page";
  EXPECT_EQ(gets, 4);

  paging.on_refused = [](const wh::KubeResponse&, const std::string&, bool) {
    return wh::PageRefused::kStop;
  };
  gets = 0;  // the first continued page expires again
  EXPECT_FALSE(wh::for_each_page(client, "/api/v1/pods", paging));
}

// The bug the shared pager fixed: the PolicyReport writer put the token into the query as is.
TEST(ForEachPage, PolicyReportsOnALaterPageAreFound) {
  exportgate::testing::LoopbackHttpServer api;
  const std::string list = std::string(wh::kPolicyReportApi) + "/policyreports";
  const json stale = {{"metadata", {{"name", "exportgate"}, {"namespace", "gone"}}},
                      {"summary", json::object()},
                      {"results", json::array()}};
  serve_two_pages(api.server(), list, json::array(), json::array({stale}));
  std::mutex mu;
  std::vector<std::string> deleted;
  api.server().Delete(".*", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    deleted.push_back(req.path);
    res.set_content("{}", "application/json");
  });
  api.start();
  wh::KubeClient client(api.kube_config());
  std::ostringstream out;
  wh::Logger log(wh::LogLevel::kInfo, &out);
  wh::PolicyReportWriter writer(client, log);
  // No report is due any more: the one on page 2 goes.
  EXPECT_EQ(writer.sync({}), 1) << out.str();
  std::lock_guard lock(mu);
  EXPECT_EQ(deleted, (std::vector<std::string>{std::string(wh::kPolicyReportApi) +
                                               "/namespaces/gone/policyreports/exportgate"}));
}

TEST(KubeClientReplace, PutsWithoutManagedFieldsAndWithTheResourceVersionRead) {
  exportgate::testing::LoopbackHttpServer api;
  std::mutex mu;
  json put;
  api.server().Put("/apis/x/v1/things/a", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    put = json::parse(req.body);
    res.set_content(req.body, "application/json");
  });
  api.start();
  wh::KubeClient client(api.kube_config());
  const json read = {{"metadata",
                      {{"name", "a"},
                       {"resourceVersion", "42"},
                       {"managedFields", json::array({{{"manager", "m"}}})}}},
                     {"spec", {{"x", 1}}}};
  EXPECT_TRUE(client.replace("/apis/x/v1/things/a", read).ok());
  std::lock_guard lock(mu);
  EXPECT_FALSE(put["metadata"].contains("managedFields"));
  EXPECT_EQ(put["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(put["spec"], read["spec"]);
}

}  // namespace
