// Bad and hostile input over real TLS: each malformed request gets the right status while the
// server keeps serving others; bodies are capped; stalled clients are cut off; 256 concurrent
// keep-alive connections are all served.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "server_support.hpp"

namespace eg_test {
namespace {

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir.file("policy.yaml"), test_policy());
    auto o = test_options(dir, pki);
    o.policy.file = dir.file("policy.yaml");
    o.read_timeout = std::chrono::milliseconds(500);
    o.request_timeout = std::chrono::milliseconds(2000);
    server = std::make_unique<wh::Server>(o);
    server->start();
  }
  void TearDown() override { server->shutdown(); }

  // A good request on a fresh connection succeeds.
  void expect_serving() {
    auto c = client(server->port(), dir.file("ca.crt"));
    auto r = post_review(*c, "/validate", review("ok", cpu_pod("team-us", "web"), "team-us"));
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
  }

  TempDir dir;
  Pki pki;
  std::unique_ptr<wh::Server> server;
};

struct BadInput {
  std::string name;
  std::string method;
  std::string path;
  std::string content_type;
  std::string body;
  int status;
  std::string message_part;
};

TEST_F(LimitsTest, BadInputsGetClearErrorsAndTheServerKeepsServing) {
  json good = review("u1", cpu_pod("team-us", "web"), "team-us");
  json wrong_version = good;
  wrong_version["apiVersion"] = "admission.k8s.io/v1beta1";
  json wrong_kind = good;
  wrong_kind["kind"] = "Pod";
  json no_request = good;
  no_request.erase("request");
  json no_uid = good;
  no_uid["request"].erase("uid");
  json bad_op = good;
  bad_op["request"]["operation"] = "PATCH";
  json no_object = good;
  no_object["request"]["object"] = nullptr;

  const std::vector<BadInput> cases = {
      {"malformed JSON", "POST", "/validate", "application/json", "{\"apiVersion\": ", 400,
       "not valid JSON"},
      {"not an object", "POST", "/validate", "application/json", "[1,2]", 400, "JSON object"},
      {"wrong apiVersion", "POST", "/validate", "application/json", wrong_version.dump(), 400,
       "admission.k8s.io/v1beta1"},
      {"wrong kind", "POST", "/mutate", "application/json", wrong_kind.dump(), 400,
       "AdmissionReview"},
      {"no request", "POST", "/validate", "application/json", no_request.dump(), 400, "no request"},
      {"no uid", "POST", "/validate", "application/json", no_uid.dump(), 400, "uid"},
      {"bad operation", "POST", "/validate", "application/json", bad_op.dump(), 400, "operation"},
      {"no object", "POST", "/validate", "application/json", no_object.dump(), 400, "object"},
      {"wrong content type", "POST", "/validate", "text/plain", good.dump(), 415, "Content-Type"},
      {"wrong method", "GET", "/validate", "", "", 405, "POST"},
      {"wrong method PUT", "PUT", "/mutate", "application/json", good.dump(), 405, "POST"},
  };
  auto c = client(server->port(), dir.file("ca.crt"));
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    httplib::Result r = tc.method == "GET" ? c->Get(tc.path.c_str())
                        : tc.method == "PUT"
                            ? c->Put(tc.path.c_str(), tc.body, tc.content_type.c_str())
                            : c->Post(tc.path.c_str(), tc.body, tc.content_type.c_str());
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, tc.status) << r->body;
    json body = json::parse(r->body);
    EXPECT_EQ(body["code"], tc.status);
    EXPECT_NE(body["message"].get<std::string>().find(tc.message_part), std::string::npos)
        << body.dump();
    // The same keep-alive connection still serves a good request.
    auto ok = post_review(*c, "/validate", good);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
  }
  std::string m = metrics_text(server->metrics_port());
  EXPECT_NE(m.find("decision=\"error\""), std::string::npos);
}

TEST_F(LimitsTest, OversizedBodyGets413) {
  std::string big = "{\"apiVersion\":\"admission.k8s.io/v1\",\"pad\":\"" +
                    std::string(4 * 1024 * 1024, 'x') + "\"}";
  auto c = client(server->port(), dir.file("ca.crt"));
  auto r = c->Post("/validate", big, "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("exceeds"), std::string::npos) << r->body;
  expect_serving();
}

TEST_F(LimitsTest, OversizedChunkedBodyGets413AndTheConnectionCloses) {
  RawTls raw(server->port(), dir.file("ca.crt"));
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(
      raw.send("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"));
  std::string chunk(64 * 1024, 'x');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  std::string response;
  for (int i = 0; i < 60 && response.empty(); ++i) {  // 60 x 64 KiB > 3 MiB
    if (!raw.send(size_line + chunk + "\r\n")) break;
  }
  response = raw.read_some();
  EXPECT_NE(response.find("413"), std::string::npos) << response.substr(0, 200);
  expect_serving();
}

TEST_F(LimitsTest, ClientStallingMidBodyIsCutOffWhileOthersAreServed) {
  json good = review("stall", cpu_pod("team-us", "web"), "team-us");
  std::string body = good.dump();
  RawTls raw(server->port(), dir.file("ca.crt"));
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw.send(http_post_head("/validate", body.size()) + body.substr(0, 20)));
  // While it stalls, others are served.
  expect_serving();
  // The server gives up on the stalled body (read timeout) and answers 400, then closes.
  // read_all returns only once the server has closed the connection.
  std::string response = raw.read_all();
  EXPECT_NE(response.find("HTTP/1.1 400"), std::string::npos) << response;
  EXPECT_NE(response.find("incomplete"), std::string::npos) << response;
  expect_serving();
}

TEST_F(LimitsTest, ClientTricklingHeadersIsCutOff) {
  // Idle connections close after 1 s here, so a connection still not done with its headers
  // after keep-alive + request timeout (3 s) is a trickling client.
  TempDir dir2;
  auto o = test_options(dir2, pki);
  o.keep_alive_timeout_seconds = 1;
  o.request_timeout = std::chrono::milliseconds(2000);
  o.read_timeout = std::chrono::milliseconds(1000);
  wh::Server slow_server(o);
  slow_server.start();
  RawTls raw(slow_server.port(), dir2.file("ca.crt"));
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw.send("POST /validate HTTP/1.1\r\n"));
  // One header line every 300 ms: each read is within the read timeout, so only the
  // request-timeout reaper can stop it.
  bool cut = false;
  for (int i = 0; i < 100 && !cut; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cut = !raw.send("X-Slow-" + std::to_string(i) + ": 1\r\n");
  }
  EXPECT_TRUE(cut || raw.closed_by_peer());
  expect_serving();
  slow_server.shutdown();
}

TEST_F(LimitsTest, OneHeaderLineOverTheHeaderLimitGets431AndTheConnectionCloses) {
  // One line longer than all headers may be together (64 KiB): refused with 431 and the JSON
  // error body as soon as the limit is crossed, then the server closes the connection (it reads
  // and drops the rest first, so the answer is not lost to a reset).
  RawTls raw(server->port(), dir.file("ca.crt"));
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(
      raw.send("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "X-Big: " +
               std::string(70000, 'a') + "\r\nContent-Length: 0\r\n\r\n"));
  std::string response = raw.read_all();
  EXPECT_EQ(response.rfind("HTTP/1.1 431", 0), 0u) << response.substr(0, 300);
  EXPECT_NE(response.find("\"code\":431"), std::string::npos) << response.substr(0, 300);
  EXPECT_NE(response.find("65536"), std::string::npos) << response.substr(0, 300);
  expect_serving();
}

TEST_F(LimitsTest, LongHeaderLinesWithinTheHeaderLimitAreServed) {
  // Only the headers' total is bounded: a 20 KB line (a long bearer token, say) is no error.
  json good = review("long-line", cpu_pod("team-us", "web"), "team-us");
  auto c = client(server->port(), dir.file("ca.crt"));
  httplib::Headers h{{"X-Long", std::string(20000, 'a')}};
  auto r = c->Post("/validate", h, good.dump(), "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(json::parse(r->body)["response"]["allowed"].get<bool>()) << r->body;
}

TEST_F(LimitsTest, TwoHundredFiftySixKeepAliveConnectionsAreAllServed) {
  // The fixture's 500 ms read timeout also bounds each TLS handshake step: 256 handshakes at
  // once on two busy cores (sanitizer builds) exceed it. This test is about workers, not
  // timeouts, so it serves with the production read timeout.
  TempDir dir2;
  auto o = test_options(dir2, pki);
  o.read_timeout = wh::ServerOptions{}.read_timeout;
  wh::Server wide(o);
  wide.start();
  constexpr int kConnections = 256;
  std::vector<std::unique_ptr<httplib::SSLClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    auto c = client(wide.port(), dir2.file("ca.crt"));
    c->set_keep_alive(true);
    c->set_read_timeout(20);
    clients.push_back(std::move(c));
  }
  json body = review("ka", cpu_pod("team-us", "web"), "team-us");
  // Open every connection (each now holds a server worker while idle)...
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kConnections; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 2; ++round) {
        auto r = post_review(*clients[i], "/validate", body);
        if (r && r->status == 200) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  // ...and every request on every connection was answered, none left waiting for a worker.
  EXPECT_EQ(ok.load(), 2 * kConnections);
  wide.shutdown();
}

}  // namespace
}  // namespace eg_test
