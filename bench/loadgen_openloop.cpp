// Open-loop HTTPS load generator for the fixed-rate benchmark (wrk2 is not in Debian). Requests
// are due on a fixed schedule (rate per second); latency is measured from the scheduled send
// time, not from when a connection was free, so a stalled server shows up in the tail instead of
// slowing the sender down (no coordinated omission). With --rate 0 it runs closed-loop, as fast
// as the connections allow, which is how bench/run.sh fills the caches with unique pods.
// Prints one JSON object on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 8443;
  std::string path = "/validate";
  double rate = 1000;    // requests per second; 0 = closed loop
  double duration = 10;  // seconds of measurement (after the warm-up)
  double warmup = 1;     // seconds sent on schedule but not recorded
  int connections = 16;  // keep-alive connections (one sender thread each)
  long long count = 0;   // stop after this many requests (0 = by duration)
  std::string mix;       // file: lines "WEIGHT PATH" (PATH relative to the mix file)
  std::string unique;    // replace this text in every body with a unique name per request
};

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "loadgen_openloop: " << msg << "\n";
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The weighted list of bodies, expanded so that picking index i % size follows the weights.
std::vector<std::string> load_mix(const std::string& mix_file) {
  std::vector<std::string> bodies;
  const std::string dir = mix_file.substr(0, mix_file.rfind('/') + 1);
  std::istringstream lines(read_file(mix_file));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    int weight = 0;
    std::string file;
    if (!(fields >> weight >> file) || weight <= 0) die("bad mix line: " + line);
    const std::string body = read_file(dir + file);
    for (int i = 0; i < weight; ++i) bodies.push_back(body);
  }
  if (bodies.empty()) die("empty mix " + mix_file);
  // Interleave so CPU and GPU bodies alternate through the schedule instead of arriving in runs.
  std::vector<std::string> spread(bodies.size());
  const size_t n = bodies.size();
  size_t step = 7;
  while (std::gcd(step, n) != 1) ++step;
  for (size_t i = 0; i < n; ++i) spread[(i * step) % n] = bodies[i];
  return spread;
}

class Connection {
 public:
  Connection(SSL_CTX* ctx, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    ssl_.reset(SSL_new(ctx));
    SSL_set_fd(ssl_.get(), fd_);
    ok_ = SSL_connect(ssl_.get()) == 1;
  }
  ~Connection() {
    if (ssl_ && ok_) SSL_shutdown(ssl_.get());
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool ok() const { return ok_; }

  // Sends one request and reads the response; returns the HTTP status, or -1 on a broken
  // connection.
  int exchange(const std::string& request) {
    if (!ok_) return -1;
    if (SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size())) <= 0) {
      return fail();
    }
    buf_.clear();
    size_t header_end = std::string::npos;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return fail();
    }
    int status = 0;
    if (buf_.size() < 12) return fail();
    std::from_chars(buf_.data() + 9, buf_.data() + 12, status);
    size_t length = 0;
    const std::string headers = lower(buf_.substr(0, header_end));
    if (auto p = headers.find("\r\ncontent-length:"); p != std::string::npos) {
      size_t v = p + 17;
      while (v < headers.size() && headers[v] == ' ') ++v;
      std::from_chars(headers.data() + v, headers.data() + headers.size(), length);
    }
    while (buf_.size() < header_end + 4 + length) {
      if (!read_more()) return fail();
    }
    if (headers.find("\r\nconnection: close") != std::string::npos) ok_ = false;
    return status;
  }

 private:
  static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  }
  bool read_more() {
    char chunk[16384];
    const int n = SSL_read(ssl_.get(), chunk, sizeof chunk);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fail() {
    ok_ = false;
    return -1;
  }
  int fd_ = -1;
  std::unique_ptr<SSL, SslFree> ssl_;
  bool ok_ = false;
  std::string buf_;
};

std::string http_request(const std::string& path, const std::string& body) {
  return "POST " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

double arg_number(const std::string& flag, const char* value) {
  char* end = nullptr;
  const double v = std::strtod(value, &end);
  if (!value[0] || *end) die(flag + ": not a number: " + value);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) die(flag + " needs a value");
    const char* v = argv[++i];
    if (flag == "--port")
      o.port = static_cast<int>(arg_number(flag, v));
    else if (flag == "--path")
      o.path = v;
    else if (flag == "--rate")
      o.rate = arg_number(flag, v);
    else if (flag == "--duration")
      o.duration = arg_number(flag, v);
    else if (flag == "--warmup")
      o.warmup = arg_number(flag, v);
    else if (flag == "--connections")
      o.connections = static_cast<int>(arg_number(flag, v));
    else if (flag == "--count")
      o.count = static_cast<long long>(arg_number(flag, v));
    else if (flag == "--mix")
      o.mix = v;
    else if (flag == "--unique")
      o.unique = v;
    else
      die("unknown flag " + flag);
  }
  if (o.mix.empty()) die("--mix FILE is required");
  if (o.connections < 1) die("--connections must be at least 1");
  return o;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p / 100.0 * sorted.size()));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::vector<std::string> bodies = load_mix(o.mix);
  std::vector<std::string> requests;
  for (const auto& b : bodies) requests.push_back(http_request(o.path, b));

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // loopback, self-signed server

  const bool open_loop = o.rate > 0;
  const auto interval =
      open_loop ? std::chrono::duration<double>(1.0 / o.rate) : std::chrono::duration<double>(0);
  const auto warmup = std::chrono::duration<double>(open_loop ? o.warmup : 0);
  const auto measure = std::chrono::duration<double>(o.duration);
  std::atomic<long long> next{0};
  std::atomic<long long> errors{0}, non_2xx{0}, late{0};
  std::mutex mu;
  std::vector<double> latencies_us;
  std::atomic<bool> stop{false};

  // Every connection is opened before the clock starts: the handshake is not what is measured.
  std::vector<std::unique_ptr<Connection>> conns;
  for (int i = 0; i < o.connections; ++i) {
    conns.push_back(std::make_unique<Connection>(ctx.get(), o.port));
    if (!conns.back()->ok()) die("cannot connect to 127.0.0.1:" + std::to_string(o.port));
  }
  const auto t0 = Clock::now() + std::chrono::milliseconds(50);
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(warmup + measure);

  auto worker = [&](int index) {
    std::vector<double> mine;
    auto& conn = conns[static_cast<size_t>(index)];
    for (;;) {
      const long long i = next.fetch_add(1);
      if (o.count > 0 && i >= o.count) break;
      Clock::time_point due = Clock::now();
      if (open_loop) {
        due = t0 + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
        if (due >= end) break;
        if (Clock::now() > due + std::chrono::milliseconds(1)) late.fetch_add(1);
        std::this_thread::sleep_until(due);
      } else if (due >= end && o.count == 0) {
        break;
      }
      if (stop) break;
      std::string request = requests[static_cast<size_t>(i) % requests.size()];
      if (!o.unique.empty()) {
        char name[32];
        std::snprintf(name, sizeof name, "-%llx", i);
        request = http_request(o.path, replace_all(bodies[static_cast<size_t>(i) % bodies.size()],
                                                   o.unique, o.unique + name));
      }
      if (!conn->ok()) conn = std::make_unique<Connection>(ctx.get(), o.port);
      const int status = conn->exchange(request);
      const auto done = Clock::now();
      if (status < 0) {
        errors.fetch_add(1);
      } else if (status < 200 || status >= 300) {
        non_2xx.fetch_add(1);
      }
      if (!open_loop || due >= t0 + warmup) {
        mine.push_back(std::chrono::duration<double, std::micro>(done - due).count());
      }
    }
    std::lock_guard lock(mu);
    latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
  };
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();

  std::sort(latencies_us.begin(), latencies_us.end());
  const double measured_s = open_loop ? o.duration : elapsed;
  std::printf(
      "{\"mode\":\"%s\",\"rate_target\":%.0f,\"connections\":%d,\"requests\":%zu,"
      "\"requests_per_s\":%.1f,\"errors\":%lld,\"non_2xx\":%lld,\"late_sends\":%lld,"
      "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
      open_loop ? "open-loop" : "closed-loop", o.rate, o.connections, latencies_us.size(),
      static_cast<double>(latencies_us.size()) / measured_s, errors.load(), non_2xx.load(),
      late.load(), percentile(latencies_us, 50) / 1000, percentile(latencies_us, 90) / 1000,
      percentile(latencies_us, 99) / 1000, percentile(latencies_us, 99.9) / 1000,
      latencies_us.empty() ? 0.0 : latencies_us.back() / 1000);
  return 0;
}
