// The audit's list reading (issue 19): each listed object is audited as soon as it is parsed
// (parse_list_page), across pages; a page that is not a well-formed list fails the pass (it
// would hide objects), including an item that is not an object, which was skipped before.
#include <gtest/gtest.h>

#include <string>

#include "policy/policy_loader.hpp"
#include "tests/unit/loopback_http_server.hpp"
#include "webhook/audit_run.hpp"

namespace exportgate::webhook {
namespace {

// /api/v1/pods in two pages of one GPU Pod each (the second with `extra` after its Pod); every
// other path answers 404 (not served: skipped by the audit).
class PodListServer : public exportgate::testing::LoopbackHttpServer {
 public:
  explicit PodListServer(std::string extra = "") {
    server().Get("/api/v1/pods", [extra](const httplib::Request& req, httplib::Response& res) {
      const bool second = req.get_param_value("continue") == "2";
      const std::string name = second ? "train-b" : "train-a";
      res.set_content(
          R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":")" +
              std::string(second ? "" : "2") +
              R"("},"items":[{"metadata":{"namespace":"ml","name":")" + name +
              R"("},"spec":{"containers":[{"name":"c","resources":{"limits":{"nvidia.com/gpu":"8"}}}]},)"
              R"("status":{"phase":"Running"}})" +
              (second ? extra : "") + "]}",
          "application/json");
    });
    start();
  }
};

TEST(AuditList, EveryPageIsAudited) {
  PodListServer api;
  KubeClient client(api.kube_config());
  const auto policy = policy::load_preset(policy::kDefaultPreset);
  const AuditRun run = run_audit(client, policy);
  ASSERT_FALSE(run.kinds.empty());
  EXPECT_EQ(run.kinds[0].kind, "Pod");
  EXPECT_TRUE(run.kinds[0].listed);
  EXPECT_EQ(run.kinds[0].objects, 2);
}

TEST(AuditList, AnItemThatIsNotAnObjectFailsThePass) {
  PodListServer api(R"(,"junk")");
  KubeClient client(api.kube_config());
  const auto policy = policy::load_preset(policy::kDefaultPreset);
  EXPECT_THROW(run_audit(client, policy), AuditApiError);
}

TEST(AuditList, AnAnswerThatIsNotAListFailsThePass) {
  exportgate::testing::LoopbackHttpServer api;
  api.server().Get("/api/v1/pods", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"kind":"PodList","apiVersion":"v1","metadata":{}})", "application/json");
  });
  api.start();
  KubeClient client(api.kube_config());
  const auto policy = policy::load_preset(policy::kDefaultPreset);
  EXPECT_THROW(run_audit(client, policy), AuditApiError);
}

}  // namespace
}  // namespace exportgate::webhook
