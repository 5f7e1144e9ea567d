// The background audit's pieces that need no API server: Event names and bodies, the violation
// gauge (series that vanish are removed), and the --audit-interval flag.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "policy/audit.hpp"
#include "tests/unit/loopback_http_server.hpp"
#include "webhook/audit_events.hpp"
#include "webhook/audit_loop.hpp"
#include "webhook/command_line.hpp"
#include "webhook/metrics.hpp"
#include "webhook/serve_options.hpp"

namespace exportgate::webhook {
namespace {

policy::AuditFinding finding(std::string name, std::string uid, std::string code) {
  policy::AuditFinding f;
  f.object.api_version = "apps/v1";
  f.object.kind = "Deployment";
  f.object.namespace_ = "acme";
  f.object.name = std::move(name);
  f.object.uid = std::move(uid);
  f.tenant = "acme";
  f.jurisdiction = "CN";
  f.tier = "tier3";
  f.code = std::move(code);
  f.reason = "exportgate: denied 8 x NVIDIA H100 SXM ... CN (Tier 3) ...";
  return f;
}

TEST(AuditEvents, NameIsStablePerObjectAndViolation) {
  const auto a = finding("train", "uid-1", "tier-prohibited");
  EXPECT_EQ(audit_event_name(a), audit_event_name(a));
  EXPECT_TRUE(audit_event_name(a).starts_with("train."));
  EXPECT_EQ(audit_event_name(a).size(), std::string("train.").size() + 16);
  // Another violation of the same object, or another object of the same name (recreated, new
  // uid), is another Event.
  EXPECT_NE(audit_event_name(a), audit_event_name(finding("train", "uid-1", "licence-required")));
  EXPECT_NE(audit_event_name(a), audit_event_name(finding("train", "uid-2", "tier-prohibited")));
  // Long names are cut to fit a DNS subdomain (253).
  EXPECT_LE(audit_event_name(finding(std::string(253, 'a'), "u", "c")).size(), 253u);
}

TEST(AuditEvents, EventNamesTheObjectAndTheReason) {
  const auto f = finding("train", "uid-1", "tier-prohibited");
  const auto e = audit_event(f, "replica-0", SystemTime{});
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "ExportControlViolation");
  EXPECT_EQ(e["reportingComponent"], "exportgate.io/audit");
  EXPECT_EQ(e["reportingInstance"], "replica-0");
  EXPECT_EQ(e["metadata"]["namespace"], "acme");
  EXPECT_EQ(e["metadata"]["name"], audit_event_name(f));
  EXPECT_EQ(e["involvedObject"]["kind"], "Deployment");
  EXPECT_EQ(e["involvedObject"]["uid"], "uid-1");
  EXPECT_EQ(e["message"], f.reason);
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["firstTimestamp"], "1970-01-01T00:00:00Z");
}

// Events in a namespace being deleted are refused with a 403 naming the NamespaceTerminating
// cause: nothing to fix there, so no warning (the e2e suite fails on 403 warnings as a sign of a
// missing RBAC verb); any other 403 is warned and retried next pass.
TEST(AuditEvents, TerminatingNamespaceIsNotWarnedOtherRefusalsAre) {
  exportgate::testing::LoopbackHttpServer api;
  api.server().Post(R"(/api/v1/namespaces/([^/]+)/events)", [](const httplib::Request& req,
                                                               httplib::Response& res) {
    const std::string ns = req.matches[1];
    if (ns == "ok") {
      res.status = 201;
      res.set_content(req.body, "application/json");
    } else if (ns == "going") {
      res.status = 403;
      res.set_content(
          R"({"kind":"Status","code":403,"reason":"Forbidden","message":"events \"x\" is forbidden: unable to create new content in namespace going because it is being terminated","details":{"causes":[{"reason":"NamespaceTerminating","message":"namespace going is being terminated","field":"metadata.namespace"}]}})",
          "application/json");
    } else {
      res.status = 403;
      res.set_content(
          R"({"kind":"Status","code":403,"reason":"Forbidden","message":"events is forbidden: User cannot create resource events"})",
          "application/json");
    }
  });
  api.start();
  KubeClient client(api.kube_config());
  std::ostringstream out;
  Logger log(LogLevel::kInfo, &out);
  AuditEventRecorder recorder(client, "replica-0", log);
  std::vector<policy::AuditFinding> findings;
  for (const char* ns : {"ok", "going", "locked"}) {
    auto f = finding(std::string("train-") + ns, std::string("uid-") + ns, "tier-prohibited");
    f.object.namespace_ = ns;
    f.decision = policy::Verdict::kDeny;
    findings.push_back(f);
  }
  EXPECT_EQ(recorder.record(findings, SystemTime{}), 1);
  const std::string text = out.str();
  EXPECT_EQ(text.find("going"), std::string::npos) << text;
  EXPECT_NE(text.find("locked/train-locked"), std::string::npos) << text;
  EXPECT_NE(text.find("cannot create resource events"), std::string::npos) << text;
}

std::string exposition(const Metrics& m) {
  return prometheus::TextSerializer().Serialize(m.registry()->Collect());
}

TEST(AuditMetrics, ViolationSeriesFollowTheLastPass) {
  policy::AuditReport report;
  report.findings = {finding("a", "1", "tier-prohibited"), finding("b", "2", "tier-prohibited")};
  report.findings.push_back(finding("c", "3", "near-cap"));
  report.findings.back().decision = policy::Verdict::kWarn;  // warnings are not violations
  policy::CapFinding cap;
  cap.scope = "jurisdiction";
  cap.jurisdiction = "IN";
  cap.code = "jurisdiction-cap";
  report.caps.push_back(cap);
  const auto counts = audit_violation_counts(report);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.at({"acme", "CN", "tier-prohibited"}), 2);
  EXPECT_EQ(counts.at({"", "IN", "jurisdiction-cap"}), 1);

  Metrics m;
  m.set_audit_violations(counts);
  std::string text = exposition(m);
  EXPECT_NE(
      text.find(
          R"(exportgate_audit_violations{jurisdiction="CN",reason="tier-prohibited",tenant="acme"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(reason="jurisdiction-cap")"), std::string::npos);
  // The next pass finds only the cap: the tenant's series goes, it does not stay at 2.
  m.set_audit_violations({{{"", "IN", "jurisdiction-cap"}, 1}});
  text = exposition(m);
  EXPECT_EQ(text.find(R"(reason="tier-prohibited")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(reason="jurisdiction-cap")"), std::string::npos);
  m.set_audit_violations({});
  EXPECT_EQ(exposition(m).find("exportgate_audit_violations{"), std::string::npos);
}

TEST(AuditInterval, ParsesDurationsAndNeedsClusterMode) {
  using std::chrono::milliseconds;
  auto interval = [](const std::string& v) {
    return parse_serve_args({"--kubeconfig", "kc", "--audit-interval", v})
        .options.cluster.audit_interval;
  };
  EXPECT_EQ(parse_serve_args({"--kubeconfig", "kc"}).options.cluster.audit_interval,
            milliseconds(300'000));
  EXPECT_EQ(interval("30s"), milliseconds(30'000));
  EXPECT_EQ(interval("5m"), milliseconds(300'000));
  EXPECT_EQ(interval("1h"), milliseconds(3'600'000));
  EXPECT_EQ(interval("90"), milliseconds(90'000));
  EXPECT_EQ(interval("0"), milliseconds(0));
  for (const char* bad : {"", "m", "-1s", "5d", "0.5s", "25h", "1x"}) {
    EXPECT_THROW(interval(bad), cli::UsageError) << bad;
  }
  EXPECT_THROW(parse_serve_args({"--audit-interval", "1m"}), cli::UsageError);  // no cluster mode
}

// The flags the Kueue e2e (tests/e2e/suite/kueue_test.go) starts a replica with: they must parse
// into the options the AdmissionCheck controller reads, and need cluster mode (the controller
// runs on the Lease holder).
TEST(KueueFlags, ParseIntoTheControllerOptionsAndNeedClusterMode) {
  using std::chrono::milliseconds;
  const auto off = parse_serve_args({"--kubeconfig", "kc"}).options.cluster;
  EXPECT_FALSE(off.kueue_admission_check);
  EXPECT_EQ(off.kueue_interval, milliseconds(5'000));
  const auto on =
      parse_serve_args({"--kubeconfig", "kc", "--kueue-admission-check", "--kueue-interval", "1"})
          .options.cluster;
  EXPECT_TRUE(on.kueue_admission_check);
  EXPECT_EQ(on.kueue_interval, milliseconds(1'000));
  EXPECT_EQ(parse_serve_args({"--kubeconfig", "kc", "--kueue-interval", "0.5"})
                .options.cluster.kueue_interval,
            milliseconds(500));
  for (const char* bad : {"", "0", "0.01", "3601", "x"}) {
    EXPECT_THROW(parse_serve_args({"--kubeconfig", "kc", "--kueue-interval", bad}), cli::UsageError)
        << bad;
  }
  EXPECT_THROW(parse_serve_args({"--kueue-admission-check"}), cli::UsageError);
}

}  // namespace
}  // namespace exportgate::webhook
