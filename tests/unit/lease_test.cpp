// LeaseElector against a fake API server (plain HTTP) that refuses the Lease with 403, as a
// missing RBAC verb does: the refusal is logged once at warn (not once per retry, and not only
// at debug where nobody sees it), the replica does not lead, and it leads once writes succeed.
#include "webhook/lease.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/unit/fake_kube_api.hpp"
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

// Against an in-memory API server that only does what the real one does (objects, CAS).
namespace {

namespace wh = exportgate::webhook;
using exportgate::testing::FakeKubeApi;

const std::string kLeasePath =
    "/apis/coordination.k8s.io/v1/namespaces/eg/leases/exportgate-reconciler";

wh::LeaseOptions lease_options(const std::string& identity) {
  wh::LeaseOptions o;
  o.namespace_ = "eg";
  o.identity = identity;
  o.duration = std::chrono::seconds(2);
  o.retry_period = std::chrono::milliseconds(50);
  return o;
}

// The leadership changes of several electors in the order they happened: "replica-a+" when
// replica-a starts leading, "replica-a-" when it stops.
class Transitions {
 public:
  void record(const std::string& identity, bool leading) {
    std::lock_guard lock(mu_);
    text_ += (text_.empty() ? "" : " ") + identity + (leading ? "+" : "-");
  }
  std::string text() const {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

struct Elector {
  Elector(FakeKubeApi& api, const std::string& identity, Transitions* transitions = nullptr)
      : client(api.kube_config(identity)),
        log(wh::LogLevel::kError, &out),
        elector(client, lease_options(identity), log, [this, identity, transitions](bool leading) {
          if (transitions) transitions->record(identity, leading);
          if (leading)
            ++gained;
          else
            ++lost;
        }) {}
  wh::KubeClient client;
  std::ostringstream out;
  wh::Logger log;
  std::atomic<int> gained{0}, lost{0};
  wh::LeaseElector elector;
};

// replica-a elected, then replica-b started beside it; both record their changes in
// `transitions`.
struct LeaderAndChallenger {
  FakeKubeApi api;
  Transitions transitions;
  Elector a{api, "replica-a", &transitions};
  Elector b{api, "replica-b", &transitions};
  // False when replica-a never led (replica-b is then not started).
  bool start() {
    a.elector.start();
    if (!eventually([&] { return a.elector.leading(); })) return false;
    b.elector.start();
    return true;
  }
};

// The renew deadline is below the duration: a leader cut off from the API steps down before a
// replica that still reaches it can take over, so the two never lead at once.
TEST(LeaseElector, ACutOffLeaderStepsDownBeforeASuccessorTakesOver) {
  LeaderAndChallenger two;
  ASSERT_TRUE(two.start());
  // Every request of replica-a now fails, as for a replica partitioned from the API server.
  two.api.set_fault([](const std::string&, const std::string&, const std::string& token) {
    return token == "replica-a" ? std::optional<int>(503) : std::nullopt;
  });
  ASSERT_TRUE(eventually([&] { return two.b.gained >= 1; }, std::chrono::seconds(20)));
  // The order of the changes, not a sample of both states: replica-a stopped first.
  EXPECT_EQ(two.transitions.text(), "replica-a+ replica-a- replica-b+")
      << "replica-a still led when replica-b took over";
  EXPECT_FALSE(two.a.elector.leading());
  two.b.elector.stop();
  two.a.elector.stop();
}

// The same when the API server stops answering the leader (its requests hang): the leader's
// requests end by its renew deadline instead of keeping it "leading" while it waits.
TEST(LeaseElector, ALeaderWhoseRequestsHangStepsDownBeforeASuccessorTakesOver) {
  LeaderAndChallenger two;
  ASSERT_TRUE(two.start());
  std::atomic<bool> hang{true};
  two.api.set_fault([&](const std::string&, const std::string&, const std::string& token) {
    if (token != "replica-a") return std::optional<int>();
    // Longer than the lease duration, shorter than the client's request timeout.
    for (int i = 0; i < 280 && hang; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return std::optional<int>(503);
  });
  ASSERT_TRUE(eventually([&] { return two.b.gained >= 1; }, std::chrono::seconds(20)));
  // Wait for replica-a's step-down (late if it only notices when its hung request returns), then
  // check the order of the changes: it stepped down before replica-b took over.
  ASSERT_TRUE(eventually([&] { return two.a.lost >= 1; }));
  EXPECT_EQ(two.transitions.text(), "replica-a+ replica-a- replica-b+")
      << "replica-a still led when replica-b took over";
  hang = false;
  two.b.elector.stop();
  two.a.elector.stop();
}

// A renewal refused with a 4xx and one failing with a 5xx are the same to the election: retried
// until the renew deadline, not a reason to drop leadership (and re-elect) on the first one.
TEST(LeaseElector, FailedRenewalsAre4xxAnd5xxAlikeAndRetriedUntilTheDeadline) {
  for (int code : {403, 422, 500, 503}) {
    SCOPED_TRACE(code);
    FakeKubeApi api;
    Elector a(api, "replica-a");
    a.elector.start();
    ASSERT_TRUE(eventually([&] { return a.elector.leading(); }));
    // The next two renewals fail, then the API answers again.
    std::atomic<int> failures{0};
    api.set_fault([&](const std::string& method, const std::string&, const std::string&) {
      if (method != "PUT" || failures >= 2) return std::optional<int>();
      ++failures;
      return std::optional<int>(code);
    });
    const int puts = api.requests("PUT");
    ASSERT_TRUE(eventually([&] { return failures == 2 && api.requests("PUT") > puts; }));
    EXPECT_TRUE(a.elector.leading());
    EXPECT_EQ(a.lost, 0) << "leadership dropped on a single failed renewal";
    EXPECT_EQ(a.gained, 1);
    // A renewal that keeps failing ends leadership (the deadline passes).
    api.set_fault([&](const std::string& method, const std::string&, const std::string&) {
      return method == "PUT" ? std::optional<int>(code) : std::nullopt;
    });
    ASSERT_TRUE(eventually([&] { return !a.elector.leading(); }, std::chrono::seconds(20)));
    a.elector.stop();
  }
}

TEST(LeaseElector, RenewDeadlineIsBelowTheDuration) {
  wh::LeaseOptions o;
  o.duration = std::chrono::seconds(15);
  EXPECT_EQ(o.effective_renew_deadline(), std::chrono::seconds(10));
  o.renew_deadline = std::chrono::seconds(20);  // not below: ignored
  EXPECT_LT(o.effective_renew_deadline(), std::chrono::seconds(15));
}

}  // namespace
