// The admission webhook server: HTTPS (Boost.Beast + OpenSSL, https_listener.hpp) with /validate,
// /mutate, /healthz, /readyz; certificate and policy hot reload; request limits; metrics; graceful
// drain.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "webhook/decision_sink.hpp"
#include "webhook/kube_options.hpp"
#include "webhook/log.hpp"
#include "webhook/policy_store.hpp"

namespace exportgate::webhook {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8443;                                // 0 = any free port (tests)
  std::string metrics_listen = "127.0.0.1:9090";  // "" disables the metrics endpoint
  std::string tls_cert;                           // "" = generate a self-signed certificate
  std::string tls_key;
  std::string client_ca;               // "" = no client certificates
  std::vector<std::string> dns_names;  // extra SANs of the self-signed certificate
  PolicySource policy;                 // file "" = embedded default preset
  size_t max_threads = 512;            // at least one per concurrent keep-alive connection
  size_t min_threads = 8;
  size_t max_body_bytes = 3 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{10'000};   // per read while receiving a request
  std::chrono::milliseconds write_timeout{10'000};  // per write while sending a response
  // Idle keep-alive connections are kept this long: longer than the apiserver's 90 s idle
  // timeout, so the server never closes a connection the client is about to reuse.
  int keep_alive_timeout_seconds = 120;
  // A request (headers + body) must arrive within this time once started, however slowly.
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds reload_interval{1'000};
  // On shutdown: readiness fails, then this delay (so endpoints are removed), then the drain.
  std::chrono::milliseconds shutdown_delay{0};
  std::chrono::milliseconds drain_timeout{25'000};
  LogLevel log_level = LogLevel::kInfo;
  std::ostream* log_stream = nullptr;  // nullptr = stderr
  ClusterOptions cluster;              // enabled(): usage ledger and caches in the Kubernetes API
  // Receives every decision record (the decision log, webhook/decisionlog/decision_log.hpp); null =
  // none.
  std::shared_ptr<DecisionSink> decision_sink;
  // Benchmarks only (bench/transport_ceiling; no flag of `exportgate serve`): also serve
  // POST /constant, which reads the body and answers a fixed AdmissionReview, so the load
  // benchmark can measure what the same server and TLS do without the admission work.
  bool constant_endpoint = false;
};

// Thrown when the server cannot start (bad certificate, policy, or port in use).
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Metrics;

class Server {
 public:
  // Loads the policy and certificate; throws StartupError.
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads. Throws StartupError.
  void start();
  // Graceful stop: readiness fails, then (after shutdown_delay) the listener closes, idle
  // keep-alive connections are closed, in-flight requests finish; returns when all are done.
  void shutdown();

  int port() const;
  int metrics_port() const;  // 0 when disabled
  bool ready() const;
  // TLS connections past their handshake that the server has not closed (tests wait on it).
  size_t open_connections() const;
  Metrics& metrics();
  Logger& logger();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exportgate::webhook
