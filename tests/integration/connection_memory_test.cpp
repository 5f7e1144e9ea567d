// What a kept-alive HTTPS connection costs `exportgate serve` once its request is answered
// (issue 19: 256 of them, open after a burst, were most of a replica's excess over its memory
// budget). Asio's TLS stream kept four 17 KB buffers per connection and the listener a 16 KB read
// buffer: ~88 KB each. Measured on the real binary, in a process of its own, so the clients'
// memory does not count.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>

#include "exportgate_process.hpp"
#include "server_support.hpp"
#include "tests/sanitizer_allocator.hpp"

namespace eg_test {

namespace {

using exportgate::testing::kSanitizerAllocator;

constexpr int kConnections = 200;
// Measured: ~16 KB (the SSL object and its session, the socket's reactor state, the session
// object). A connection that kept its read buffer while idle would be 16 KB more.
constexpr long kMaxBytesPerIdleConnection = 28 * 1024;

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Sends one review and reads its whole answer (headers, then Content-Length bytes).
bool request(RawTls& c, const std::string& req) {
  if (!c.send(req)) return false;
  std::string got;
  for (;;) {
    const size_t head = got.find("\r\n\r\n");
    if (head != std::string::npos) {
      const size_t at = got.find("Content-Length: ");
      if (at == std::string::npos || at > head) return false;
      const size_t length = std::stoul(got.substr(at + 16));
      if (got.size() >= head + 4 + length) return got.rfind("HTTP/1.1 200", 0) == 0;
    }
    std::string part = c.read_some();
    if (part.empty()) return false;
    got += part;
  }
}

TEST(ConnectionMemory, AnIdleKeptAliveConnectionHoldsNoTlsOrReadBuffers) {
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator keeps what it frees";
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  TempDir dir;
  const int port = free_port();
  auto args = serve_tls_args(dir, port);
  args.insert(args.end(), {"--tenant-namespace", "team-us=US"});
  ExportgateProcess p(args, {.stderr_file = dir.file("stderr")});
  const std::string body = review("mem", cpu_pod("team-us", "web"), "team-us").dump();
  const std::string req = http_post_head("/validate", body.size()) + body;
  // Two connections first, so what the first requests allocate once is in the baseline.
  std::vector<std::unique_ptr<RawTls>> conns;
  ASSERT_TRUE(eventually([&] {
    auto c = std::make_unique<RawTls>(port, dir.file("ca.crt"));
    if (!c->ok() || !request(*c, req)) return false;
    conns.push_back(std::move(c));
    return true;
  })) << read_file(dir.file("stderr"));
  conns.push_back(std::make_unique<RawTls>(port, dir.file("ca.crt")));
  ASSERT_TRUE(request(*conns.back(), req));
  const long before = rss_kib(p.pid());
  for (int i = 0; i < kConnections; ++i) {
    auto c = std::make_unique<RawTls>(port, dir.file("ca.crt"));
    ASSERT_TRUE(c->ok()) << "connection " << i;
    ASSERT_TRUE(request(*c, req)) << "connection " << i;
    conns.push_back(std::move(c));
  }
  // Every connection got its answer and waits for its next request (kept alive).
  const long after = rss_kib(p.pid());
  const long per_connection = (after - before) * 1024 / kConnections;
  EXPECT_LT(per_connection, kMaxBytesPerIdleConnection)
      << "resident memory grew by " << (after - before) << " KiB for " << kConnections
      << " idle connections";
  // They still work.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(request(*conns[conns.size() - 1 - i], req));
}

}  // namespace
}  // namespace eg_test
