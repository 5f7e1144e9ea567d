// Hot reload over real TLS: a rotated certificate is served to new handshakes without
// restarting the listener or dropping open connections; a changed policy (also through a
// ConfigMap-style symlink swap) takes effect; a broken policy keeps the last good one and says
// so in the log and metrics. Also client-certificate verification and the TLS version floor.
#include <gtest/gtest.h>

#include "server_support.hpp"

namespace eg_test {
namespace {

std::string peer_cert_pem(int port) {
  wh::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  std::string pem;
  with_tls_session(port, ctx.get(), [&](SSL* ssl) {
    wh::X509Ptr cert(SSL_get1_peer_certificate(ssl));
    if (cert) pem = wh::to_pem(cert.get());
  });
  return pem;
}

TEST(ReloadTest, RotatedCertificateIsServedWithoutDroppingConnections) {
  TempDir dir;
  Pki pki;
  LogCapture log;
  auto o = test_options(dir, pki);
  o.log_stream = &log;
  wh::Server server(o);
  server.start();
  const std::string first = peer_cert_pem(server.port());
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first, read_file(dir.file("tls.crt")));

  // An open keep-alive connection...
  auto c = client(server.port(), dir.file("ca.crt"));
  c->set_keep_alive(true);
  auto r1 = c->Get("/healthz");
  ASSERT_TRUE(r1);

  // ...survives the rotation (new key and certificate written as a Secret volume would).
  auto [cert, key] = pki.issue("exportgate-server-rotated");
  replace_file(dir.file("tls.key"), key);
  replace_file(dir.file("tls.crt"), cert);
  // Captured by name: clang 14 (the fuzz/sanitizer build) cannot capture structured bindings.
  EXPECT_TRUE(eventually([&, &cert = cert] { return peer_cert_pem(server.port()) == cert; }));
  auto r2 = c->Get("/healthz");
  ASSERT_TRUE(r2) << httplib::to_string(r2.error());
  EXPECT_EQ(r2->status, 200);

  // A broken pair (key of another certificate) is refused; the rotated one keeps serving. (The
  // rotation above may have logged a refusal of its own, between its two files.)
  const std::string refused = "certificate reload failed; the previous certificate keeps serving";
  const size_t refusals = log.count(refused);
  auto [cert3, key3] = pki.issue("third");
  replace_file(dir.file("tls.crt"), cert3);  // key file still holds the previous key
  ASSERT_TRUE(eventually([&] { return log.count(refused) > refusals; })) << log.text();
  EXPECT_NE(log.text().find("key does not match"), std::string::npos) << log.text();
  EXPECT_EQ(peer_cert_pem(server.port()), cert);
  std::string m = metrics_text(server.metrics_port());
  EXPECT_NE(m.find("exportgate_tls_certificate_expiry_timestamp_seconds"), std::string::npos);
  server.shutdown();
}

TEST(ReloadTest, PolicyReloadAppliesAndABrokenPolicyKeepsTheLastGoodOne) {
  TempDir dir;
  Pki pki;
  LogCapture log;
  write_file(dir.file("policy.yaml"), test_policy("v1"));
  auto o = test_options(dir, pki);
  o.policy.file = dir.file("policy.yaml");
  o.log_stream = &log;
  wh::Server server(o);
  server.start();
  auto c = client(server.port(), dir.file("ca.crt"));
  auto decide = [&](const std::string& ns) {
    auto r = post_review(*c, "/validate", review("u", gpu_pod(ns, "x", 8), ns));
    return r ? json::parse(r->body)["response"]["allowed"].get<bool>() : false;
  };
  EXPECT_FALSE(decide("team-new"));  // unknown namespace: denied

  // v2 adds a Tier-1 tenant for team-new.
  std::string v2 = test_policy("v2");
  auto pos = v2.find("  admins:");
  v2.insert(pos, "    - {name: team-new, jurisdiction: US, namespaces: [team-new]}\n");
  replace_file(dir.file("policy.yaml"), v2);
  EXPECT_TRUE(eventually([&] {
    return metrics_text(server.metrics_port()).find("name=\"v2\"") != std::string::npos;
  }));
  EXPECT_TRUE(decide("team-new"));

  // A broken policy: reload fails, v2 keeps serving, metrics say so.
  replace_file(dir.file("policy.yaml"),
               "apiVersion: exportgate.io/v1alpha1\nkind: Policy\n"
               "metadata: {name: broken}\nspec:\n  mode: sideways\n");
  EXPECT_TRUE(eventually([&] {
    return metrics_text(server.metrics_port()).find("exportgate_policy_last_reload_success 0") !=
           std::string::npos;
  }));
  std::string m = metrics_text(server.metrics_port());
  EXPECT_NE(m.find("exportgate_policy_reloads_total{result=\"failure\"} 1"), std::string::npos)
      << m;
  EXPECT_NE(m.find("name=\"v2\""), std::string::npos);
  EXPECT_TRUE(decide("team-new"));
  auto ready = c->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  server.shutdown();
  std::string text = log.text();
  EXPECT_NE(text.find("policy reload failed; the last good policy keeps serving"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sideways"), std::string::npos) << text;
}

TEST(ReloadTest, PolicyReloadFollowsAConfigMapSymlinkSwap) {
  TempDir dir;
  Pki pki;
  // Kubernetes volume layout: policy.yaml -> ..data/policy.yaml, ..data -> ..v1
  fs::create_directories(dir.path() / "..v1");
  fs::create_directories(dir.path() / "..v2");
  write_file((dir.path() / "..v1" / "policy.yaml").string(), test_policy("cm-v1"));
  write_file((dir.path() / "..v2" / "policy.yaml").string(), test_policy("cm-v2"));
  fs::create_directory_symlink("..v1", dir.path() / "..data");
  fs::create_symlink("..data/policy.yaml", dir.path() / "policy.yaml");

  auto o = test_options(dir, pki);
  o.policy.file = dir.file("policy.yaml");
  wh::Server server(o);
  server.start();
  EXPECT_NE(metrics_text(server.metrics_port()).find("name=\"cm-v1\""), std::string::npos);
  // The atomic swap the kubelet does: new symlink, renamed over ..data.
  fs::create_directory_symlink("..v2", dir.path() / "..data_tmp");
  fs::rename(dir.path() / "..data_tmp", dir.path() / "..data");
  EXPECT_TRUE(eventually([&] {
    return metrics_text(server.metrics_port()).find("name=\"cm-v2\"") != std::string::npos;
  }));
  server.shutdown();
}

// A change between the policy's first load (the constructor) and the watcher's start is reloaded,
// not missed: the watcher compares with the file as it was before the load. (The watcher used to
// take its first look on its own thread, so a change made before that thread ran was never seen.)
TEST(ReloadTest, PolicyChangedBeforeTheWatcherStartsIsReloaded) {
  TempDir dir;
  Pki pki;
  write_file(dir.file("policy.yaml"), test_policy("early-v1"));
  auto o = test_options(dir, pki);
  o.policy.file = dir.file("policy.yaml");
  wh::Server server(o);
  replace_file(dir.file("policy.yaml"), test_policy("early-v2"));
  server.start();
  EXPECT_TRUE(eventually([&] {
    return metrics_text(server.metrics_port()).find("name=\"early-v2\"") != std::string::npos;
  }));
  server.shutdown();
}

TEST(TlsTest, ClientCertificatesAreRequiredWithClientCa) {
  TempDir dir;
  Pki pki;
  Pki client_pki("apiserver client CA");
  write_file(dir.file("client-ca.crt"), client_pki.ca_pem());
  auto [ccert, ckey] = client_pki.issue("kube-apiserver", /*client=*/true, {});
  write_file(dir.file("client.crt"), ccert);
  write_file(dir.file("client.key"), ckey);
  auto [bad_cert, bad_key] = pki.issue("stranger", /*client=*/true, {});
  write_file(dir.file("stranger.crt"), bad_cert);
  write_file(dir.file("stranger.key"), bad_key);

  auto o = test_options(dir, pki);
  o.client_ca = dir.file("client-ca.crt");
  wh::Server server(o);
  server.start();

  auto anonymous = client(server.port(), dir.file("ca.crt"));
  EXPECT_FALSE(anonymous->Get("/healthz"));

  httplib::SSLClient stranger("127.0.0.1", server.port(), dir.file("stranger.crt"),
                              dir.file("stranger.key"));
  stranger.set_ca_cert_path(dir.file("ca.crt").c_str());
  EXPECT_FALSE(stranger.Get("/healthz"));

  httplib::SSLClient apiserver("127.0.0.1", server.port(), dir.file("client.crt"),
                               dir.file("client.key"));
  apiserver.set_ca_cert_path(dir.file("ca.crt").c_str());
  auto r = apiserver.Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  server.shutdown();
}

TEST(TlsTest, OnlyTls12AndTls13AreAccepted) {
  TempDir dir;
  Pki pki;
  wh::Server server(test_options(dir, pki));
  server.start();
  auto handshake = [&](int version) { return tls_handshake(server.port(), version); };
  EXPECT_TRUE(handshake(TLS1_3_VERSION));
  EXPECT_TRUE(handshake(TLS1_2_VERSION));
  EXPECT_FALSE(handshake(TLS1_1_VERSION));
  server.shutdown();
}

}  // namespace
}  // namespace eg_test
