// LeaseElector against a fake API server (plain HTTP) that refuses the Lease with 403, as a
// missing RBAC verb does: the refusal is logged once at warn (not once per retry, and not only
// at debug where nobody sees it), the replica does not lead, and it leads once writes succeed.
#include "webhook/lease.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/unit/loopback_http_server.hpp"

namespace {

namespace wh = exportgate::webhook;

class FakeLeaseApi : public exportgate::testing::LoopbackHttpServer {
 public:
  FakeLeaseApi() {
    auto& http = server();
    const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/eg/leases";
    http.Get(leases + "/exportgate-reconciler", [](const httplib::Request&,
                                                   httplib::Response& res) {
      res.status = 404;
      res.set_content(R"({"kind":"Status","code":404,"reason":"NotFound"})", "application/json");
    });
    http.Post(leases, [this](const httplib::Request& req, httplib::Response& res) {
      ++creates_;
      if (allow_) {
        res.status = 201;
        res.set_content(req.body, "application/json");
        return;
      }
      res.status = 403;
      res.set_content(
          R"({"kind":"Status","code":403,"reason":"Forbidden","message":"leases is forbidden"})",
          "application/json");
    });
    start();
  }
  int creates() const { return creates_; }
  void allow() { allow_ = true; }

 private:
  std::atomic<int> creates_{0};
  std::atomic<bool> allow_{false};
};

using exportgate::testing::eventually;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(LeaseElector, RefusedWritesAreWarnedOnceAndLeadershipFollowsTheApi) {
  FakeLeaseApi api;
  wh::KubeClient client(api.kube_config());
  std::ostringstream out;
  wh::Logger log(wh::LogLevel::kWarn, &out);
  wh::LeaseOptions options;
  options.namespace_ = "eg";
  options.identity = "replica-a";
  options.retry_period = std::chrono::milliseconds(10);
  std::atomic<int> changes{0};
  wh::LeaseElector elector(client, options, log, [&](bool) { ++changes; });
  elector.start();
  ASSERT_TRUE(eventually([&] { return api.creates() >= 5; }));
  EXPECT_FALSE(elector.leading());
  EXPECT_EQ(changes, 0);
  api.allow();
  ASSERT_TRUE(eventually([&] { return elector.leading(); }));
  elector.stop();
  const std::string text = out.str();
  EXPECT_EQ(count(text, "\"level\":\"warn\""), 1u) << text;
  EXPECT_EQ(count(text, "lease create refused: 403"), 1u) << text;
  EXPECT_NE(text.find("leases is forbidden"), std::string::npos) << text;
}

}  // namespace
