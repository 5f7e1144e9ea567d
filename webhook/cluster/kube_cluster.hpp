// Cluster mode at run time: the API client, the Namespace/Node/Pod/TPPLedger caches, the shared
// usage ledger, the Lease, the reconciler and the background audit, started and stopped together
// by the server.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "webhook/audit_loop.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/kube_dra_cache.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/kube_options.hpp"
#include "webhook/kueue_check.hpp"
#include "webhook/lease.hpp"
#include "webhook/ledger_cluster.hpp"
#include "webhook/log.hpp"
#include "webhook/policy_store.hpp"
#include "webhook/reconciler.hpp"

namespace exportgate::webhook {

class Metrics;

class KubeCluster {
 public:
  // Reads the credentials and checks them; throws KubeConfigError.
  KubeCluster(const ClusterOptions& options, PolicyStore& policies, Metrics& metrics, Logger& log);
  ~KubeCluster();
  KubeCluster(const KubeCluster&) = delete;
  KubeCluster& operator=(const KubeCluster&) = delete;

  void start();
  void stop();

  // Every cache has listed once (then stays true through API outages: decisions use the caches).
  bool synced() const;
  // The exportgate.io/ labels of a namespace: the cache, else one GET (a namespace created a
  // moment ago); nullopt when it does not exist or the API cannot say.
  std::optional<Labels> namespace_labels(const std::string& ns);
  // Models present on the cluster's Nodes for `policy`'s catalog (recomputed when Nodes change).
  std::shared_ptr<const std::vector<std::string>> available_models(const policy::Policy& policy);
  // DRA classes, slices, claims and templates as cached now (empty until listed).
  std::shared_ptr<const policy::DraContext> dra_context() { return dra_.context(); }
  ClusterLedger& ledger() { return *ledger_; }
  // Admission denials this replica made, for the PolicyReports it writes while holding the Lease.
  RecentDenials& recent_denials() { return denials_; }
  const ClusterOptions& options() const { return options_; }
  const std::string& ledger_namespace() const { return ledger_namespace_; }

 private:
  void refresh_gauges();
  void recharge_pods(const policy::Policy& policy);

  ClusterOptions options_;
  PolicyStore& policies_;
  Metrics& metrics_;
  Logger& log_;
  std::string ledger_namespace_;
  std::unique_ptr<KubeClient> client_;
  ObjectStore<Labels> namespaces_;
  ObjectStore<Labels> nodes_;
  ObjectStore<PodInfo> pods_;
  std::unique_ptr<ClusterLedger> ledger_;
  std::vector<std::unique_ptr<Informer>> informers_;
  Informer* pods_informer_ = nullptr;  // one of informers_: how far the Pod cache is
  // Not part of synced(): a cluster without resource.k8s.io/v1 must still become ready, and a DRA
  // object not cached yet is charged as the worst case.
  DraCaches dra_;
  std::vector<std::unique_ptr<Informer>> dra_informers_;
  std::unique_ptr<Reconciler> reconciler_;
  RecentDenials denials_;
  std::unique_ptr<AuditLoop> audit_;
  std::unique_ptr<KueueCheckController> kueue_;  // null unless --kueue-admission-check
  std::unique_ptr<LeaseElector> lease_;

  std::mutex models_mu_;
  uint64_t models_nodes_version_ = ~0ULL;
  std::string models_policy_hash_;
  std::shared_ptr<const std::vector<std::string>> models_;
  bool started_ = false;
};

}  // namespace exportgate::webhook
