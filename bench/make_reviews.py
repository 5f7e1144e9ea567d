#!/usr/bin/env python3
"""Writes bench/reviews/*.json: realistic AdmissionReview v1 bodies, shaped like what the
kube-apiserver sends for pods created by controllers (managedFields, owner references, the
projected service-account volume, probes, tolerations...). The files are checked in; run this
only to change them. The micro benchmarks and the load benchmark read the same files."""
import copy
import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reviews")


def managed_fields(manager):
    return [{
        "manager": manager, "operation": "Update", "apiVersion": "v1",
        "time": "2025-03-01T10:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {},
                                                                         "f:pod-template-hash": {}},
                                    "f:ownerReferences": {".": {}, "k:{\"uid\":\"5f1c\"}": {}}},
                     "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                         ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                         "f:ports": {}, "f:resources": {}, "f:terminationMessagePath": {}}},
                         "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {},
                         "f:schedulerName": {}, "f:securityContext": {},
                         "f:terminationGracePeriodSeconds": {}}}}]


def container(name, image, requests, limits=None, env=8, ports=(8080,)):
    c = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": f"p{p}", "containerPort": p, "protocol": "TCP"} for p in ports],
        "env": [{"name": f"{name.upper()}_SETTING_{i}", "value": f"value-{i}-" + "x" * 12}
                for i in range(env)] + [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                             "fieldPath": "metadata.name"}}}],
        "resources": {"requests": requests, "limits": limits or dict(requests)},
        "volumeMounts": [{"name": "kube-api-access-7xq2p", "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": ports[0], "scheme": "HTTP"},
                          "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                          "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": ports[0], "scheme": "HTTP"},
                           "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1,
                           "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return c


def pod(name, namespace, app, containers, node_selector=None, owner_kind="ReplicaSet",
        extra_annotations=None, init_containers=None):
    spec = {
        "volumes": [{"name": "kube-api-access-7xq2p", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt",
                                                                  "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if init_containers:
        spec["initContainers"] = init_containers
    if node_selector:
        spec["nodeSelector"] = node_selector
    annotations = {"kubectl.kubernetes.io/restartedAt": "2025-03-01T10:00:00Z",
                   "prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
    annotations.update(extra_annotations or {})
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "generateName": name[:-5], "namespace": namespace,
            "uid": "9b0c7a52-7f7e-4c57-b6a5-0d1f3c2e4b11",
            "creationTimestamp": "2025-03-01T10:00:00Z",
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5d",
                       "app.kubernetes.io/part-of": app + "-suite",
                       "app.kubernetes.io/version": "1.4.2"},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1" if owner_kind != "Job" else "batch/v1",
                                 "kind": owner_kind, "name": name[:-6],
                                 "uid": "5f1c2d3e-1111-2222-3333-444455556666",
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": managed_fields("kube-controller-manager"),
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Guaranteed"},
    }


def review(obj, uid, resource="pods", group="", version="v1", user=None):
    ns = obj["metadata"]["namespace"]
    gvk = {"group": group, "version": version, "kind": obj["kind"]}
    gvr = {"group": group, "version": version, "resource": resource}
    return {
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"]["name"], "namespace": ns, "operation": "CREATE",
            "userInfo": {
                "username": user or "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "0e4c1a55-8b1d-4e2a-9f3b-6a7c8d9e0f12",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                           "system:authenticated"]},
            "object": obj, "oldObject": None, "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def gpu(n, resource="nvidia.com/gpu"):
    return {"cpu": "8", "memory": "64Gi", resource: str(n)}


def main():
    os.makedirs(HERE, exist_ok=True)
    small = {"cpu": "250m", "memory": "256Mi"}
    files = {}
    files["cpu-pod-web"] = review(pod("web-7d9f8c6b5d-x2k9p", "shop", "web",
                                      [container("app", "registry.example.com/shop/web:1.4.2",
                                                 small)]), "a1f0c3e2-0001-4000-8000-000000000001")
    files["cpu-pod-batch"] = review(pod("etl-28941230-q7wzc", "data", "etl",
                                        [container("etl", "registry.example.com/data/etl:2.0",
                                                   {"cpu": "2", "memory": "4Gi"}, env=24)],
                                        owner_kind="Job"),
                                    "a1f0c3e2-0002-4000-8000-000000000002",
                                    user="system:serviceaccount:kube-system:job-controller")
    files["cpu-pod-sidecar"] = review(pod(
        "checkout-5c8d7b9f4-mm2xq", "shop", "checkout",
        [container("app", "registry.example.com/shop/checkout:3.1", small),
         container("istio-proxy", "docker.io/istio/proxyv2:1.22.0",
                   {"cpu": "100m", "memory": "128Mi"}, env=30, ports=(15090, 15021))],
        init_containers=[container("istio-init", "docker.io/istio/proxyv2:1.22.0",
                                   {"cpu": "10m", "memory": "40Mi"}, env=2, ports=(15001,))],
        extra_annotations={"sidecar.istio.io/status": json.dumps(
            {"initContainers": ["istio-init"], "containers": ["istio-proxy"],
             "volumes": ["istio-envoy", "istio-data"], "revision": "default"})}),
        "a1f0c3e2-0003-4000-8000-000000000003")
    files["gpu-pod-h100-pinned"] = review(pod(
        "train-6f7d8c9b4-h100a", "team-us", "train",
        [container("trainer", "nvcr.io/nvidia/pytorch:24.05-py3", gpu(8))],
        node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
        "a1f0c3e2-0004-4000-8000-000000000004")
    files["gpu-pod-unpinned"] = review(pod(
        "infer-6f7d8c9b4-any1x", "team-us", "infer",
        [container("server", "nvcr.io/nvidia/tritonserver:24.05-py3", gpu(1))]),
        "a1f0c3e2-0005-4000-8000-000000000005")
    files["gpu-pod-mig-tier2"] = review(pod(
        "notebook-5d6c7b8a9-mig2x", "team-sg", "notebook",
        [container("jupyter", "jupyter/pytorch-notebook:2024", gpu(2, "nvidia.com/mig-1g.10gb"))],
        node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}),
        "a1f0c3e2-0006-4000-8000-000000000006")
    # A Deployment of 4 x 8 pinned H100: the workload early check.
    tmpl = pod("train-6f7d8c9b4-h100a", "team-us", "train",
               [container("trainer", "nvcr.io/nvidia/pytorch:24.05-py3", gpu(8))],
               node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    deployment = {"kind": "Deployment", "apiVersion": "apps/v1",
                  "metadata": {"name": "train", "namespace": "team-us",
                               "labels": {"app": "train"}, "annotations": {},
                               "managedFields": managed_fields("kubectl-client-side-apply")},
                  "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "train"}},
                           "strategy": {"type": "RollingUpdate"},
                           "template": {"metadata": {"labels": {"app": "train"}},
                                        "spec": tmpl["spec"]}}}
    files["gpu-deployment"] = review(deployment, "a1f0c3e2-0007-4000-8000-000000000007",
                                     resource="deployments", group="apps",
                                     user="alice@example.com")
    # 50 containers, two of them with pinned GPUs.
    many = [container(f"c{i:02d}", "registry.example.com/tools/agent:1.0", small, env=4)
            for i in range(48)]
    many += [container(f"g{i}", "nvcr.io/nvidia/pytorch:24.05-py3", gpu(4)) for i in range(2)]
    files["pod-50-containers"] = review(pod(
        "mesh-5c8d7b9f4-fifty", "team-us", "mesh", many,
        node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
        "a1f0c3e2-0008-4000-8000-000000000008")
    for name, body in files.items():
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(body, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
