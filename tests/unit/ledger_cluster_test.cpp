// ClusterLedger against an in-memory API server (tests/unit/fake_kube_api.hpp: objects and
// compare-and-swap, nothing of the ledger's own logic).
#include "webhook/ledger_cluster.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "policy/policy_loader.hpp"
#include "tests/unit/fake_kube_api.hpp"
#include "tests/unit/support/admission_reviews.hpp"
#include "tests/unit/support/fake_api_ledger.hpp"
#include "webhook/admission_handler.hpp"

namespace exportgate::webhook {
namespace {

using exportgate::testing::FakeKubeApi;
using nlohmann::json;

using testing::kSgLedgerPath;

Reservation reservation(const std::string& uid) {
  return {"team/" + uid, "team", "SG", 126656, uid, "team"};
}

std::set<std::string> reserved_uids(const FakeKubeApi& api) {
  std::set<std::string> uids;
  auto obj = api.object(kSgLedgerPath);
  if (!obj) return uids;
  for (const auto& r : (*obj)["spec"].value("reservations", json::array()))
    uids.insert(r.value("uid", ""));
  return uids;
}

// A request that gives up while its reservation is in another request's batch is told it failed;
// the ledger must then not hold it (nor count its TPP) once the writes are done.
TEST(ClusterLedger, AReserveThatTimedOutInABatchLeavesNoReservation) {
  LedgerOptions options = testing::ledger_in_eg();
  options.deadline = std::chrono::milliseconds(300);
  testing::FakeApiLedger cluster(options);
  auto& api = cluster.api;
  auto& ledger = cluster.ledger;
  // Every write takes longer than a waiter's patience (2 x the ledger deadline).
  api.set_fault([](const std::string& method, const std::string&, const std::string&) {
    if (method == "PUT" || method == "POST")
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return std::optional<int>();
  });

  struct Outcome {
    std::string uid;
    bool threw = false;
    bool accepted = false;
  };
  std::vector<Outcome> outcomes(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    outcomes[i].uid = "uid-" + std::to_string(i);
    threads.emplace_back([&, i] {
      try {
        outcomes[i].accepted = ledger.reserve(reservation(outcomes[i].uid), 1e12, std::nullopt);
      } catch (const LedgerUnavailable&) {
        outcomes[i].threw = true;
      }
    });
    // The first becomes the writer; the other two queue behind its write.
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& t : threads) t.join();

  const auto held = reserved_uids(api);
  int threw = 0;
  for (const auto& o : outcomes) {
    if (o.threw) {
      ++threw;
      EXPECT_FALSE(held.contains(o.uid)) << o.uid << ": told it failed, yet reserved";
    } else {
      EXPECT_TRUE(o.accepted);
      EXPECT_TRUE(held.contains(o.uid)) << o.uid << ": told it was reserved, yet absent";
    }
  }
  EXPECT_GE(threw, 1) << "no request timed out: the scenario did not happen";
  auto obj = api.object(kSgLedgerPath);
  ASSERT_TRUE(obj);
  EXPECT_DOUBLE_EQ((*obj)["spec"]["reservedTPP"].get<double>(), 126656.0 * held.size());
}

TEST(ClusterLedger, UncappedReservationsNeverCallTheApi) {
  testing::FakeApiLedger cluster;
  auto& ledger = cluster.ledger;
  cluster.api.set_fault([](const std::string&, const std::string&, const std::string&) {
    return std::optional<int>(503);
  });
  EXPECT_TRUE(ledger.reserve(reservation("u1"), std::nullopt, std::nullopt));
  EXPECT_THROW(ledger.reserve(reservation("u2"), 1e12, std::nullopt), LedgerUnavailable);
}

// Issue 13: in cluster mode usage follows the Pods the API server reports, never a review. A
// Pod DELETE review, even the API server's own with the pod in oldObject, releases nothing and
// writes nothing.
TEST(ClusterLedger, DeleteReviewsReleaseNothing) {
  testing::FakeApiLedger cluster;
  auto& api = cluster.api;
  auto& ledger = cluster.ledger;
  const auto policy = policy::load_preset(policy::kDefaultPreset);
  AdmissionEnv env;
  env.namespace_labels =
      [](const std::string&) -> std::optional<std::map<std::string, std::string>> {
    return std::map<std::string, std::string>{{"exportgate.io/jurisdiction", "SG"},
                                              {"exportgate.io/tenant", "team"}};
  };
  const json pod = testing::gpu_pod("team", "p", 8);
  const AdmissionRequest create = testing::pod_create("uid-create", "team", "p", pod);
  ASSERT_TRUE(handle_admission(create, Endpoint::kValidate, policy, ledger, env).response.allowed);
  ASSERT_EQ(reserved_uids(api), std::set<std::string>{"uid-create"});
  const auto before = api.object(kSgLedgerPath);

  AdmissionRequest del = create;
  del.uid = "uid-delete";
  del.operation = "DELETE";
  del.object = nullptr;
  del.old_object = pod;
  EXPECT_TRUE(handle_admission(del, Endpoint::kValidate, policy, ledger, env).response.allowed);
  EXPECT_EQ(api.object(kSgLedgerPath), before);  // not written
  EXPECT_DOUBLE_EQ(ledger.snapshot("team", "SG").tenant_tpp, 126656);
}

}  // namespace
}  // namespace exportgate::webhook
