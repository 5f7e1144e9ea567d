// `exportgate serve` as a real process: flag errors, the embedded default (self-signed
// certificate with the requested SANs, a denial on the sample AdmissionReview), and the SIGTERM
// drain (readiness fails first, the in-flight request finishes, idle keep-alives close, exit 0).
#include <gtest/gtest.h>
#include <signal.h>

#include "exportgate_process.hpp"
#include "server_support.hpp"

namespace eg_test {
namespace {

int run(std::vector<std::string> args, const std::string& stderr_file) {
  return ExportgateProcess(std::move(args), {.stderr_file = stderr_file}).wait();
}

TEST(ServeBinary, FlagErrorsExitTwoWithAClearMessage) {
  TempDir dir;
  const std::string err = dir.file("stderr");
  // Cluster mode outside a pod, or with a kubeconfig that cannot be read: a start-up error.
  EXPECT_EQ(run({"serve", "--in-cluster", "--metrics-listen", ""}, err), 2);
  EXPECT_NE(read_file(err).find("KUBERNETES_SERVICE_HOST"), std::string::npos) << read_file(err);
  EXPECT_EQ(
      run({"serve", "--kubeconfig", dir.file("missing-kubeconfig"), "--metrics-listen", ""}, err),
      2);
  EXPECT_NE(read_file(err).find("missing-kubeconfig"), std::string::npos) << read_file(err);
  EXPECT_EQ(run({"serve", "--ledger-namespace", "x"}, err), 2);
  EXPECT_NE(read_file(err).find("needs cluster mode"), std::string::npos) << read_file(err);
  EXPECT_EQ(run({"serve", "--bogus"}, err), 2);
  EXPECT_NE(read_file(err).find("unknown flag"), std::string::npos);
  EXPECT_EQ(run({"serve", "--threads", "zero"}, err), 2);
  EXPECT_EQ(run({"serve", "--log-level", "loud"}, err), 2);
  EXPECT_EQ(run({"serve", "--tls-cert", "a.crt"}, err), 2);
  EXPECT_EQ(run({"serve", "--tenant-namespace", "ns=XX"}, err), 2);
  EXPECT_EQ(run({"serve", "--policy", dir.file("missing.yaml"), "--listen",
                 "127.0.0.1:" + std::to_string(free_port()), "--metrics-listen", ""},
                err),
            2);
  EXPECT_NE(read_file(err).find("missing.yaml"), std::string::npos) << read_file(err);
  EXPECT_EQ(run({"serve", "--help"}, err), 0);
}

// start() failing (port in use) with a decision log open: the log used to be closed after the
// server, writing through the server's destroyed Logger and counters (use after free; ASan under
// `make sanitize`). It is closed first: exit 2 with the reason, and the log ends in a close record.
TEST(ServeBinary, StartupFailureWithADecisionLogExitsCleanly) {
  TempDir dir;
  const std::string err = dir.file("stderr");
  const std::string log = dir.file("decisions.jsonl");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int busy = ntohs(addr.sin_port);
  EXPECT_EQ(run({"serve", "--listen", "127.0.0.1:" + std::to_string(busy), "--metrics-listen", "",
                 "--decision-log", log},
                err),
            2)
      << read_file(err);
  ::close(fd);
  EXPECT_NE(read_file(err).find("cannot listen"), std::string::npos) << read_file(err);
  EXPECT_NE(read_file(log).find("\"close\""), std::string::npos) << read_file(log);
}

TEST(ServeBinary, EmbeddedDefaultServesSelfSignedAndDeniesTheSample) {
  TempDir dir;
  const int port = free_port();
  const int metrics_port = free_port();
  ExportgateProcess p({"serve", "--listen", "127.0.0.1:" + std::to_string(port), "--metrics-listen",
                       "127.0.0.1:" + std::to_string(metrics_port), "--dns-name",
                       "exportgate.exportgate-system.svc"},
                      {.stderr_file = dir.file("stderr")});
  httplib::SSLClient c("127.0.0.1", port);
  c.enable_server_certificate_verification(false);  // self-signed, like curl -k
  ASSERT_TRUE(eventually([&] {
    auto r = c.Get("/readyz");
    return r && r->status == 200;
  })) << read_file(dir.file("stderr"));
  std::string sample = read_file(std::string(EXPORTGATE_SOURCE_DIR) +
                                 "/manifests/examples/admissionreview-h100-cn.json");
  ASSERT_FALSE(sample.empty());
  auto r = c.Post("/validate", sample, "application/json");
  ASSERT_TRUE(r);
  json out = json::parse(r->body);
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 403);
  EXPECT_NE(metrics_text(metrics_port).find("exportgate_build_info"), std::string::npos);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(), 0);
  std::string log = read_file(dir.file("stderr"));
  EXPECT_NE(log.find("DNS:exportgate.exportgate-system.svc"), std::string::npos) << log;
  EXPECT_NE(log.find("IP:127.0.0.1"), std::string::npos) << log;
  EXPECT_NE(log.find("\"decision_record\""), std::string::npos) << log;
}

TEST(ServeBinary, SigtermDrainsGracefully) {
  TempDir dir;
  const int port = free_port();
  auto args = serve_tls_args(dir, port);
  args.insert(args.end(), {"--shutdown-delay", "2", "--tenant-namespace", "team-us=US"});
  ExportgateProcess p(args, {.stderr_file = dir.file("stderr")});
  auto c = client(port, dir.file("ca.crt"));
  ASSERT_TRUE(eventually([&] {
    auto r = c->Get("/readyz");
    return r && r->status == 200;
  })) << read_file(dir.file("stderr"));

  // An idle keep-alive connection, and a request in flight (body half sent).
  RawTls idle(port, dir.file("ca.crt"));
  ASSERT_TRUE(idle.ok());
  ASSERT_TRUE(idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(idle.read_some().find("200"), std::string::npos);
  std::string body = review("inflight", gpu_pod("team-us", "x", 8), "team-us").dump();
  RawTls inflight(port, dir.file("ca.crt"));
  ASSERT_TRUE(inflight.ok());
  ASSERT_TRUE(inflight.send(http_post_head("/validate", body.size()) + body.substr(0, 10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  p.signal(SIGTERM);
  // Readiness fails first, while the process still answers.
  EXPECT_TRUE(eventually([&] {
    auto fresh = client(port, dir.file("ca.crt"));
    auto r = fresh->Get("/readyz");
    return r && r->status == 503;
  }));
  auto h = client(port, dir.file("ca.crt"))->Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);

  // The in-flight request completes with a real answer.
  ASSERT_TRUE(inflight.send(body.substr(10)));
  std::string response = inflight.read_all();
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  EXPECT_NE(response.find("\"uid\":\"inflight\""), std::string::npos) << response;
  // The idle keep-alive connection is closed by the server, and the process exits cleanly.
  EXPECT_TRUE(idle.closed_by_peer());
  EXPECT_EQ(p.wait(), 0);
  std::string log = read_file(dir.file("stderr"));
  EXPECT_NE(log.find("SIGTERM"), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos) << log;
}

}  // namespace
}  // namespace eg_test
