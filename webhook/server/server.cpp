// The webhook server (see server.hpp). Request flow: pre-routing marks the connection busy and
// bounds headers; the POST handlers read the body with a size cap, decode the AdmissionReview,
// run handle_admission on the current policy, answer, and record metrics and decision logs; the
// logger callback (after the response is written) marks the connection idle again.
#include "webhook/server.hpp"

#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <mutex>

#include "policy/errors.hpp"
#include "policy/in_force.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/connection_tracker.hpp"
#include "webhook/file_watcher.hpp"
#include "webhook/kube_cluster.hpp"
#include "webhook/metric_labels.hpp"
#include "webhook/metrics.hpp"
#include "webhook/thread_pool.hpp"
#include "webhook/tls_context.hpp"
#include "webhook/usage_ledger.hpp"

// cpp-httplib 0.11's keep_alive() (Debian's shared build) waits for the next request on a
// keep-alive connection by polling for 10 ms and then sleeping 1 ms, in a loop: every idle
// connection wakes ~90 times a second, and a request that arrives during the sleep waits up to
// 1 ms, which alone breaks the p99 < 1 ms budget at 1,000 requests/s. The library calls it
// through the PLT, so this definition, exported by the executable, takes its place: one poll()
// for the whole timeout, woken at once by data, a peer close, or a shutdown() of the socket
// (how Server::shutdown closes idle connections). Same contract: true = readable.
#if defined(CPPHTTPLIB_VERSION)
namespace httplib::detail {
bool keep_alive(socket_t sock, time_t keep_alive_timeout_sec) {
  using std::chrono::steady_clock;
  const auto deadline = steady_clock::now() + std::chrono::seconds(keep_alive_timeout_sec);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{sock, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}
}  // namespace httplib::detail
#endif

namespace exportgate::webhook {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// cpp-httplib's listen backlog is a compile-time 5 in Debian's build; the apiserver opens many
// connections at once, so the listening socket is re-listened with a deep backlog after bind.
constexpr int kListenBacklog = 1024;
// Requests with more header bytes than this get 431 (each line is also capped by httplib).
constexpr size_t kMaxHeaderBytes = 64 * 1024;
// Request body buffers up to this size stay with their worker thread for the next request.
constexpr size_t kKeptBodyCapacity = 256 * 1024;
// Under worker exhaustion, connections idle at least this long are closed (see run_reaper).
constexpr std::chrono::milliseconds kShedMinIdle{500};
// A connection never serves more than this many requests (httplib needs a finite count).
constexpr size_t kKeepAliveMaxCount = 1'000'000;

class HttpsServer : public httplib::SSLServer {
 public:
  using httplib::SSLServer::SSLServer;
  void set_backlog(int backlog) {
    auto sock = svr_sock_.load();
    if (sock != INVALID_SOCKET) ::listen(sock, backlog);
  }
};

std::string endpoint_name(Endpoint e) {
  return e == Endpoint::kValidate ? "validate" : "mutate";
}

bool is_json_content_type(const std::string& value) {
  std::string media = value.substr(0, value.find(';'));
  media.erase(std::remove_if(media.begin(), media.end(), ::isspace), media.end());
  std::transform(media.begin(), media.end(), media.begin(), ::tolower);
  return media == "application/json";
}

void set_error(httplib::Response& res, int code, const std::string& message) {
  res.status = code;
  res.set_content(error_body(code, message), "application/json");
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Logger log;
  Metrics metrics;
  PolicyStore policies;
  InMemoryLedger memory_ledger;
  std::unique_ptr<KubeCluster> cluster;  // cluster mode (--in-cluster / --kubeconfig)
  UsageLedger* ledger = &memory_ledger;
  CertificateStore certificates;
  ConnectionTracker connections;
  TlsContextOptions tls_options;
  std::unique_ptr<HttpsServer> http;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint;
  std::unique_ptr<FileWatcher> policy_watcher;
  std::unique_ptr<FileWatcher> cert_watcher;
  std::string policy_baseline;  // the watched files before the initial loads
  std::string cert_baseline;
  std::thread listen_thread;
  std::thread reaper_thread;
  std::mutex reaper_mu;
  std::condition_variable reaper_cv;
  bool reaper_stop = false;
  std::atomic<bool> started{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> stopped{false};
  int port = 0;

  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        log(options.log_level, options.log_stream),
        policies(options.policy) {}

  void load_initial_policy();
  void reload_policy();
  void load_certificate(bool initial);
  void install_routes();
  void handle_review(Endpoint endpoint, const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader);
  void update_tpp_gauges(const UsageScope& scope);
  void warn_open_port();
  void run_reaper();
};

void Server::Impl::load_initial_policy() {
  try {
    policies.load();
  } catch (const policy::PolicyError& e) {
    std::string msg = "cannot load policy";
    for (const auto& d : e.diagnostics()) msg += "\n  " + d.to_string();
    if (e.diagnostics().empty()) msg += std::string(": ") + e.what();
    throw StartupError(msg);
  } catch (const std::exception& e) {
    throw StartupError(std::string("cannot load policy: ") + e.what());
  }
  auto p = policies.current();
  metrics.policy_loaded_at_start();
  metrics.set_policy_info(p->name, p->hash, p->preset, std::string(policy::to_string(p->mode)));
  log.info("policy loaded",
           {{"name", p->name},
            {"preset", p->preset},
            {"hash", p->hash},
            {"mode", policy::to_string(p->mode)},
            {"source", options.policy.file.empty() ? "embedded default" : options.policy.file},
            {"tenants", p->tenants.size()},
            {"rule_set", policy::rule_set_text(p->rule_set)},
            {"in_force_on", p->in_force_on}});
  // Stale data or a date past a scheduled change: say so at startup, where an operator looks.
  for (const auto& w : policy::in_force_warnings(*p, policy::today_utc())) {
    log.warn("policy data warning", {{"warning", w}});
  }
}

void Server::Impl::reload_policy() {
  try {
    policies.load();
  } catch (const std::exception& e) {
    json diagnostics = json::array();
    if (const auto* pe = dynamic_cast<const policy::PolicyError*>(&e)) {
      for (const auto& d : pe->diagnostics()) diagnostics.push_back(d.to_string());
    }
    metrics.policy_reload(false);
    auto current = policies.current();
    log.error("policy reload failed; the last good policy keeps serving",
              {{"file", options.policy.file},
               {"error", e.what()},
               {"diagnostics", diagnostics},
               {"serving_hash", current ? current->hash : ""}});
    return;
  }
  auto p = policies.current();
  metrics.policy_reload(true);
  metrics.set_policy_info(p->name, p->hash, p->preset, std::string(policy::to_string(p->mode)));
  log.info("policy reloaded", {{"file", options.policy.file},
                               {"name", p->name},
                               {"hash", p->hash},
                               {"mode", policy::to_string(p->mode)}});
}

void Server::Impl::load_certificate(bool initial) {
  Identity id;
  try {
    if (options.tls_cert.empty()) {
      id = generate_self_signed(options.dns_names);
    } else {
      id = load_identity(options.tls_cert, options.tls_key);
    }
  } catch (const TlsError& e) {
    if (initial) throw StartupError(e.what());
    log.error("certificate reload failed; the previous certificate keeps serving",
              {{"error", e.what()}, {"cert", options.tls_cert}, {"key", options.tls_key}});
    return;
  }
  const int64_t expiry = not_after_unix(id.cert.get());
  json sans = subject_alt_names(id.cert.get());
  certificates.set(std::move(id));
  metrics.set_certificate_expiry(expiry);
  log.info(initial ? "certificate loaded" : "certificate reloaded",
           {{"source", options.tls_cert.empty() ? "self-signed" : options.tls_cert},
            {"sans", sans},
            {"not_after_unix", expiry}});
}

void Server::Impl::update_tpp_gauges(const UsageScope& scope) {
  if (cluster) {
    // In-use and reserved gauges follow the TPPLedger watch; decisions only tell the limits.
    if (scope.tenant_cap && !scope.tenant.empty())
      metrics.set_tpp({"tenant", scope.tenant, std::nullopt, scope.tenant_cap, std::nullopt});
    if (scope.jurisdiction_cap && !scope.jurisdiction.empty())
      metrics.set_tpp(
          {"jurisdiction", scope.jurisdiction, std::nullopt, scope.jurisdiction_cap, std::nullopt});
    return;
  }
  auto usage = ledger->snapshot(scope.tenant, scope.jurisdiction);
  // A tenant without a known jurisdiction is only the request's namespace name, which a forged
  // review can make up: it gets no series of its own (the label set stays bounded).
  if (!scope.tenant.empty() && !scope.jurisdiction.empty())
    metrics.set_tpp({"tenant", scope.tenant, usage.tenant_tpp, scope.tenant_cap, std::nullopt});
  if (!scope.jurisdiction.empty()) {
    metrics.set_tpp({"jurisdiction", scope.jurisdiction, usage.jurisdiction_tpp,
                     scope.jurisdiction_cap, std::nullopt});
  }
}

void Server::Impl::handle_review(Endpoint endpoint, const httplib::Request& req,
                                 httplib::Response& res, const httplib::ContentReader& reader) {
  const auto start = Clock::now();
  RequestLabels labels;
  labels.endpoint = endpoint_name(endpoint);
  labels.decision = "error";
  labels.reason = "malformed";  // until the review is decoded: body, content type, shape
  auto finish = [&] {
    metrics.observe_request(labels, std::chrono::duration<double>(Clock::now() - start).count());
  };

  // 1. Body, capped. httplib itself answers a Content-Length above the cap with 413 after
  //    discarding the body (the connection stays usable); chunked bodies stop at the cap.
  // The body buffer is reused by each worker thread, sized once to the announced length: a
  // fresh multi-KiB allocation per request made glibc consolidate its fast bins (perf showed
  // malloc_consolidate at 5-7% under load). Buffers that grew large are released after use.
  thread_local std::string body;
  body.clear();
  struct ReleaseLarge {
    ~ReleaseLarge() {
      if (body.capacity() > kKeptBodyCapacity) std::string().swap(body);
    }
  } release_large;
  bool too_big = false;
  const size_t max = options.max_body_bytes;
  if (req.has_header("Content-Length")) {
    const std::string announced = req.get_header_value("Content-Length");
    size_t n = 0;
    auto [_, ec] = std::from_chars(announced.data(), announced.data() + announced.size(), n);
    if (ec == std::errc() && n <= max) body.reserve(n);
  }
  bool complete = reader([&](const char* data, size_t n) {
    if (body.size() + n > max) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (!complete) {
    const bool oversized = too_big || res.status == 413;
    if (too_big || !oversized) {
      // The rest of the body is still on the wire: this connection cannot be reused.
      res.set_header("Connection", "close");
      connections.close_after_response(req.ssl);
    }
    if (oversized) {
      set_error(res, 413, "request body exceeds the limit of " + std::to_string(max) + " bytes");
    } else {
      set_error(res, 400, "request body incomplete: the client stopped sending or timed out");
    }
    log.warn("rejected request",
             {{"endpoint", labels.endpoint}, {"status", res.status}, {"remote", req.remote_addr}});
    finish();
    return;
  }

  // 2. Content type and AdmissionReview shape.
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    set_error(res, 415,
              "Content-Type must be application/json, not \"" +
                  req.get_header_value("Content-Type") + "\"");
    finish();
    return;
  }
  AdmissionRequest review;
  try {
    review = decode_admission_review(body);
  } catch (const AdmissionDecodeError& e) {
    set_error(res, 400, std::string("not a valid AdmissionReview: ") + e.what());
    log.warn("rejected request", {{"endpoint", labels.endpoint},
                                  {"status", 400},
                                  {"error", e.what()},
                                  {"remote", req.remote_addr}});
    finish();
    return;
  }
  labels.operation = review.operation;  // one of four: the decoder refuses any other

  // 3. Decision on the current policy.
  auto policy = policies.current();
  if (!policy) {
    labels.reason = "no-policy";
    set_error(res, 503, "no policy loaded");
    finish();
    return;
  }
  labels.kind = metric_kind(review.kind, *policy);
  AdmissionEnv env;
  std::shared_ptr<const std::vector<std::string>> models;
  std::shared_ptr<const policy::DraContext> dra;
  if (cluster) {
    models = cluster->available_models(*policy);
    env.available_models = models.get();
    dra = cluster->dra_context();
    env.dra = dra.get();
    env.namespace_labels = [this](const std::string& ns) { return cluster->namespace_labels(ns); };
    env.annotate_admission_uid = true;
    env.allow_when_ledger_unavailable = options.cluster.allow_when_ledger_unavailable;
  }
  env.record_allows = options.decision_sink && options.decision_sink->wants_allows();
  AdmissionOutcome outcome = handle_admission(review, endpoint, *policy, *ledger, env);
  if (outcome.ledger_unavailable) metrics.ledger_unavailable();
  res.set_content(encode_admission_review(outcome.response), "application/json");
  labels.decision = outcome.decision;
  labels.tier = outcome.tier;
  labels.jurisdiction = outcome.jurisdiction;
  labels.reason = std::string(denial_reason(outcome.code));
  finish();

  if (outcome.usage) update_tpp_gauges(*outcome.usage);
  if (!outcome.record.is_null()) {
    outcome.record["endpoint"] = labels.endpoint;
    if (options.decision_sink) options.decision_sink->record(outcome.record);
    if (cluster && outcome.decision == "deny") {
      cluster->recent_denials().record(outcome.record, std::chrono::system_clock::now());
    }
    // Allow records exist for the decision log (--decision-log-all, and namespace relabels by an
    // admin); stderr keeps deny/warn and the relabels.
    if (outcome.decision != "allow" || outcome.record.value("code", "") == "namespace-label-change")
      log.info("decision", {{"decision_record", std::move(outcome.record)}});
  } else if (log.enabled(LogLevel::kDebug)) {
    log.debug("admission", {{"uid", review.uid},
                            {"endpoint", labels.endpoint},
                            {"operation", review.operation},
                            {"kind", review.kind.kind},
                            {"namespace", review.namespace_},
                            {"name", review.name},
                            {"decision", outcome.decision}});
  }
}

void Server::Impl::install_routes() {
  auto& s = *http;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    connections.set_busy(req.ssl, true);
    size_t header_bytes = 0;
    for (const auto& [k, v] : req.headers) header_bytes += k.size() + v.size() + 4;
    if (header_bytes > kMaxHeaderBytes) {
      res.set_header("Connection", "close");
      connections.close_after_response(req.ssl);
      set_error(res, 431, "request headers exceed " + std::to_string(kMaxHeaderBytes) + " bytes");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Runs after the response is written.
  s.set_logger([this](const httplib::Request& req, const httplib::Response&) {
    connections.response_done(req.ssl);
  });
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string msg = res.status == 404   ? "no such endpoint: " + req.path
                      : res.status == 414 ? std::string("request URI too long")
                                          : "bad request (HTTP " + std::to_string(res.status) + ")";
    res.set_content(error_body(res.status, msg), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log.error("internal error", {{"path", req.path}, {"error", what}});
        set_error(res, 500, "internal error: " + what);
      });

  for (auto endpoint : {Endpoint::kValidate, Endpoint::kMutate}) {
    const std::string path = "/" + endpoint_name(endpoint);
    s.Post(path, [this, endpoint](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
      handle_review(endpoint, req, res, reader);
    });
    auto wrong_method = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", "POST");
      set_error(res, 405, "method " + req.method + " not allowed on " + req.path + "; use POST");
    };
    s.Get(path, wrong_method);
    s.Put(path, wrong_method);
    s.Patch(path, wrong_method);
    s.Delete(path, wrong_method);
    s.Options(path, wrong_method);
  }
  if (options.constant_endpoint) {
    s.Post("/constant", [](const httplib::Request&, httplib::Response& res,
                           const httplib::ContentReader& reader) {
      std::string body;
      reader([&](const char* data, size_t n) {
        body.append(data, n);
        return true;
      });
      static const std::string kConstant =
          R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
          R"({"uid":"00000000-0000-0000-0000-000000000000","allowed":true}})";
      res.set_content(kConstant, "application/json");
    });
  }
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (draining) {
      res.status = 503;
      res.set_content("not ready: shutting down\n", "text/plain");
    } else if (!policies.current() || !certificates.current()) {
      res.status = 503;
      res.set_content("not ready: no policy or certificate loaded\n", "text/plain");
    } else if (cluster && !cluster->synced()) {
      res.status = 503;
      res.set_content("not ready: caches of the Kubernetes API not synced yet\n", "text/plain");
    } else {
      res.set_content("ok\n", "text/plain");
    }
  });
}

void Server::Impl::run_reaper() {
  const auto busy_limit = options.request_timeout;
  const auto idle_limit = std::chrono::milliseconds(options.keep_alive_timeout_seconds * 1000) +
                          options.request_timeout;
  const size_t shed_headroom = std::max<size_t>(2, options.max_threads / 16);
  const auto period = std::clamp(options.request_timeout / 4, std::chrono::milliseconds(50),
                                 std::chrono::milliseconds(1000));
  std::unique_lock lock(reaper_mu);
  while (!reaper_cv.wait_for(lock, period, [&] { return reaper_stop; })) {
    if (size_t n = connections.reap(Clock::now(), busy_limit, idle_limit)) {
      log.warn("closed connections stuck mid-request", {{"count", n}});
    }
    // httplib gives each connection a worker for its whole life: once (nearly) every worker
    // holds a connection, idle ones are closed so queued connections (the apiserver's next
    // request) get a worker within a period instead of after a keep-alive or handshake timeout.
    // Without this, a few thousand idle connections starve every real request.
    if (connections.open_count() + shed_headroom >= options.max_threads) {
      if (size_t n = connections.shed_idle(Clock::now(), kShedMinIdle)) {
        log.warn("all workers busy: closed idle connections", {{"count", n}});
      }
    }
  }
}

// Without --client-ca the port answers anyone who reaches it; say plainly what such a caller can
// do to the usage count, at every start (issue 13).
void Server::Impl::warn_open_port() {
  auto& m = *this;
  if (!m.options.client_ca.empty()) return;
  if (m.cluster) {
    m.log.warn(
        "no --client-ca: anything that reaches the webhook port can send AdmissionReviews; in "
        "cluster mode it can reserve TPP (until the reconciler expires the reservation) and see "
        "decisions, but not release usage, which follows the Pods the API server reports",
        {{"listen", m.options.host + ":" + std::to_string(m.port)},
         {"fix",
          "--client-ca with the CA of the API server's webhook client certificate, or a "
          "NetworkPolicy that admits only the API server (chart: networkPolicy.enabled)"}});
    return;
  }
  m.log.warn(
      "standalone mode without --client-ca: anything that reaches the webhook port can send "
      "AdmissionReviews that reserve TPP (exhausting a tenant's cap) and Pod DELETE reviews that "
      "release a pod's reservation, so a tenant who reaches the port can run past its cap",
      {{"listen", m.options.host + ":" + std::to_string(m.port)},
       {"fix",
        "--client-ca with the CA of the API server's webhook client certificate, or a "
        "NetworkPolicy that admits only the API server (chart: networkPolicy.enabled), or "
        "cluster mode (usage from the Pods the API server reports)"}});
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  // The watchers started by start() compare with the files as they were before these loads, so
  // a change in between is reloaded rather than missed.
  impl_->policy_baseline = FileWatcher::signature_of({impl_->options.policy.file});
  impl_->cert_baseline =
      FileWatcher::signature_of({impl_->options.tls_cert, impl_->options.tls_key});
  impl_->load_initial_policy();
  impl_->load_certificate(true);
  if (impl_->options.cluster.enabled()) {
    try {
      impl_->cluster = std::make_unique<KubeCluster>(impl_->options.cluster, impl_->policies,
                                                     impl_->metrics, impl_->log);
    } catch (const std::exception& e) {
      throw StartupError(std::string("cluster mode: ") + e.what());
    }
    impl_->ledger = &impl_->cluster->ledger();
  }
}

Server::~Server() {
  shutdown();
}

void Server::start() {
  auto& m = *impl_;
  if (m.started.exchange(true)) return;
  m.tls_options.certificates = &m.certificates;
  m.tls_options.connections = &m.connections;
  m.tls_options.client_ca_file = m.options.client_ca;
  std::string tls_error;
  m.http = std::make_unique<HttpsServer>([&](SSL_CTX& ctx) {
    try {
      configure_server_context(ctx, m.tls_options);
      return true;
    } catch (const TlsError& e) {
      tls_error = e.what();
      return false;
    }
  });
  if (!m.http->is_valid()) throw StartupError("cannot set up TLS: " + tls_error);

  auto& s = *m.http;
  // Without TCP_NODELAY every response waits ~40 ms for a delayed ACK (see DESIGN.md).
  s.set_tcp_nodelay(true);
  // Only SO_REUSEADDR: httplib's default also sets SO_REUSEPORT, which would let a second
  // instance bind the same port silently instead of failing.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_keep_alive_max_count(kKeepAliveMaxCount);
  s.set_keep_alive_timeout(m.options.keep_alive_timeout_seconds);
  s.set_read_timeout(m.options.read_timeout);
  s.set_write_timeout(m.options.write_timeout);
  s.set_payload_max_length(m.options.max_body_bytes);
  const size_t min_threads = m.options.min_threads, max_threads = m.options.max_threads;
  // httplib takes ownership of the queue it gets from this factory.
  s.new_task_queue = [min_threads, max_threads] {
    return new ElasticThreadPool(min_threads, max_threads);
  };
  m.install_routes();

  if (m.options.port == 0) {
    m.port = s.bind_to_any_port(m.options.host);
  } else {
    m.port = s.bind_to_port(m.options.host, m.options.port) ? m.options.port : -1;
  }
  if (m.port <= 0) {
    throw StartupError("cannot listen on " + m.options.host + ":" + std::to_string(m.options.port) +
                       " (address in use or not local?)");
  }
  m.http->set_backlog(kListenBacklog);

  if (!m.options.metrics_listen.empty()) {
    try {
      m.metrics_endpoint =
          std::make_unique<MetricsEndpoint>(m.options.metrics_listen, m.metrics.registry(), [&m] {
            // synced() also sets exportgate_cache_synced; without this a replica whose DRA
            // caches synced after its last readiness probe kept reporting 0.
            if (m.cluster) m.cluster->synced();
          });
    } catch (const std::exception& e) {
      throw StartupError(e.what());
    }
  }

  m.listen_thread = std::thread([&m] { m.http->listen_after_bind(); });
  // stop() is a no-op until the listen loop runs; wait for it so shutdown() cannot race it.
  for (int i = 0; i < 5000 && !m.http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  m.reaper_thread = std::thread([&m] { m.run_reaper(); });
  if (m.cluster) m.cluster->start();

  if (!m.options.policy.file.empty()) {
    m.policy_watcher = std::make_unique<FileWatcher>(
        std::vector<std::string>{m.options.policy.file}, m.options.reload_interval,
        [&m] { m.reload_policy(); }, m.policy_baseline);
  }
  if (!m.options.tls_cert.empty()) {
    m.cert_watcher = std::make_unique<FileWatcher>(
        std::vector<std::string>{m.options.tls_cert, m.options.tls_key}, m.options.reload_interval,
        [&m] { m.load_certificate(false); }, m.cert_baseline);
  }
  m.log.info("serving",
             {{"listen", m.options.host + ":" + std::to_string(m.port)},
              {"metrics", m.options.metrics_listen.empty() ? "disabled" : m.options.metrics_listen},
              {"max_threads", m.options.max_threads},
              {"max_body_bytes", m.options.max_body_bytes},
              {"client_ca", m.options.client_ca}});
  m.warn_open_port();
}

void Server::shutdown() {
  auto& m = *impl_;
  if (!m.started || m.stopped.exchange(true)) return;
  m.draining = true;
  m.log.info("shutting down: readiness fails now",
             {{"delay_ms", m.options.shutdown_delay.count()}});
  std::this_thread::sleep_for(m.options.shutdown_delay);

  m.policy_watcher.reset();
  m.cert_watcher.reset();
  if (m.http) m.http->stop();  // no new connections
  const auto deadline = Clock::now() + m.options.drain_timeout;
  while (m.connections.open_count() > 0 && Clock::now() < deadline) {
    m.connections.close_idle();  // in-flight requests finish; idle keep-alives close now
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (size_t n = m.connections.close_all()) {
    m.log.warn("drain timeout: closed connections still open", {{"count", n}});
  }
  if (m.listen_thread.joinable()) m.listen_thread.join();
  {
    std::lock_guard lock(m.reaper_mu);
    m.reaper_stop = true;
  }
  m.reaper_cv.notify_all();
  if (m.reaper_thread.joinable()) m.reaper_thread.join();
  // After the drain: in-flight reservations finished; a leader hands its Lease back.
  if (m.cluster) m.cluster->stop();
  m.metrics_endpoint.reset();
  m.log.info("stopped");
}

int Server::port() const {
  return impl_->port;
}
int Server::metrics_port() const {
  return impl_->metrics_endpoint ? impl_->metrics_endpoint->port() : 0;
}
bool Server::ready() const {
  return impl_->started && !impl_->draining && impl_->policies.current() != nullptr &&
         (!impl_->cluster || impl_->cluster->synced());
}
size_t Server::open_connections() const {
  return impl_->connections.open_count();
}
Metrics& Server::metrics() {
  return impl_->metrics;
}
Logger& Server::logger() {
  return impl_->log;
}

}  // namespace exportgate::webhook
