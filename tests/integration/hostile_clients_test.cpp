// Hostile clients on loopback against a server with the production timeouts and thread limits:
// thousands of idle connections, slow-loris headers and bodies, oversized headers and bodies,
// garbage and truncated TLS records, plain HTTP on the TLS port, old TLS versions and weak
// ciphers, wrong or missing client certificates. In every case a well-behaved request sent at the
// same time must be answered within a generous bound (a correctness bound, not a benchmark) and
// the process's resident memory must stay bounded. Also: concurrent pod creations never admit
// past a cap together.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <future>
#include <iterator>
#include <thread>
#include <vector>

#include "server_support.hpp"

namespace eg_test {
namespace {

// A well-behaved request slower than this has been starved by the hostile clients.
constexpr auto kPromptly = std::chrono::seconds(5);
// Resident memory may grow by this much while under attack (connection buffers, up to 512
// worker threads); unbounded growth shows up as far more. Sanitizer runtimes keep per-thread
// state and quarantine freed memory, so their builds get a larger bound.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long kMaxRssGrowthBytes = 768L * 1024 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr long kMaxRssGrowthBytes = 768L * 1024 * 1024;
#else
constexpr long kMaxRssGrowthBytes = 256L * 1024 * 1024;
#endif
#else
constexpr long kMaxRssGrowthBytes = 256L * 1024 * 1024;
#endif

long rss_bytes() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// A plain TCP connection to the server that sends what it is told (no TLS).
class RawTcp {
 public:
  explicit RawTcp(int port) {
    fd_ = connect_loopback(port, 20);
    ok_ = fd_ >= 0;
  }
  ~RawTcp() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawTcp(const RawTcp&) = delete;
  RawTcp& operator=(const RawTcp&) = delete;
  bool ok() const { return ok_; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads until EOF/reset; returns the bytes received, or nullopt when the socket timeout
  // (20 s) passed with the connection still open.
  std::optional<std::string> read_until_closed() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || errno == ECONNRESET) return out;
      return std::nullopt;
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Thousands of sockets on both ends of loopback, in one process.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);

    write_file(dir.file("policy.yaml"), test_policy());
    options = test_options(dir, pki);
    options.policy.file = dir.file("policy.yaml");
    // The production limits (test_options shortens the read timeout for other tests).
    const wh::ServerOptions defaults;
    options.read_timeout = defaults.read_timeout;
    options.request_timeout = defaults.request_timeout;
    options.keep_alive_timeout_seconds = defaults.keep_alive_timeout_seconds;
    options.max_threads = defaults.max_threads;
  }
  void start() {
    server = std::make_unique<wh::Server>(options);
    server->start();
    baseline_rss = rss_bytes();
  }
  void TearDown() override {
    if (server) server->shutdown();
  }

  // Sends a good request on a fresh connection (the way the apiserver would after the attack
  // began) and expects its answer within kPromptly.
  void expect_prompt_answer(const std::string& what) {
    SCOPED_TRACE(what);
    auto fut = std::async(std::launch::async, [&] {
      auto c = good_client();
      auto r = post_review(*c, "/validate", review("good", cpu_pod("team-us", "web"), "team-us"));
      return r ? r->status : -1;
    });
    ASSERT_EQ(fut.wait_for(kPromptly), std::future_status::ready)
        << "a well-behaved request was not answered within 5 s";
    EXPECT_EQ(fut.get(), 200);
  }
  void expect_bounded_memory() {
    const long growth = rss_bytes() - baseline_rss;
    EXPECT_LT(growth, kMaxRssGrowthBytes) << "resident memory grew by " << growth << " bytes";
  }
  virtual std::unique_ptr<httplib::SSLClient> good_client() {
    return client(server->port(), dir.file("ca.crt"));
  }

  TempDir dir;
  Pki pki;
  wh::ServerOptions options;
  std::unique_ptr<wh::Server> server;
  long baseline_rss = 0;
};

// Threads of this process (the server runs in it, beside the test's own few).
size_t thread_count() {
  namespace fs = std::filesystem;
  return static_cast<size_t>(
      std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator{}));
}

TEST_F(HostileTest, ThousandsOfIdleConnectionsDoNotStarveAWellBehavedRequest) {
  start();
  const size_t threads_before = thread_count();
  // Idle keep-alive connections that finished a handshake (kept up to the 120 s keep-alive
  // timeout)...
  std::vector<std::unique_ptr<RawTls>> tls;
  for (int i = 0; i < 300; ++i) {
    tls.push_back(std::make_unique<RawTls>(server->port(), dir.file("ca.crt")));
  }
  // ...and connections that never even start TLS: more than the server has threads.
  std::vector<std::unique_ptr<RawTcp>> tcp;
  for (int i = 0; i < 1700; ++i) tcp.push_back(std::make_unique<RawTcp>(server->port()));
  int connected = 0;
  for (const auto& c : tcp) connected += c->ok();
  EXPECT_GT(connected, 1500);
  expect_prompt_answer("2,000 idle connections open");
  expect_prompt_answer("again, still open");
  // A waiting connection holds no thread (cpp-httplib's server gave each one a worker: 512).
  EXPECT_LT(thread_count(), threads_before + 8) << "threads grew with idle connections";
  expect_bounded_memory();
}

TEST_F(HostileTest, SlowLorisHeadersAndBodiesDoNotStarveAWellBehavedRequest) {
  start();
  const std::string body = review("slow", cpu_pod("team-us", "web"), "team-us").dump();
  // 100 clients trickle one byte at a time, half of them inside the headers and half inside
  // the body; each byte arrives well within the read timeout, so only the request timeout and
  // the shedding of idle workers can stop them.
  std::vector<std::unique_ptr<RawTls>> lorises;
  std::vector<std::string> pending;
  for (int i = 0; i < 100; ++i) {
    auto c = std::make_unique<RawTls>(server->port(), dir.file("ca.crt"));
    ASSERT_TRUE(c->ok()) << "loris " << i << ": no handshake, so no attack";
    std::string req = http_post_head("/validate", body.size()) + body;
    const size_t head_len = req.size() - body.size();
    const size_t sent = i % 2 ? head_len + 10 : 20;  // into the body / into the headers
    ASSERT_TRUE(c->send(req.substr(0, sent)));
    pending.push_back(req.substr(sent));
    lorises.push_back(std::move(c));
  }
  std::atomic<bool> stop{false};
  std::atomic<size_t> rounds{0};
  std::thread trickler([&] {
    for (size_t round = 0; !stop && round < 200; ++round) {
      for (size_t i = 0; i < lorises.size(); ++i) {
        if (round < pending[i].size()) lorises[i]->send(pending[i].substr(round, 1));
      }
      ++rounds;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  // The attack is in place: the server holds every loris's connection.
  ASSERT_TRUE(eventually([&] { return server->open_connections() >= lorises.size(); }));
  expect_prompt_answer("100 slow-loris clients");
  // Ten more bytes from each, and the server still holds them all (none has finished).
  const size_t later = rounds + 10;
  ASSERT_TRUE(eventually([&] { return rounds >= later; }, std::chrono::seconds(30)));
  EXPECT_GE(server->open_connections(), lorises.size()) << "the attack ended early";
  expect_prompt_answer("100 slow-loris clients, later");
  stop = true;
  trickler.join();
  expect_bounded_memory();
}

TEST_F(HostileTest, OversizedHeadersAndBodiesAreRefusedWhileOthersAreServed) {
  start();
  // Each refused with its own status: an attack answered 400 as a bad review was read whole.
  std::atomic<int> too_large{0}, headers_too_large{0};
  std::vector<std::thread> attackers;
  for (int i = 0; i < 8; ++i) {
    attackers.emplace_back([&, i] {
      auto c = client(server->port(), dir.file("ca.crt"));
      httplib::Headers h;  // many lines, each under httplib's 8 KiB line cap, 100 KiB total
      for (int k = 0; k < 25; ++k) h.emplace("X-Pad-" + std::to_string(k), std::string(4000, 'a'));
      // The headers come with no body: an unread body could reset the connection before the
      // client reads the answer. httplib reads and discards an oversized body before its 413.
      httplib::Result r =
          i % 2 ? c->Post("/validate", std::string(8 * 1024 * 1024, 'x'), "application/json")
                : c->Post("/validate", h, "", "application/json");
      if (r && r->status == 413) too_large++;
      if (r && r->status == 431) headers_too_large++;
    });
  }
  expect_prompt_answer("8 clients sending 8 MiB bodies and 100 KiB headers");
  for (auto& t : attackers) t.join();
  EXPECT_EQ(too_large.load(), 4);
  EXPECT_EQ(headers_too_large.load(), 4);
  expect_bounded_memory();
}

TEST_F(HostileTest, GarbageTruncatedTlsAndPlainHttpAreDroppedWhileOthersAreServed) {
  start();
  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"plain HTTP", "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"},
      {"random bytes",
       std::string("\x8f\x00\xff\x13garbage\x00\x01\x02", 14) + std::string(3000, '\x5a')},
      // A handshake record header announcing 16 KiB, then only 5 bytes of it.
      {"truncated record", std::string("\x16\x03\x01\x40\x00\x01\x00\x3f\xfc", 9)},
      // An application-data record before any handshake.
      {"data before handshake", std::string("\x17\x03\x03\x00\x05hello", 10)},
      // An SSLv2-style ClientHello.
      {"SSLv2 hello",
       std::string("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10", 11) + std::string(0x25, '\x01')},
      {"a zero-length record flood",
       [] {
         std::string s;
         for (int i = 0; i < 2000; ++i) s += std::string("\x16\x03\x01\x00\x00", 5);
         return s;
       }()},
  };
  std::vector<std::unique_ptr<RawTcp>> conns;
  for (const auto& [name, bytes] : attacks) {
    for (int copy = 0; copy < 20; ++copy) {
      conns.push_back(std::make_unique<RawTcp>(server->port()));
      ASSERT_TRUE(conns.back()->ok()) << name;
      conns.back()->send(bytes);
    }
  }
  expect_prompt_answer("120 connections sending garbage");
  // Every one of them is closed by the server (at the latest after the 10 s handshake read
  // timeout), and none gets an HTTP answer of any status: plain HTTP is not served on the TLS
  // port.
  for (size_t i = 0; i < conns.size(); ++i) {
    SCOPED_TRACE(attacks[i / 20].first);
    auto got = conns[i]->read_until_closed();
    ASSERT_TRUE(got.has_value()) << "the server left a garbage connection open";
    EXPECT_EQ(got->find("HTTP/"), std::string::npos) << got->substr(0, 200);
  }
  expect_prompt_answer("after the garbage");
  expect_bounded_memory();
}

TEST_F(HostileTest, OldTlsVersionsAndWeakCiphersAreRefused) {
  start();
  EXPECT_TRUE(tls_handshake(server->port(), TLS1_2_VERSION));
  EXPECT_TRUE(tls_handshake(server->port(), TLS1_3_VERSION));
  EXPECT_FALSE(tls_handshake(server->port(), TLS1_VERSION));
  EXPECT_FALSE(tls_handshake(server->port(), TLS1_1_VERSION));
  // TLS 1.2 without forward secrecy, with CBC, SHA-1 MACs, or export-grade/NULL/anonymous suites.
  for (const char* weak :
       {"AES128-GCM-SHA256", "AES256-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES128-GCM-SHA256",
        "NULL-SHA256", "ADH-AES128-GCM-SHA256", "DES-CBC3-SHA"}) {
    EXPECT_FALSE(tls_handshake(server->port(), TLS1_2_VERSION, weak)) << weak;
  }
  expect_prompt_answer("after refused handshakes");
}

class HostileClientCaTest : public HostileTest {
 protected:
  void SetUp() override {
    HostileTest::SetUp();
    write_file(dir.file("client-ca.crt"), client_pki.ca_pem());
    auto [cert, key] = client_pki.issue("kube-apiserver", /*client=*/true, {});
    write_file(dir.file("client.crt"), cert);
    write_file(dir.file("client.key"), key);
    options.client_ca = dir.file("client-ca.crt");
  }
  std::unique_ptr<httplib::SSLClient> good_client() override {
    return client_with(dir.file("client.crt"), dir.file("client.key"));
  }
  std::unique_ptr<httplib::SSLClient> client_with(const std::string& cert, const std::string& key) {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", server->port(), cert, key);
    c->set_ca_cert_path(dir.file("ca.crt").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5);
    c->set_read_timeout(10);
    return c;
  }
  // Writes a certificate/key pair under `name` and returns whether a request with it succeeds.
  bool accepted(const std::string& name, const std::pair<std::string, std::string>& pair) {
    write_file(dir.file(name + ".crt"), pair.first);
    write_file(dir.file(name + ".key"), pair.second);
    auto c = client_with(dir.file(name + ".crt"), dir.file(name + ".key"));
    auto r = post_review(*c, "/validate", review("x", cpu_pod("team-us", "web"), "team-us"));
    return r && r->status == 200;
  }
  Pki client_pki{"apiserver client CA"};
};

TEST_F(HostileClientCaTest, WrongOrMissingClientCertificatesAreRefused) {
  start();
  // No certificate at all.
  auto anonymous = client(server->port(), dir.file("ca.crt"));
  EXPECT_FALSE(
      post_review(*anonymous, "/validate", review("a", cpu_pod("team-us", "w"), "team-us")));
  // Issued by another CA (here the server's own CA, which the client trusts for the server).
  EXPECT_FALSE(accepted("stranger", pki.issue("kube-apiserver", true, {})));
  // A CA with the same name as the client CA but another key (a forged issuer).
  Pki impostor("apiserver client CA");
  EXPECT_FALSE(accepted("impostor", impostor.issue("kube-apiserver", true, {})));
  // Issued by the right CA, but for servers (no clientAuth extended key usage).
  EXPECT_FALSE(accepted("server-usage", client_pki.issue("kube-apiserver", false, {})));
  // The right one, while the refused ones were tried.
  EXPECT_TRUE(
      accepted("right", {read_file(dir.file("client.crt")), read_file(dir.file("client.key"))}));
  expect_prompt_answer("after refused client certificates");
}

TEST_F(HostileTest, ConcurrentPodCreatesNeverAdmitPastTheCapTogether) {
  start();
  // team-sg is Tier 2 with a 260,000 TPP tenant cap: sixteen 1 x H100 pods (15,832 TPP each)
  // fit, a seventeenth does not. 64 concurrent creations race for the cap.
  constexpr int kThreads = 16, kPerThread = 4;
  std::atomic<int> allowed{0}, denied{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = client(server->port(), dir.file("ca.crt"));
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = "p-" + std::to_string(t) + "-" + std::to_string(i);
        auto r = post_review(*c, "/validate", review(name, gpu_pod("team-sg", name, 1), "team-sg"));
        if (!r || r->status != 200) {
          failed++;
          continue;
        }
        auto body = json::parse(r->body);
        (body["response"]["allowed"].get<bool>() ? allowed : denied)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(allowed.load() + denied.load(), kThreads * kPerThread);
  // floor(260,000 / TPP of one H100) pods fit; the rest are denied, whatever the interleaving.
  EXPECT_EQ(allowed.load(), 16);
}

}  // namespace
}  // namespace eg_test
