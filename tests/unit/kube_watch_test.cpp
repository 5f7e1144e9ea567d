// Watch stream decoding (events, bookmarks, 410 Gone), line splitting across chunks, and the
// reconnect backoff; kubeconfig parsing (token, client certificate data, CA file, errors).
#include "webhook/kube_watch.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "webhook/kube_config.hpp"
#include "webhook/lease.hpp"

namespace wh = exportgate::webhook;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(KubeWatch, DecodesEventsAndResourceVersions) {
  auto ev = wh::parse_watch_event(
      R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"p","resourceVersion":"42"}}})");
  EXPECT_EQ(ev.type, wh::WatchEventType::kModified);
  EXPECT_EQ(ev.resource_version, "42");
  EXPECT_EQ(ev.object["metadata"]["name"], "p");
  auto bm = wh::parse_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"99"}}})");
  EXPECT_EQ(bm.type, wh::WatchEventType::kBookmark);
  EXPECT_EQ(bm.resource_version, "99");
}

TEST(KubeWatch, GoneIsAnErrorEventWithCode410) {
  auto ev = wh::parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"}})");
  EXPECT_TRUE(ev.gone());
  auto other = wh::parse_watch_event(R"({"type":"ERROR","object":{"kind":"Status","code":500}})");
  EXPECT_FALSE(other.gone());
}

TEST(KubeWatch, RejectsMalformedEvents) {
  EXPECT_THROW(wh::parse_watch_event("not json"), wh::WatchDecodeError);
  EXPECT_THROW(wh::parse_watch_event(R"({"type":"ADDED"})"), wh::WatchDecodeError);
  EXPECT_THROW(wh::parse_watch_event(R"({"type":"RENAMED","object":{}})"), wh::WatchDecodeError);
}

TEST(KubeWatch, LinesSplitAcrossChunks) {
  wh::LineBuffer b;
  EXPECT_TRUE(b.feed("{\"a\":").empty());
  auto lines = b.feed("1}\n{\"b\":2}\n{\"c\"");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"a\":1}");
  EXPECT_EQ(lines[1], "{\"b\":2}");
  EXPECT_EQ(b.pending(), 4u);
  lines = b.feed(":3}\n\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "{\"c\":3}");
}

TEST(KubeWatch, BackoffGrowsWithJitterUpToTheCapAndResets) {
  wh::Backoff b(100ms, 2000ms, 7);
  auto first = b.next();
  EXPECT_GE(first, 50ms);
  EXPECT_LE(first, 100ms);
  for (int i = 0; i < 10; ++i) {
    auto d = b.next();
    EXPECT_LE(d, 2000ms);
    EXPECT_GE(d, 50ms);
  }
  auto late = b.next();
  EXPECT_GE(late, 1000ms);  // at the cap: [max/2, max]
  b.reset();
  EXPECT_LE(b.next(), 100ms);
}

TEST(Lease, HolderRenewsOthersWaitForADurationUnchanged) {
  const auto t0 = std::chrono::steady_clock::now();
  wh::LeaseRecord r{"a", 4, "2025-01-01T00:00:00.000000Z", 0};
  EXPECT_EQ(wh::decide_lease(r, "a", t0, t0), wh::LeaseAction::kRenew);
  EXPECT_EQ(wh::decide_lease(r, "b", t0, t0 + 3s), wh::LeaseAction::kWait);
  EXPECT_EQ(wh::decide_lease(r, "b", t0, t0 + 5s), wh::LeaseAction::kTakeOver);
  r.holder = "";
  EXPECT_EQ(wh::decide_lease(r, "b", t0, t0), wh::LeaseAction::kTakeOver);
}

namespace {
struct TempFile {
  fs::path dir = fs::temp_directory_path() / ("kc-test-" + std::to_string(::getpid()));
  TempFile() { fs::create_directories(dir); }
  ~TempFile() { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};
}  // namespace

TEST(KubeConfig, TokenAndRelativeCaFile) {
  TempFile tmp;
  tmp.write("ca.crt", "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
  auto kc = tmp.write("config", R"(apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.crt}
users:
- name: u
  user: {token: abc}
contexts:
- name: e2e
  context: {cluster: c, user: u, namespace: ops}
)");
  auto c = wh::load_kubeconfig(kc);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 6443);
  EXPECT_EQ(c.bearer_token(), "abc");
  EXPECT_EQ(c.namespace_, "ops");
  EXPECT_NE(c.ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST(KubeConfig, ClientCertificateDataIsBase64Decoded) {
  TempFile tmp;
  auto kc = tmp.write("config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://[::1]:8443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {client-certificate-data: aGVsbG8=, client-key-data: a2V5}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto c = wh::load_kubeconfig(kc);
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 8443);
  EXPECT_TRUE(c.insecure_skip_verify);
  EXPECT_EQ(c.client_cert_pem, "hello");
  EXPECT_EQ(c.client_key_pem, "key");
}

TEST(KubeConfig, DataThatIsNotBase64IsRefusedNamingTheField) {
  TempFile tmp;
  // Unpadded, and padding inside: a hand-written decoder read both as some bytes.
  for (const char* data : {"aGVsbG8", "aGV=bG8="}) {
    auto kc = tmp.write("config", std::string(R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {client-certificate-data: ")") +
                                      data +
                                      R"(", client-key-data: a2V5}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
    try {
      wh::load_kubeconfig(kc);
      ADD_FAILURE() << data << " was accepted";
    } catch (const wh::KubeConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("client-certificate-data: not valid base64"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(KubeConfig, ClearErrors) {
  TempFile tmp;
  auto exec = tmp.write("exec", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  EXPECT_THROW(wh::load_kubeconfig(exec), wh::KubeConfigError);
  auto nocontext = tmp.write("noctx", "clusters: []\n");
  try {
    wh::load_kubeconfig(nocontext);
    FAIL();
  } catch (const wh::KubeConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("current-context"), std::string::npos);
  }
  EXPECT_THROW(wh::load_kubeconfig(tmp.dir / "missing"), wh::KubeConfigError);
}
