// The webhook server (see server.hpp). Request flow: the listener (https_listener.hpp) reads a
// whole request within the header, body and time limits, or answers the refusal itself
// (on_rejected counts it); route() sends /validate and /mutate to handle_review, which decodes
// the AdmissionReview, runs handle_admission on the current policy, answers, and records metrics
// and decision logs.
#include "webhook/server.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "policy/errors.hpp"
#include "policy/in_force.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/file_watcher.hpp"
#include "webhook/https_listener.hpp"
#include "webhook/kube_cluster.hpp"
#include "webhook/metric_labels.hpp"
#include "webhook/metrics.hpp"
#include "webhook/thread_pool.hpp"
#include "webhook/tls_context.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The apiserver opens many connections at once: a deep accept queue.
constexpr int kListenBacklog = 1024;
// Requests with more header bytes than this get 431.
constexpr size_t kMaxHeaderBytes = 64 * 1024;

std::string endpoint_name(Endpoint e) {
  return e == Endpoint::kValidate ? "validate" : "mutate";
}

bool is_json_content_type(const std::string& value) {
  std::string media = value.substr(0, value.find(';'));
  media.erase(std::remove_if(media.begin(), media.end(), ::isspace), media.end());
  std::transform(media.begin(), media.end(), media.begin(), ::tolower);
  return media == "application/json";
}

void set_error(HttpResponse& res, int code, const std::string& message) {
  res.status = code;
  res.content_type = "application/json";
  res.body = error_body(code, message);
}

void set_text(HttpResponse& res, int code, std::string text) {
  res.status = code;
  res.content_type = "text/plain";
  res.body = std::move(text);
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
  TlsContextOptions tls_options;
  std::unique_ptr<HttpsListener> http;
  // Declared after the listener, so it is destroyed (its queued handlers run, their sessions
  // released) before the listener those sessions belong to. Cluster mode only: handlers there
  // may block on the ledger.
  std::unique_ptr<ElasticThreadPool> pool;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint;
  std::unique_ptr<FileWatcher> policy_watcher;
  std::unique_ptr<FileWatcher> cert_watcher;
  std::string policy_baseline;  // the watched files before the initial loads
  std::string cert_baseline;
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
  void route(const HttpRequest& req, HttpResponse& res);
  void on_rejected(const RejectedRequest& r);
  void handle_review(Endpoint endpoint, const HttpRequest& req, HttpResponse& res);
  void update_tpp_gauges(const UsageScope& scope);
  void warn_open_port();
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

// Answers the transport gave itself (oversized, incomplete or malformed requests): counted and
// logged like the handler's own refusals when they were meant for an admission endpoint.
void Server::Impl::on_rejected(const RejectedRequest& r) {
  if (r.path == "/validate" || r.path == "/mutate") {
    RequestLabels labels;
    labels.endpoint = r.path.substr(1);
    labels.decision = "error";
    labels.reason = "malformed";
    metrics.observe_request(labels, 0.0);
  }
  log.warn(
      "rejected request",
      {{"path", r.path}, {"status", r.status}, {"error", r.message}, {"remote", r.remote_addr}});
}

void Server::Impl::handle_review(Endpoint endpoint, const HttpRequest& req, HttpResponse& res) {
  const auto start = Clock::now();
  RequestLabels labels;
  labels.endpoint = endpoint_name(endpoint);
  labels.decision = "error";
  labels.reason = "malformed";  // until the review is decoded: content type, shape
  auto finish = [&] {
    metrics.observe_request(labels, std::chrono::duration<double>(Clock::now() - start).count());
  };
  // 1. The body arrived whole and within --max-body-bytes (the transport refuses others).
  const std::string& body = req.body;

  // 2. Content type and AdmissionReview shape.
  if (!is_json_content_type(req.header("Content-Type"))) {
    set_error(res, 415,
              "Content-Type must be application/json, not \"" + req.header("Content-Type") + "\"");
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
  res.content_type = "application/json";
  res.body = encode_admission_review(outcome.response);
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

void Server::Impl::route(const HttpRequest& req, HttpResponse& res) {
  try {
    for (auto endpoint : {Endpoint::kValidate, Endpoint::kMutate}) {
      if (req.path != "/" + endpoint_name(endpoint)) continue;
      if (req.method == "POST") return handle_review(endpoint, req, res);
      res.headers.emplace_back("Allow", "POST");
      return set_error(res, 405,
                       "method " + req.method + " not allowed on " + req.path + "; use POST");
    }
    if (req.path == "/constant" && options.constant_endpoint && req.method == "POST") {
      static const std::string kConstant =
          R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
          R"({"uid":"00000000-0000-0000-0000-000000000000","allowed":true}})";
      res.content_type = "application/json";
      res.body = kConstant;
      return;
    }
    if (req.path == "/healthz" && req.method == "GET") return set_text(res, 200, "ok\n");
    if (req.path == "/readyz" && req.method == "GET") {
      if (draining) return set_text(res, 503, "not ready: shutting down\n");
      if (!policies.current() || !certificates.current()) {
        return set_text(res, 503, "not ready: no policy or certificate loaded\n");
      }
      if (cluster && !cluster->synced()) {
        return set_text(res, 503, "not ready: caches of the Kubernetes API not synced yet\n");
      }
      return set_text(res, 200, "ok\n");
    }
    set_error(res, 404, "no such endpoint: " + req.path);
  } catch (const std::exception& e) {
    log.error("internal error", {{"path", req.path}, {"error", e.what()}});
    res = HttpResponse{};
    set_error(res, 500, std::string("internal error: ") + e.what());
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
  m.tls_options.client_ca_file = m.options.client_ca;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw StartupError("cannot set up TLS: " + openssl_error_text());
  try {
    configure_server_context(*ctx, m.tls_options);
  } catch (const TlsError& e) {
    SSL_CTX_free(ctx);
    throw StartupError(std::string("cannot set up TLS: ") + e.what());
  }
  if (m.cluster)
    m.pool = std::make_unique<ElasticThreadPool>(m.options.min_threads, m.options.max_threads);
  HttpsListenerOptions lo;
  lo.host = m.options.host;
  lo.port = m.options.port;
  lo.backlog = kListenBacklog;
  lo.max_header_bytes = kMaxHeaderBytes;
  lo.max_body_bytes = m.options.max_body_bytes;
  lo.read_timeout = m.options.read_timeout;
  lo.write_timeout = m.options.write_timeout;
  lo.keep_alive_timeout = std::chrono::seconds(m.options.keep_alive_timeout_seconds);
  lo.request_timeout = m.options.request_timeout;
  try {
    m.http = std::make_unique<HttpsListener>(
        lo, ctx, [&m](const HttpRequest& req, HttpResponse& res) { m.route(req, res); },
        [](int status, const std::string& message) { return error_body(status, message); },
        [&m](const RejectedRequest& r) { m.on_rejected(r); }, m.pool.get());
  } catch (const std::exception& e) {
    throw StartupError("cannot listen on " + m.options.host + ":" + std::to_string(m.options.port) +
                       " (" + e.what() + ")");
  }
  m.port = m.http->port();

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

  m.http->start();
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
  if (m.http) {
    m.http->stop_accepting();
    const auto deadline = Clock::now() + m.options.drain_timeout;
    while (m.http->open_count() > 0 && Clock::now() < deadline) {
      m.http->close_idle();  // in-flight requests finish; idle keep-alives close now
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (size_t n = m.http->close_all()) {
      m.log.warn("drain timeout: closed connections still open", {{"count", n}});
    }
    m.http->stop();
  }
  if (m.pool) m.pool->shutdown();
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
  return impl_->http ? impl_->http->open_count() : 0;
}
Metrics& Server::metrics() {
  return impl_->metrics;
}
Logger& Server::logger() {
  return impl_->log;
}

}  // namespace exportgate::webhook
