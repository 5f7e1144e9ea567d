// One audit pass against the API (see audit_run.hpp).
#include "webhook/audit_run.hpp"

#include <functional>
#include <memory>

#include "policy/dra_charge.hpp"
#include "policy/errors.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/kube_list.hpp"
#include "webhook/kube_watch.hpp"

namespace exportgate::webhook {

namespace {

using nlohmann::json;

std::string collection_path(const AuditedKind& k, const std::string& ns) {
  std::string p = k.group.empty() ? "/api/" + k.version : "/apis/" + k.group + "/" + k.version;
  if (!ns.empty()) p += "/namespaces/" + ns;
  return p + "/" + k.resource;
}

std::string api_version_of(const AuditedKind& k) {
  return k.group.empty() ? k.version : k.group + "/" + k.version;
}

[[noreturn]] void incomplete(const KubeResponse& res, const std::string& what) {
  throw AuditApiError(what + ": API server answered " + res.describe() +
                      (res.status == 401 || res.status == 403
                           ? " (the audit needs list on Pods, Namespaces and the workload kinds)"
                           : ""));
}

// Lists a collection page by page, calling `each` for every item as soon as it is parsed (a page
// of 500 Pods parsed whole was ~14 MiB of JSON while the pass ran: issue 19). Returns false when
// the collection is not served (404).
bool list_pages(KubeClient& client, const std::string& path, int limit,
                const std::function<void(json&)>& each,
                const std::function<bool()>& cancelled = nullptr) {
  ListPaging paging;
  paging.limit = limit;
  paging.before_request = [&] {
    if (cancelled && cancelled()) throw AuditApiError("audit cancelled");
  };
  paging.on_item = each;
  paging.on_refused = [](const KubeResponse& res, const std::string& url,
                         bool continued) -> PageRefused {
    if (res.status == 404 && !continued) return PageRefused::kStop;
    // 410 on a continued list: the snapshot expired (compaction) mid-way; a partial list would
    // hide objects, so the pass fails and is run again.
    incomplete(res, "GET " + url);
  };
  paging.on_page = [](const ListPage& page, const std::string& url) {
    if (!page.is_list) throw AuditApiError("GET " + url + ": the answer is not a list");
  };
  try {
    return for_each_page(client, path, paging);
  } catch (const ListDecodeError& e) {
    throw AuditApiError(e.what());  // names the URL
  }
}

// Finds version and plural resource of a custom kind through discovery; sets `skipped` when the
// group or the kind is not served.
void discover(KubeClient& client, AuditedKind& k) {
  KubeResponse group = client.get("/apis/" + k.group);
  if (group.status == 404) {
    k.skipped = "API group " + k.group + " not served (404)";
    return;
  }
  if (!group.ok()) incomplete(group, "GET /apis/" + k.group);
  const json g = group.json();
  std::string group_version;
  if (auto pv = g.find("preferredVersion"); pv != g.end() && pv->is_object()) {
    group_version = pv->value("groupVersion", "");
  }
  if (group_version.empty()) {
    k.skipped = "API group " + k.group + " has no preferred version";
    return;
  }
  KubeResponse resources = client.get("/apis/" + group_version);
  if (resources.status == 404) {
    k.skipped = group_version + " not served (404)";
    return;
  }
  if (!resources.ok()) incomplete(resources, "GET /apis/" + group_version);
  const json r = resources.json();
  if (auto list = r.find("resources"); list != r.end() && list->is_array()) {
    for (const auto& res : *list) {
      if (!res.is_object() || res.value("kind", "") != k.kind) continue;
      const std::string name = res.value("name", "");
      if (name.empty() || name.find('/') != std::string::npos) continue;  // subresources
      k.version = group_version.substr(group_version.find('/') + 1);
      k.resource = name;
      return;
    }
  }
  k.skipped = "kind " + k.kind + " not served by " + group_version;
}

// Accelerator models on the Nodes; null (whole catalog, as the webhook falls back to) when the
// Nodes cannot be read, with a note saying so.
std::unique_ptr<std::vector<std::string>> node_models(KubeClient& client,
                                                      const policy::Policy& policy,
                                                      std::vector<std::string>& notes) {
  std::vector<Labels> nodes;
  try {
    list_pages(client, "/api/v1/nodes", 500, [&](json& node) {
      if (auto labels = project_node(node)) nodes.push_back(std::move(*labels));
    });
  } catch (const AuditApiError& e) {
    notes.push_back(std::string("nodes not readable, unpinned requests are charged as the most "
                                "capable catalog model: ") +
                    e.what());
    return nullptr;
  }
  std::vector<const Labels*> refs;
  for (const auto& n : nodes) refs.push_back(&n);
  return std::make_unique<std::vector<std::string>>(models_on_nodes(refs, policy));
}

}  // namespace

std::vector<AuditedKind> audited_kinds(const policy::Policy& policy) {
  auto kind = [](std::string group, std::string version, std::string resource, std::string k) {
    AuditedKind a;
    a.group = std::move(group);
    a.version = std::move(version);
    a.resource = std::move(resource);
    a.kind = std::move(k);
    return a;
  };
  std::vector<AuditedKind> kinds = {
      kind("", "v1", "pods", "Pod"),
      kind("", "v1", "replicationcontrollers", "ReplicationController"),
      kind("apps", "v1", "deployments", "Deployment"),
      kind("apps", "v1", "replicasets", "ReplicaSet"),
      kind("apps", "v1", "statefulsets", "StatefulSet"),
      kind("apps", "v1", "daemonsets", "DaemonSet"),
      kind("batch", "v1", "jobs", "Job"),
      kind("batch", "v1", "cronjobs", "CronJob"),
      kind("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim"),
  };
  for (const auto& w : policy.workload_kinds) {
    if (w.group.empty()) continue;  // core kinds are all listed above
    kinds.push_back(kind(w.group, "", "", w.kind));
  }
  return kinds;
}

AuditRun run_audit(KubeClient& client, const policy::Policy& policy,
                   const AuditRunOptions& options) {
  AuditRun run;
  run.time = std::chrono::system_clock::now();
  const KubeConfig& config = client.config();
  run.server = config.scheme + "://" + config.host + ":" + std::to_string(config.port);
  const std::string& ns = options.namespace_;

  const auto models = node_models(client, policy, run.notes);
  // DRA classes and published devices first: an allocated claim is charged as its devices.
  policy::DraContext dra;
  for (const char* path :
       {"/apis/resource.k8s.io/v1/deviceclasses", "/apis/resource.k8s.io/v1/resourceslices"}) {
    list_pages(
        client, path, options.page_size,
        [&](json& object) {
          object["apiVersion"] = "resource.k8s.io/v1";
          object["kind"] =
              std::string(path).ends_with("deviceclasses") ? "DeviceClass" : "ResourceSlice";
          try {
            dra.add_object(object);
          } catch (const policy::ManifestError&) {
            // unreadable: not known, so what it would narrow is the worst case
          }
        },
        options.cancelled);
  }
  policy::AuditOptions audit_options;
  audit_options.available_models = models.get();
  audit_options.dra = &dra;
  audit_options.check_caps = ns.empty();
  policy::Auditor auditor(policy, audit_options);
  if (!ns.empty()) {
    run.notes.push_back("namespace " + ns +
                        " only: tenant and jurisdiction caps are not checked (they need the "
                        "Pods of all namespaces)");
  }

  // Namespace labels first: every object's tenant and jurisdiction come from them.
  if (ns.empty()) {
    list_pages(
        client, "/api/v1/namespaces", options.page_size,
        [&](json& n) {
          auto labels = project_namespace(n);
          auditor.set_namespace_labels(object_key(n), labels.value_or(Labels{}));
        },
        options.cancelled);
  } else {
    KubeResponse res = client.get("/api/v1/namespaces/" + url_encode(ns));
    if (!res.ok()) incomplete(res, "namespace " + ns);
    auditor.set_namespace_labels(ns, project_namespace(res.json()).value_or(Labels{}));
  }

  run.kinds = audited_kinds(policy);
  for (auto& k : run.kinds) {
    if (k.resource.empty()) discover(client, k);
    if (!k.skipped.empty()) continue;
    const std::string api_version = api_version_of(k);
    const bool served = list_pages(
        client, collection_path(k, ns), options.page_size,
        [&](json& object) {
          // List items of built-in kinds carry no apiVersion/kind.
          object["apiVersion"] = api_version;
          object["kind"] = k.kind;
          ++k.objects;
          auditor.add(object);
        },
        options.cancelled);
    if (!served) {
      k.skipped = api_version + " " + k.resource + " not served (404)";
      continue;
    }
    k.listed = true;
  }
  run.report = std::move(auditor).finish();
  return run;
}

}  // namespace exportgate::webhook
