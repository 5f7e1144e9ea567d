// Helpers for the server integration tests: a test PKI, temp dirs, an in-process server on an
// ephemeral loopback port, HTTPS clients that verify against the test CA, AdmissionReview
// builders.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/eventually.hpp"
#include "tests/log_capture.hpp"
#include "webhook/server.hpp"
#include "webhook/tls_certs.hpp"

namespace eg_test {

using nlohmann::json;
namespace fs = std::filesystem;
namespace wh = exportgate::webhook;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("exportgate-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A loopback port that was free a moment ago, for a child process to listen on.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Replaces a file atomically (write aside, rename over), as config management and the kubelet
// do: a poll can never read it half written.
inline void replace_file(const std::string& path, const std::string& content) {
  write_file(path + ".tmp", content);
  std::filesystem::rename(path + ".tmp", path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CA and certificates it issues.
struct Pki {
  wh::EvpPkeyPtr ca_key = wh::generate_key();
  wh::X509Ptr ca_cert;
  Pki(const std::string& cn = "exportgate test CA") {
    wh::CertificateRequest req;
    req.common_name = cn;
    req.is_ca = true;
    ca_cert = wh::issue_certificate(req, ca_key.get(), nullptr, nullptr);
  }
  std::string ca_pem() const { return wh::to_pem(ca_cert.get()); }
  // {cert PEM, key PEM}
  std::pair<std::string, std::string> issue(const std::string& cn, bool client = false,
                                            std::vector<std::string> sans = {"localhost",
                                                                             "127.0.0.1"}) const {
    wh::CertificateRequest req;
    req.common_name = cn;
    req.sans = std::move(sans);
    req.client_auth = client;
    auto key = wh::generate_key();
    auto cert = wh::issue_certificate(req, key.get(), ca_cert.get(), ca_key.get());
    return {wh::to_pem(cert.get()), wh::to_pem(key.get())};
  }
};

// `exportgate serve` over TLS on 127.0.0.1:port with metrics off: writes tls.crt and tls.key
// (for "exportgate", from a fresh CA) and ca.crt (that CA, for clients) into `dir`, and returns
// the flags that use them; the caller appends its own.
inline std::vector<std::string> serve_tls_args(const TempDir& dir, int port) {
  Pki pki;
  auto [cert, key] = pki.issue("exportgate");
  write_file(dir.file("tls.crt"), cert);
  write_file(dir.file("tls.key"), key);
  write_file(dir.file("ca.crt"), pki.ca_pem());
  return {"serve",
          "--listen",
          "127.0.0.1:" + std::to_string(port),
          "--metrics-listen",
          "",
          "--tls-cert",
          dir.file("tls.crt"),
          "--tls-key",
          dir.file("tls.key")};
}

// A test policy on the default preset: tenants in Tier 2 (SG, with a small cap), Tier 3 (CN)
// and Tier 1 (US), and admins.
inline std::string test_policy(const std::string& name = "server-test",
                               const std::string& extra_spec = "") {
  return "apiVersion: exportgate.io/v1alpha1\n"
         "kind: Policy\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  preset: diffusion-2025\n" +
         extra_spec +
         "  tiers:\n"
         "    tier2:\n"
         "      tenantCapTPP: 260000\n"
         "  tenants:\n"
         "    - {name: team-sg, jurisdiction: SG, namespaces: [team-sg]}\n"
         "    - {name: team-cn, jurisdiction: CN, namespaces: [team-cn]}\n"
         "    - {name: team-us, jurisdiction: US, namespaces: [team-us]}\n"
         "  admins:\n"
         "    users: [admin@example.com]\n"
         "    groups: [platform-admins]\n";
}

inline std::ostream& null_log() {
  static std::ostringstream sink;  // written only under the logger's lock; never read
  return sink;
}

// Options for an in-process server on 127.0.0.1:<any>, metrics on 127.0.0.1:<any>, serving the
// certificate files in `dir` (written from `pki`).
inline wh::ServerOptions test_options(const TempDir& dir, const Pki& pki) {
  auto [cert, key] = pki.issue("exportgate-server");
  write_file(dir.file("tls.crt"), cert);
  write_file(dir.file("tls.key"), key);
  write_file(dir.file("ca.crt"), pki.ca_pem());
  wh::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.metrics_listen = "127.0.0.1:0";
  o.tls_cert = dir.file("tls.crt");
  o.tls_key = dir.file("tls.key");
  o.reload_interval = std::chrono::milliseconds(50);
  o.read_timeout = std::chrono::milliseconds(1000);
  o.log_stream = &null_log();
  return o;
}

inline std::unique_ptr<httplib::SSLClient> client(int port, const std::string& ca_file) {
  auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  c->set_ca_cert_path(ca_file.c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(5);
  c->set_read_timeout(10);
  c->set_write_timeout(10);
  return c;
}

inline httplib::Result post_review(httplib::SSLClient& c, const std::string& path,
                                   const json& review) {
  return c.Post(path.c_str(), review.dump(), "application/json");
}

inline std::string metrics_text(int port) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  return r ? r->body : "";
}

// Waits (bounded) until `cond` holds; returns whether it did.
using exportgate::testing::eventually;
using exportgate::testing::LogCapture;

// --- AdmissionReview builders ---

inline json gpu_pod(const std::string& ns, const std::string& name, int gpus,
                    const std::string& product = "NVIDIA-H100-80GB-HBM3") {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec",
               {{"containers",
                 {{{"name", "train"},
                   {"image", "trainer:1"},
                   {"resources",
                    {{"requests", {{"cpu", "1"}, {"nvidia.com/gpu", std::to_string(gpus)}}},
                     {"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}}}}}};
  if (!product.empty()) pod["spec"]["nodeSelector"] = {{"nvidia.com/gpu.product", product}};
  return pod;
}

inline json cpu_pod(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"containers", {{{"name", "web"}, {"image", "nginx"}}}}}}};
}

inline json gpu_deployment(const std::string& ns, const std::string& name, int replicas, int gpus) {
  json pod = gpu_pod(ns, name, gpus);
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template", {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", pod["spec"]}}}}}};
}

struct ReviewOptions {
  std::string operation = "CREATE";
  std::string group;  // "" = core
  std::string version = "v1";
  std::string kind;  // defaults to object.kind
  std::string resource;
  std::string sub_resource;
  std::string user = "system:serviceaccount:kube-system:replicaset-controller";
  std::vector<std::string> groups = {"system:serviceaccounts"};
  bool dry_run = false;
  json old_object = nullptr;
};

inline json review(const std::string& uid, const json& object, const std::string& ns,
                   ReviewOptions o = {}) {
  std::string kind = o.kind;
  if (kind.empty() && object.is_object()) kind = object.value("kind", "");
  if (kind.empty() && o.old_object.is_object()) kind = o.old_object.value("kind", "");
  std::string name;
  const json& src = object.is_object() ? object : o.old_object;
  if (src.is_object() && src.contains("metadata")) name = src["metadata"].value("name", "");
  std::string resource = o.resource;
  if (resource.empty()) {
    resource = kind;
    for (auto& ch : resource) ch = static_cast<char>(std::tolower(ch));
    resource += "s";
  }
  json req = {{"uid", uid},
              {"kind", {{"group", o.group}, {"version", o.version}, {"kind", kind}}},
              {"resource", {{"group", o.group}, {"version", o.version}, {"resource", resource}}},
              {"name", name},
              {"namespace", ns},
              {"operation", o.operation},
              {"userInfo", {{"username", o.user}, {"groups", o.groups}}},
              {"object", object},
              {"oldObject", o.old_object},
              {"dryRun", o.dry_run}};
  if (!o.sub_resource.empty()) req["subResource"] = o.sub_resource;
  return {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", req}};
}

}  // namespace eg_test

namespace eg_test {

// A TCP connection to 127.0.0.1:`port` (receives time out after `recv_timeout_seconds` when not
// 0): its descriptor, or -1 when the connect fails.
inline int connect_loopback(int port, int recv_timeout_seconds = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (recv_timeout_seconds > 0) {
    timeval tv{recv_timeout_seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A TLS connection driven by hand (for half-sent bodies and stalled clients).
class RawTls {
 public:
  RawTls(int port, const std::string& ca_file) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    fd_ = connect_loopback(port, 10);
    if (fd_ < 0) return;
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set1_host(ssl_.get(), "127.0.0.1");
    ok_ = SSL_connect(ssl_.get()) == 1;
  }
  ~RawTls() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  bool send(const std::string& data) {
    return SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  // Reads until the peer closes or `limit` bytes; "" on timeout/EOF with nothing read.
  std::string read_some() {
    char buf[16384];
    int n = SSL_read(ssl_.get(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // Everything until the server closes the connection (or the socket timeout).
  std::string read_all() {
    std::string out;
    for (std::string part = read_some(); !part.empty(); part = read_some()) out += part;
    return out;
  }
  // True when the server closed the connection (EOF or reset) within the socket timeout.
  bool closed_by_peer() {
    char buf[1024];
    for (;;) {
      int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) continue;
      int err = SSL_get_error(ssl_.get(), n);
      return err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL;
    }
  }

 private:
  wh::SslCtxPtr ctx_;
  std::unique_ptr<SSL, wh::OpenSslDeleter<SSL_free>> ssl_;
  int fd_ = -1;
  bool ok_ = false;
};

// Connects with `ctx` and runs the TLS handshake; `then` gets the session when it succeeded.
// True when it did.
inline bool with_tls_session(int port, SSL_CTX* ctx,
                             const std::function<void(SSL*)>& then = nullptr) {
  const int fd = connect_loopback(port);
  if (fd < 0) return false;
  std::unique_ptr<SSL, wh::OpenSslDeleter<SSL_free>> ssl(SSL_new(ctx));
  SSL_set_fd(ssl.get(), fd);
  const bool ok = SSL_connect(ssl.get()) == 1;
  if (ok && then) then(ssl.get());
  ssl.reset();
  ::close(fd);
  return ok;
}

// Handshake with only `version` and (TLS 1.2) only `ciphers` offered; true when it succeeds.
inline bool tls_handshake(int port, int version, const char* ciphers = nullptr) {
  wh::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_security_level(ctx.get(), 0);  // let the client offer what it is told to
  SSL_CTX_set_min_proto_version(ctx.get(), version);
  SSL_CTX_set_max_proto_version(ctx.get(), version);
  if (ciphers && SSL_CTX_set_cipher_list(ctx.get(), ciphers) != 1) return false;
  return with_tls_session(port, ctx.get());
}

inline std::string http_post_head(const std::string& path, size_t content_length,
                                  const std::string& content_type = "application/json") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

}  // namespace eg_test
