// Cluster mode wiring (see kube_cluster.hpp).
#include "webhook/kube_cluster.hpp"

#include <unistd.h>

#include <cstdio>
#include <random>

#include "webhook/host_name.hpp"
#include "webhook/metrics.hpp"
#include "webhook/resource_version.hpp"

namespace exportgate::webhook {

namespace {

KubeConfig load_config(const ClusterOptions& o) {
  return o.in_cluster ? load_in_cluster() : load_kubeconfig(o.kubeconfig);
}

std::string default_identity() {
  const std::string host = host_name();
  return (host.empty() ? "exportgate" : host) + "-" + std::to_string(getpid());
}

// metadata.resourceVersion as a number; 0 when it is not one.
uint64_t revision_of(const nlohmann::json& object) {
  const auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return 0;
  const auto rv = m->find("resourceVersion");
  if (rv == m->end() || !rv->is_string()) return 0;
  return parse_resource_version(rv->get_ref<const std::string&>()).value_or(0);
}

std::string random_nonce() {
  std::random_device rd;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return buf;
}

}  // namespace

KubeCluster::KubeCluster(const ClusterOptions& options, PolicyStore& policies, Metrics& metrics,
                         Logger& log)
    : options_(options),
      policies_(policies),
      metrics_(metrics),
      log_(log),
      namespaces_(project_namespace),
      nodes_(project_node),
      pods_([this](const nlohmann::json& pod) -> std::optional<PodInfo> {
        auto policy = policies_.current();
        if (!policy) return std::nullopt;
        auto models = available_models(*policy);
        auto info = project_pod(pod, *policy, models.get());
        // A Pod admitted under this replica's lease: once the ledger's count reaches this
        // revision, its admission needs no reservation.
        if (info && !info->admission_uid.empty() && ledger_) {
          ledger_->pod_seen(
              info->admission_uid.str(),
              PodClaim{info->namespace_.str(), std::string(info->name()), info->controlled_tpp,
                       info->in_use(std::chrono::system_clock::now())},
              revision_of(pod));
        }
        return info;
      }) {
  KubeConfig config = load_config(options_);
  ledger_namespace_ = options_.ledger_namespace;
  if (ledger_namespace_.empty()) {
    ledger_namespace_ =
        options_.in_cluster && !config.namespace_.empty() ? config.namespace_ : "exportgate-system";
  }
  if (options_.identity.empty()) options_.identity = default_identity();
  log_.info("cluster mode",
            {{"api", config.scheme + "://" + config.host + ":" + std::to_string(config.port)},
             {"credentials", config.origin},
             {"ledger_namespace", ledger_namespace_},
             {"identity", options_.identity}});
  KubeTimeouts timeouts;
  timeouts.request = options_.ledger_timeout;
  client_ = std::make_unique<KubeClient>(std::move(config), timeouts);

  LedgerOptions lo;
  lo.namespace_ = ledger_namespace_;
  lo.deadline = options_.ledger_timeout;
  lo.leases.enabled = options_.ledger_leases;
  // A restarted replica (same pod name, same pid 1) must never take an old lease for its own.
  lo.leases.holder = options_.identity + "/" + random_nonce();
  ledger_ = std::make_unique<ClusterLedger>(*client_, lo, &metrics_, log_);

  ReconcilerOptions ro;
  ro.interval = options_.reconcile_interval;
  ro.reservation_ttl = options_.reservation_ttl;
  ro.lease_term = lo.leases.term;
  reconciler_ = std::make_unique<Reconciler>(
      ReconcilerInputs{
          &pods_, &namespaces_, [this] { return synced(); },
          [this](const policy::Policy& policy) { recharge_pods(policy); }, &policies_,
          ledger_.get(),
          [this](const policy::Policy& policy) {
            return dra_claims_in_use(*dra_.context(), policy);
          },
          [this]() -> uint64_t { return pods_informer_ ? pods_informer_->applied_through() : 0; }},
      ro, metrics_, log_);

  AuditLoopOptions audit;
  audit.interval = options_.audit_interval;
  audit.identity = options_.identity;
  audit.denials = &denials_;
  audit_ = std::make_unique<AuditLoop>(*client_, policies_, audit, metrics_, log_);

  if (options_.kueue_admission_check) {
    KueueCheckOptions ko;
    ko.interval = options_.kueue_interval;
    kueue_ = std::make_unique<KueueCheckController>(
        KueueCheckInputs{client_.get(), &policies_, ledger_.get(),
                         [this](const std::string& ns) { return namespace_labels(ns); },
                         [this](const policy::Policy& p) { return available_models(p); }},
        ko, log_);
  }

  auto add = [this](std::string path, InformerSink sink) {
    informers_.push_back(
        std::make_unique<Informer>(*client_, std::move(path), std::move(sink), log_));
  };
  add("/api/v1/namespaces", namespaces_.sink());
  add("/api/v1/nodes", nodes_.sink());
  add("/api/v1/pods", pods_.sink([this] { reconciler_->trigger(); }));
  pods_informer_ = informers_.back().get();
  add(ledger_->collection_path(), ledger_->sink([this] {
    refresh_gauges();
    // TPP freed (or taken): workloads waiting on a cap are judged again.
    if (kueue_) kueue_->trigger();
  }));
  dra_.add_informers(
      [this](std::string path, InformerSink sink) {
        dra_informers_.push_back(
            std::make_unique<Informer>(*client_, std::move(path), std::move(sink), log_));
      },
      [this] { reconciler_->trigger(); });

  LeaseOptions lease;
  lease.namespace_ = ledger_namespace_;
  lease.identity = options_.identity;
  lease.duration = options_.lease_duration;
  lease.retry_period =
      std::max(std::chrono::milliseconds(200),
               std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease_duration) / 4);
  lease_ = std::make_unique<LeaseElector>(*client_, lease, log_, [this](bool leading) {
    metrics_.set_leader(leading);
    reconciler_->set_active(leading);
    // The same Lease: one replica audits, the one that also keeps the ledger.
    audit_->set_active(leading);
    if (kueue_) kueue_->set_active(leading);
  });
}

KubeCluster::~KubeCluster() {
  stop();
}

void KubeCluster::start() {
  if (started_) return;
  started_ = true;
  for (auto& i : informers_) i->start();
  for (auto& i : dra_informers_) i->start();
  reconciler_->start();
  audit_->start();
  if (kueue_) kueue_->start();
  lease_->start();
}

void KubeCluster::stop() {
  if (!started_) return;
  started_ = false;
  lease_->stop();
  reconciler_->stop();
  audit_->stop();
  if (kueue_) kueue_->stop();
  client_->cancel_all();
  for (auto& i : informers_) i->stop();
  for (auto& i : dra_informers_) i->stop();
}

bool KubeCluster::synced() const {
  bool all = true;
  for (const auto& i : informers_) {
    const bool s = i->synced();
    metrics_.set_cache_synced(i->path(), s);
    all = all && s;
  }
  for (const auto& i : dra_informers_) metrics_.set_cache_synced(i->path(), i->synced());
  return all;
}

std::optional<Labels> KubeCluster::namespace_labels(const std::string& ns) {
  if (auto cached = namespaces_.get(ns)) return *cached;
  try {
    auto res =
        client_->request("GET", "/api/v1/namespaces/" + ns, "", std::chrono::milliseconds(1'000));
    if (res.ok()) return project_namespace(res.json());
  } catch (const KubeUnavailable&) {
  }
  return std::nullopt;
}

std::shared_ptr<const std::vector<std::string>> KubeCluster::available_models(
    const policy::Policy& policy) {
  const uint64_t version = nodes_.version();
  std::lock_guard lock(models_mu_);
  if (models_ && version == models_nodes_version_ && policy.hash == models_policy_hash_) {
    return models_;
  }
  auto nodes = nodes_.all();
  std::vector<const Labels*> labels;
  for (const auto& n : nodes) labels.push_back(n.get());
  models_ = std::make_shared<const std::vector<std::string>>(models_on_nodes(labels, policy));
  models_nodes_version_ = version;
  models_policy_hash_ = policy.hash;
  return models_;
}

void KubeCluster::recharge_pods(const policy::Policy& policy) {
  auto models = available_models(policy);
  const size_t n = webhook::recharge_pods(pods_, policy, models.get());
  if (n)
    log_.info("pods recharged under the current policy", {{"pods", n}, {"policy", policy.hash}});
}

void KubeCluster::refresh_gauges() {
  auto policy = policies_.current();
  for (const auto& [j, e] : ledger_->entries()) {
    if (j.empty()) continue;
    metrics_.set_tpp({"jurisdiction", j, e->state.in_use(),
                      policy ? policy->jurisdiction_cap(j) : std::nullopt, e->state.reserved()});
    for (const auto& [tenant, u] : e->state.tenants) {
      metrics_.set_tpp({"tenant", tenant, u.in_use, std::nullopt, u.reserved});
    }
  }
}

}  // namespace exportgate::webhook
