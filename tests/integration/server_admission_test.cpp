// The AdmissionReview protocol over real TLS on loopback: uid echo, denials with 403 and a
// readable message, warnings, audit annotations, the /mutate JSON Patch, operations, dryRun,
// the namespace label guard, the usage ledger, health endpoints and metrics.
#include <gtest/gtest.h>

#include "server_support.hpp"
#include "webhook/admission_codec.hpp"

namespace eg_test {
namespace {

std::string base64_decode(const std::string& in) {
  std::string out(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!in.empty() && in.back() == '=' && !out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override { start(test_policy()); }
  void TearDown() override {
    if (server) server->shutdown();
  }

  void start(const std::string& policy_text) {
    write_file(dir.file("policy.yaml"), policy_text);
    auto o = test_options(dir, pki);
    o.policy.file = dir.file("policy.yaml");
    server = std::make_unique<wh::Server>(o);
    server->start();
    c = client(server->port(), dir.file("ca.crt"));
  }

  json call(const std::string& path, const json& body) {
    auto r = post_review(*c, path, body);
    EXPECT_TRUE(r) << "HTTP error " << httplib::to_string(r.error());
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return json::parse(r->body);
  }

  TempDir dir;
  Pki pki;
  std::unique_ptr<wh::Server> server;
  std::unique_ptr<httplib::SSLClient> c;
};

TEST_F(AdmissionTest, AllowEchoesVersionKindAndUid) {
  auto out = call("/validate", review("uid-allow-1", cpu_pod("team-sg", "web"), "team-sg"));
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  EXPECT_EQ(out["response"]["uid"], "uid-allow-1");
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_FALSE(out["response"].contains("status"));
}

TEST_F(AdmissionTest, Tier3DenialCarries403AndReadableMessage) {
  auto out = call("/validate", review("uid-cn", gpu_pod("team-cn", "train", 8), "team-cn"));
  const auto& r = out["response"];
  EXPECT_EQ(r["uid"], "uid-cn");
  EXPECT_EQ(r["allowed"], false);
  EXPECT_EQ(r["status"]["code"], 403);
  std::string msg = r["status"]["message"];
  EXPECT_NE(msg.find("H100"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CN"), std::string::npos) << msg;
  EXPECT_NE(msg.find("126,656"), std::string::npos) << msg;
  EXPECT_EQ(r["auditAnnotations"]["tenant"], "team-cn");
  EXPECT_EQ(r["auditAnnotations"]["jurisdiction"], "CN");
  EXPECT_EQ(r["auditAnnotations"]["tier"], "tier3");
  EXPECT_EQ(r["auditAnnotations"]["tpp"], "126656");
  EXPECT_EQ(r["auditAnnotations"]["decision"], "deny");
}

TEST_F(AdmissionTest, UnknownNamespaceIsDeniedForControlledAccelerators) {
  auto out = call("/validate", review("u1", gpu_pod("nobody", "train", 1), "nobody"));
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["auditAnnotations"]["jurisdiction"], "unknown");
  std::string msg = out["response"]["status"]["message"];
  EXPECT_NE(msg.find("jurisdiction unknown"), std::string::npos) << msg;
}

TEST_F(AdmissionTest, CapIsEnforcedAcrossPodsWithNearCapWarning) {
  // Tier-2 tenant cap 260,000 TPP; one pod of 8 H100 is 126,656.
  auto first = call("/validate", review("p1", gpu_pod("team-sg", "a", 8), "team-sg"));
  EXPECT_EQ(first["response"]["allowed"], true);
  EXPECT_FALSE(first["response"].contains("warnings"));
  auto second = call("/validate", review("p2", gpu_pod("team-sg", "b", 8), "team-sg"));
  EXPECT_EQ(second["response"]["allowed"], true);
  ASSERT_TRUE(second["response"].contains("warnings")) << second.dump();
  for (const auto& w : second["response"]["warnings"]) {
    EXPECT_LE(w.get<std::string>().size(), 256u);
  }
  auto third = call("/validate", review("p3", gpu_pod("team-sg", "c", 8), "team-sg"));
  EXPECT_EQ(third["response"]["allowed"], false);
  std::string msg = third["response"]["status"]["message"];
  EXPECT_NE(msg.find("cap"), std::string::npos) << msg;

  // Deleting a pod releases its usage, so the next one fits again.
  ReviewOptions del;
  del.operation = "DELETE";
  del.old_object = gpu_pod("team-sg", "a", 8);
  auto d = call("/validate", review("p4", nullptr, "team-sg", del));
  EXPECT_EQ(d["response"]["allowed"], true);
  auto fourth = call("/validate", review("p5", gpu_pod("team-sg", "d", 8), "team-sg"));
  EXPECT_EQ(fourth["response"]["allowed"], true);

  std::string m = metrics_text(server->metrics_port());
  EXPECT_NE(m.find("exportgate_tpp_in_use{name=\"team-sg\",scope=\"tenant\"} 253312"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("exportgate_tpp_limit{name=\"team-sg\",scope=\"tenant\"} 260000"),
            std::string::npos)
      << m;
}

// Issue 13: a forged Pod DELETE review without the pod (oldObject), sent straight to the port,
// released a reservation; so did one carrying some other pod.
TEST_F(AdmissionTest, ForgedDeleteWithoutThePodReleasesNothing) {
  ASSERT_EQ(
      call("/validate", review("f1", gpu_pod("team-sg", "a", 8), "team-sg"))["response"]["allowed"],
      true);
  ASSERT_EQ(
      call("/validate", review("f2", gpu_pod("team-sg", "b", 8), "team-sg"))["response"]["allowed"],
      true);
  ReviewOptions del;
  del.operation = "DELETE";
  del.kind = "Pod";
  json bare = review("f3", nullptr, "team-sg", del);
  bare["request"]["name"] = "a";
  EXPECT_EQ(call("/validate", bare)["response"]["allowed"], true);
  ReviewOptions other;
  other.operation = "DELETE";
  other.old_object = gpu_pod("team-sg", "someone-else", 8);
  json wrong = review("f4", nullptr, "team-sg", other);
  wrong["request"]["name"] = "a";
  EXPECT_EQ(call("/validate", wrong)["response"]["allowed"], true);
  // Still full: a third pod does not fit.
  EXPECT_EQ(
      call("/validate", review("f5", gpu_pod("team-sg", "c", 8), "team-sg"))["response"]["allowed"],
      false);
  // Re-submitting a's name with one GPU does not shrink its reservation either.
  call("/validate", review("f6", gpu_pod("team-sg", "a", 1), "team-sg"));
  EXPECT_EQ(
      call("/validate", review("f7", gpu_pod("team-sg", "c", 8), "team-sg"))["response"]["allowed"],
      false);
}

// Issue 13: the kind label came from the request body, so a client could add series without
// bound; so could made-up namespaces through the tenant gauge.
TEST_F(AdmissionTest, MetricLabelsStayInABoundedSet) {
  for (int i = 0; i < 20; ++i) {
    json pod = gpu_pod("made-up-" + std::to_string(i), "x", 1);
    ReviewOptions o;
    o.kind = "Kind" + std::to_string(i);
    call("/validate", review("k" + std::to_string(i), pod, "made-up-" + std::to_string(i), o));
    call("/validate", review("n" + std::to_string(i), pod, "made-up-" + std::to_string(i)));
  }
  std::string m = metrics_text(server->metrics_port());
  EXPECT_EQ(m.find("Kind1"), std::string::npos) << m;
  EXPECT_EQ(m.find("made-up-"), std::string::npos) << m;
  EXPECT_NE(m.find("kind=\"other\""), std::string::npos) << m;
  EXPECT_NE(m.find("kind=\"Pod\""), std::string::npos) << m;
}

TEST_F(AdmissionTest, DryRunReservesNothing) {
  ReviewOptions dry;
  dry.dry_run = true;
  for (int i = 0; i < 3; ++i) {
    auto out = call("/validate",
                    review("dry" + std::to_string(i), gpu_pod("team-sg", "x", 8), "team-sg", dry));
    EXPECT_EQ(out["response"]["allowed"], true) << out.dump();
  }
  // Nothing was reserved: two real pods still fit.
  EXPECT_EQ(
      call("/validate", review("r1", gpu_pod("team-sg", "a", 8), "team-sg"))["response"]["allowed"],
      true);
  EXPECT_EQ(
      call("/validate", review("r2", gpu_pod("team-sg", "b", 8), "team-sg"))["response"]["allowed"],
      true);
}

TEST_F(AdmissionTest, WorkloadsGetTheEarlyCheckButReserveNothing) {
  ReviewOptions apps;
  apps.group = "apps";
  auto denied =
      call("/validate", review("d1", gpu_deployment("team-sg", "big", 3, 8), "team-sg", apps));
  EXPECT_EQ(denied["response"]["allowed"], false) << denied.dump();
  auto ok = call("/validate", review("d2", gpu_deployment("team-sg", "ok", 2, 8), "team-sg", apps));
  EXPECT_EQ(ok["response"]["allowed"], true) << ok.dump();
  // The Deployment reserved nothing: its two pods are admitted.
  EXPECT_EQ(call("/validate",
                 review("p1", gpu_pod("team-sg", "ok-1", 8), "team-sg"))["response"]["allowed"],
            true);
  EXPECT_EQ(call("/validate",
                 review("p2", gpu_pod("team-sg", "ok-2", 8), "team-sg"))["response"]["allowed"],
            true);
}

TEST_F(AdmissionTest, ScaleDeleteAndConnectAreAllowedUntouched) {
  ReviewOptions scale;
  scale.group = "autoscaling";
  scale.kind = "Scale";
  scale.resource = "deployments";
  scale.sub_resource = "scale";
  scale.operation = "UPDATE";
  json scale_obj = {{"apiVersion", "autoscaling/v1"},
                    {"kind", "Scale"},
                    {"metadata", {{"name", "big"}, {"namespace", "team-cn"}}},
                    {"spec", {{"replicas", 100}}}};
  auto s = call("/validate", review("s1", scale_obj, "team-cn", scale));
  EXPECT_EQ(s["response"]["allowed"], true);

  ReviewOptions del;
  del.operation = "DELETE";
  del.old_object = gpu_pod("team-cn", "x", 8);
  EXPECT_EQ(call("/validate", review("del", nullptr, "team-cn", del))["response"]["allowed"], true);
  ReviewOptions connect;
  connect.operation = "CONNECT";
  connect.kind = "PodExecOptions";
  connect.sub_resource = "exec";
  json exec = {{"apiVersion", "v1"}, {"kind", "PodExecOptions"}, {"command", {"sh"}}};
  EXPECT_EQ(call("/validate", review("con", exec, "team-cn", connect))["response"]["allowed"],
            true);
  auto m = call("/mutate", review("del-m", nullptr, "team-cn", del));
  EXPECT_EQ(m["response"]["allowed"], true);
  EXPECT_FALSE(m["response"].contains("patch"));
}

TEST_F(AdmissionTest, MutateAddsAnnotationsAsBase64JsonPatchAndIsIdempotent) {
  json pod = gpu_pod("team-us", "train", 8);
  auto out = call("/mutate", review("m1", pod, "team-us"));
  const auto& r = out["response"];
  EXPECT_EQ(r["uid"], "m1");
  EXPECT_EQ(r["allowed"], true);
  ASSERT_EQ(r["patchType"], "JSONPatch") << out.dump();
  json patch = json::parse(base64_decode(r["patch"]));
  ASSERT_TRUE(patch.is_array());
  // No annotations yet: one op creates the map; keys are plain in the value.
  json patched = pod.patch(patch);
  const auto& ann = patched["metadata"]["annotations"];
  EXPECT_EQ(ann["exportgate.io/tpp"], "126656");
  EXPECT_EQ(ann["exportgate.io/export-class"], "3A090.a");
  EXPECT_FALSE(ann["exportgate.io/accelerator-model"].get<std::string>().empty());

  // With other annotations present, keys are added one by one with "/" escaped as "~1".
  json pod2 = pod;
  pod2["metadata"]["annotations"] = {{"team", "ml"}};
  auto out2 = call("/mutate", review("m2", pod2, "team-us"));
  std::string p2 = base64_decode(out2["response"]["patch"]);
  EXPECT_NE(p2.find("/metadata/annotations/exportgate.io~1tpp"), std::string::npos) << p2;
  EXPECT_EQ(pod2.patch(json::parse(p2))["metadata"]["annotations"]["team"], "ml");

  // Reinvocation on the patched object: no patch at all.
  auto again = call("/mutate", review("m3", patched, "team-us"));
  EXPECT_EQ(again["response"]["allowed"], true);
  EXPECT_FALSE(again["response"].contains("patch")) << again.dump();
  EXPECT_FALSE(again["response"].contains("patchType")) << again.dump();

  // Objects without accelerators are not annotated.
  auto cpu = call("/mutate", review("m4", cpu_pod("team-us", "web"), "team-us"));
  EXPECT_FALSE(cpu["response"].contains("patch"));
}

TEST_F(AdmissionTest, NamespaceLabelChangesNeedAnAdmin) {
  json before = {{"apiVersion", "v1"},
                 {"kind", "Namespace"},
                 {"metadata", {{"name", "team-x"}, {"labels", {{"team", "x"}}}}}};
  json after = before;
  after["metadata"]["labels"]["exportgate.io/jurisdiction"] = "US";
  ReviewOptions upd;
  upd.operation = "UPDATE";
  upd.old_object = before;
  upd.user = "mallory";
  upd.groups = {"developers"};
  auto denied = call("/validate", review("n1", after, "", upd));
  EXPECT_EQ(denied["response"]["allowed"], false);
  EXPECT_EQ(denied["response"]["status"]["code"], 403);
  std::string msg = denied["response"]["status"]["message"];
  EXPECT_NE(msg.find("exportgate.io/jurisdiction"), std::string::npos) << msg;

  upd.groups = {"developers", "platform-admins"};
  EXPECT_EQ(call("/validate", review("n2", after, "", upd))["response"]["allowed"], true);
  upd.user = "admin@example.com";
  upd.groups = {};
  EXPECT_EQ(call("/validate", review("n3", after, "", upd))["response"]["allowed"], true);

  // Removing the label is a change too; other label changes are anyone's.
  ReviewOptions removal;
  removal.operation = "UPDATE";
  removal.old_object = after;
  removal.user = "mallory";
  EXPECT_EQ(call("/validate", review("n4", before, "", removal))["response"]["allowed"], false);
  json relabel = after;
  relabel["metadata"]["labels"]["team"] = "y";
  EXPECT_EQ(call("/validate", review("n5", relabel, "", removal))["response"]["allowed"], true);

  ReviewOptions create;
  create.user = "mallory";
  EXPECT_EQ(call("/validate", review("n6", after, "", create))["response"]["allowed"], false);
  EXPECT_EQ(call("/validate", review("n7", before, "", create))["response"]["allowed"], true);
}

TEST_F(AdmissionTest, HealthReadinessAndMetrics) {
  auto h = c->Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = c->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto unknown = c->Get("/nope");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  call("/validate", review("m-cn", gpu_pod("team-cn", "x", 8), "team-cn"));
  std::string m = metrics_text(server->metrics_port());
  EXPECT_NE(m.find("exportgate_admission_requests_total{decision=\"deny\",endpoint=\"validate\","
                   "jurisdiction=\"CN\",kind=\"Pod\",operation=\"CREATE\",reason=\"jurisdiction\","
                   "tier=\"tier3\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(
      m.find("exportgate_admission_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0001\"}"),
      std::string::npos);
  EXPECT_NE(m.find("le=\"10\""), std::string::npos);
  EXPECT_NE(m.find("exportgate_policy_info{hash="), std::string::npos);
  EXPECT_NE(m.find("name=\"server-test\""), std::string::npos);
  EXPECT_NE(m.find("exportgate_policy_last_reload_success 1"), std::string::npos);
  EXPECT_NE(m.find("exportgate_tls_certificate_expiry_timestamp_seconds"), std::string::npos);
  EXPECT_NE(m.find("exportgate_build_info{version="), std::string::npos);
  EXPECT_NE(m.find("exportgate_policy_reloads_total{result=\"failure\"} 0"), std::string::npos);
}

// Issue 13: standalone mode says at start what a caller who reaches the port can do, and what
// closes it; with --client-ca it has nothing to say.
TEST(AdmissionStartup, StandaloneWithoutClientCaWarnsWhatACallerCanDo) {
  TempDir dir;
  Pki pki;
  std::ostringstream open_log;  // read only after shutdown
  {
    auto o = test_options(dir, pki);
    o.log_stream = &open_log;
    wh::Server server(o);
    server.start();
    server.shutdown();
  }
  const std::string text = open_log.str();
  EXPECT_NE(text.find("\"level\":\"warn\""), std::string::npos) << text;
  EXPECT_NE(text.find("release a pod's reservation"), std::string::npos) << text;
  EXPECT_NE(text.find("--client-ca"), std::string::npos) << text;

  Pki client_pki("client CA");
  write_file(dir.file("client-ca.crt"), client_pki.ca_pem());
  std::ostringstream closed_log;
  {
    auto o = test_options(dir, pki);
    o.client_ca = dir.file("client-ca.crt");
    o.log_stream = &closed_log;
    wh::Server server(o);
    server.start();
    server.shutdown();
  }
  EXPECT_EQ(closed_log.str().find("without --client-ca"), std::string::npos) << closed_log.str();
}

TEST(AdmissionModes, WarnModeAdmitsWithWarningsAndEarlyCheckCanBeOff) {
  TempDir dir;
  Pki pki;
  write_file(dir.file("policy.yaml"),
             test_policy("warn-test", "  mode: warn\n  workloadEarlyCheck: false\n"));
  auto o = test_options(dir, pki);
  o.policy.file = dir.file("policy.yaml");
  wh::Server server(o);
  server.start();
  auto c = client(server.port(), dir.file("ca.crt"));

  auto r = post_review(*c, "/validate", review("w1", gpu_pod("team-cn", "x", 8), "team-cn"));
  ASSERT_TRUE(r);
  json out = json::parse(r->body);
  EXPECT_EQ(out["response"]["allowed"], true);
  ASSERT_TRUE(out["response"].contains("warnings")) << out.dump();
  EXPECT_EQ(out["response"]["auditAnnotations"]["decision"], "warn");

  ReviewOptions apps;
  apps.group = "apps";
  auto d = post_review(*c, "/validate",
                       review("w2", gpu_deployment("team-cn", "d", 4, 8), "team-cn", apps));
  ASSERT_TRUE(d);
  json dout = json::parse(d->body);
  EXPECT_EQ(dout["response"]["allowed"], true);
  EXPECT_FALSE(dout["response"].contains("warnings")) << dout.dump();  // not evaluated
  server.shutdown();
}

}  // namespace
}  // namespace eg_test
