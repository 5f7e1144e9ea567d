#!/usr/bin/env python3
"""Checks a `helm template` rendering of charts/exportgate against what its values promise.

usage: check_render.py RENDERED.yaml NAMESPACE [VALUES.yaml ...]

The expectations are derived from the chart's values.yaml merged with the given values files,
so one checker covers every option set in tests/chart/values/. Exits 1 with a list of failures.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "charts", "exportgate")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def merge(a, b):
    out = dict(a)
    for k, v in (b or {}).items():
        out[k] = merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def get(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return default
    return obj


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True)


def main():
    rendered, ns, *value_files = sys.argv[1:]
    with open(os.path.join(CHART, "values.yaml")) as f:
        v = yaml.safe_load(f)
    for vf in value_files:
        with open(vf) as f:
            v = merge(v, yaml.safe_load(f))
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        check(d.get("apiVersion") and get(d, "metadata", "name"), f"object without apiVersion/name: {d}")
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
                             "MutatingWebhookConfiguration", "CustomResourceDefinition", "Namespace",
                             "ServiceMonitor"):
            check(get(d, "metadata", "namespace") == ns, f"{d['kind']} {d['metadata']['name']} not in {ns}")
    one = lambda kind: (by_kind.get(kind) or [None])[0]

    cert_manager = v["certificates"]["certManager"]["enabled"]
    url = v["webhook"]["url"]
    excluded = set(v["webhook"]["excludeNamespaces"]) | {ns}

    # --- NetworkPolicy (issue 13): only the API server's addresses reach the webhook port.
    netpol = one("NetworkPolicy")
    if check((netpol is not None) == v["networkPolicy"]["enabled"],
             "NetworkPolicy presence != networkPolicy.enabled") and netpol:
        spec = netpol["spec"]
        check(spec["policyTypes"] == ["Ingress"], "NetworkPolicy policyTypes")
        check(spec["podSelector"]["matchLabels"].get("app.kubernetes.io/name"), "NetworkPolicy selects no pods")
        by_port = {r["ports"][0]["port"]: r for r in spec["ingress"]}
        check(set(by_port) == {"https", "metrics"}, f"NetworkPolicy ports {sorted(by_port)}")
        https_from = by_port.get("https", {}).get("from") or []
        check(https_from and all(set(p) == {"ipBlock"} and "except" not in p["ipBlock"] for p in https_from)
              and [p["ipBlock"]["cidr"] for p in https_from] == v["networkPolicy"]["apiServerCIDRs"],
              "webhook port admits more than the API server's CIDRs")
        check((by_port.get("metrics", {}).get("from") or []) == v["networkPolicy"]["metricsFrom"],
              "metrics port peers")

    # --- Deployment: the safety settings the issue asks for.
    dep = one("Deployment")
    if check((dep is not None) == v["deployment"]["enabled"], "Deployment presence != deployment.enabled") and dep:
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        check(spec["replicas"] == v["replicaCount"], "replicas")
        check(spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "rolling update may drop below replicas")
        check(pod.get("priorityClassName") == v["priorityClassName"], "priorityClassName")
        psc, sc = pod["securityContext"], c["securityContext"]
        check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "pod not non-root")
        check(get(psc, "seccompProfile", "type") == "RuntimeDefault", "seccomp not RuntimeDefault")
        check(sc.get("readOnlyRootFilesystem") is True, "root filesystem writable")
        check(sc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
        check(get(sc, "capabilities", "drop") == ["ALL"], "capabilities not all dropped")
        check(get(c, "resources", "requests") and get(c, "resources", "limits"), "resources requests/limits")
        if not v["server"].get("clientCA"):  # (with a client CA: tcpSocket, checked below)
            check(get(c, "livenessProbe", "httpGet", "path") == "/healthz", "liveness probe not /healthz")
            check(get(c, "readinessProbe", "httpGet", "path") == "/readyz", "readiness probe not /readyz")
            check(get(c, "readinessProbe", "httpGet", "scheme") == "HTTPS", "probes not HTTPS")
        args = c["args"]
        check(args[0] == "serve", "first arg is not serve")
        check(f"--listen=0.0.0.0:{v['server']['port']}" in args, "--listen")
        check("--policy=/etc/exportgate/policy/policy.yaml" in args, "--policy")
        check("--tls-cert=/etc/exportgate/tls/tls.crt" in args and "--tls-key=/etc/exportgate/tls/tls.key" in args, "--tls-*")
        check(not any(a.startswith("--dns-name") for a in args), "--dns-name is refused with --tls-cert")
        check(("--in-cluster" in args) == v["cluster"]["enabled"], "--in-cluster != cluster.enabled")
        check(("--kueue-admission-check" in args) == (v["cluster"]["enabled"] and v["kueue"]["enabled"]),
              "--kueue-admission-check != cluster.enabled and kueue.enabled")
        audit_flags = [a for a in args if a.startswith("--audit-interval=")]
        want_audit = [f"--audit-interval={v['cluster'].get('auditInterval', '5m')}"] if v["cluster"]["enabled"] else []
        check(audit_flags == want_audit, f"audit interval flags {audit_flags}, want {want_audit}")
        lease_flags = [a for a in args if a.startswith("--ledger-leases=")]
        want_leases = ([f"--ledger-leases={'off' if v['cluster'].get('ledgerLeases') is False else 'on'}"]
                       if v["cluster"]["enabled"] else [])
        check(lease_flags == want_leases, f"ledger lease flags {lease_flags}, want {want_leases}")
        check(pod.get("automountServiceAccountToken") == v["cluster"]["enabled"], "token mounted without cluster.enabled")
        for m in c["volumeMounts"]:
            check("subPath" not in m, f"subPath mount {m['name']} would never see updates")
        aff = pod.get("affinity", {})
        if v["antiAffinity"] == "required":
            check(get(aff, "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"), "required anti-affinity")
        elif v["antiAffinity"] == "preferred":
            check(get(aff, "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"), "preferred anti-affinity")
        ann = get(dep, "spec", "template", "metadata", "annotations") or {}
        check(("checksum/policy" in ann) == v["policy"]["rollOnChange"], "checksum/policy != rollOnChange")
        # mTLS from the API server: --client-ca with the CA mounted; probes that need no client
        # certificate.
        cca = v["server"].get("clientCA", "")
        if cca:
            check("--client-ca=/etc/exportgate/client-ca/ca.crt" in args, "--client-ca")
            cm_ca = next((x for x in by_kind.get("ConfigMap", []) if x["metadata"]["name"].endswith("-client-ca")), None)
            check(cm_ca is not None and cm_ca["data"]["ca.crt"].strip() == cca.strip(), "client CA ConfigMap")
            check(get(c, "volumeMounts") and any(m["mountPath"] == "/etc/exportgate/client-ca" for m in c["volumeMounts"]),
                  "client CA mount")
            for probe in ("livenessProbe", "readinessProbe"):
                check("httpGet" not in c[probe] and get(c, probe, "tcpSocket", "port") == "https",
                      f"{probe} would fail the client-certificate handshake")
        else:
            check(not any(a.startswith("--client-ca") for a in args), "--client-ca without server.clientCA")
        # The decision log: one file per pod on a volume that holds more than a rotated file.
        dl = v["decisionLog"]
        dl_args = [a for a in args if a.startswith("--decision-log")]
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        vols = {vol["name"]: vol for vol in pod["volumes"]}
        if dl["enabled"]:
            want_args = ["--decision-log=/var/lib/exportgate/decisions/$(POD_NAME).jsonl",
                         f"--decision-log-max-bytes={dl['maxBytes']}"] + (["--decision-log-all"] if dl["all"] else [])
            check(dl_args == want_args, f"decision log args {dl_args}, want {want_args}")
            check(get(mounts, "decisions", "mountPath") == "/var/lib/exportgate/decisions", "decision log mount")
            vol = vols.get("decisions", {})
            if dl["persistence"]["enabled"]:
                claim = dl["persistence"]["existingClaim"] or f"{dep['metadata']['name']}-decisions"
                check(get(vol, "persistentVolumeClaim", "claimName") == claim, "decision log claim")
            else:
                size = get(vol, "emptyDir", "sizeLimit", default="0Mi")
                check(size.endswith("Mi") or size.endswith("Gi"), f"decision log emptyDir size {size}")
                mib = int(size[:-2]) * (1024 if size.endswith("Gi") else 1)
                check(dl["maxBytes"] == 0 or mib * 1048576 >= 2 * dl["maxBytes"],
                      f"decision log emptyDir {size} cannot hold two files of {dl['maxBytes']} bytes")
        else:
            check(not dl_args and "decisions" not in mounts, "decision log without decisionLog.enabled")
        pvc = one("PersistentVolumeClaim")
        want_pvc = dl["enabled"] and dl["persistence"]["enabled"] and not dl["persistence"]["existingClaim"]
        check((pvc is not None) == want_pvc, "decision log PVC presence")
        if pvc:
            check(get(pvc, "metadata", "annotations", "helm.sh/resource-policy") == "keep", "decision log PVC not kept")
        img = c["image"]
        if v["image"]["digest"]:
            check(img.endswith("@" + v["image"]["digest"]), "image digest")
        else:
            check(":" in img.rsplit("/", 1)[-1], "image without tag")

    pdb = one("PodDisruptionBudget")
    want_pdb = v["deployment"]["enabled"] and v["podDisruptionBudget"]["enabled"] and v["replicaCount"] > 1
    check((pdb is not None) == want_pdb, f"PodDisruptionBudget presence (want {want_pdb})")

    svc = one("Service")
    check(svc is not None and {p["name"] for p in svc["spec"]["ports"]} == {"https", "metrics"}, "Service ports")

    # --- Certificates.
    secret = next((s for s in by_kind.get("Secret", []) if s["metadata"]["name"].endswith("-tls")), None)
    ca_pem = None
    if cert_manager:
        check(secret is None, "generated Secret rendered alongside cert-manager")
        certs = by_kind.get("Certificate", [])
        serving = [c for c in certs if not c["spec"].get("isCA")]
        check(len(serving) == 1, "one serving Certificate")
        if serving:
            check(f"{svc['metadata']['name']}.{ns}.svc" in serving[0]["spec"]["dnsNames"], "cert-manager dnsNames")
            if v["certificates"]["certManager"]["issuerRef"]:
                check(serving[0]["spec"]["issuerRef"] == v["certificates"]["certManager"]["issuerRef"], "issuerRef")
                check(not by_kind.get("Issuer"), "self-signed issuer rendered with an issuerRef")
            else:
                check(len(by_kind.get("Issuer", [])) == 2, "self-signed and CA issuers")
    elif check(secret is not None, "no generated TLS Secret"):
        data = {k: base64.b64decode(x).decode() for k, x in secret["data"].items()}
        ca_pem = data["ca.crt"]
        with tempfile.TemporaryDirectory() as tmp:
            for k, x in data.items():
                with open(os.path.join(tmp, k), "w") as f:
                    f.write(x)
            r = openssl("verify", "-CAfile", os.path.join(tmp, "ca.crt"), os.path.join(tmp, "tls.crt"))
            check(r.returncode == 0, f"serving certificate does not verify against ca.crt: {r.stdout}{r.stderr}")
            r = openssl("x509", "-in", os.path.join(tmp, "tls.crt"), "-noout", "-ext", "subjectAltName")
            check(f"DNS:{svc['metadata']['name']}.{ns}.svc" in r.stdout, f"SAN lacks the service name: {r.stdout}")
            for extra in v["certificates"]["extraDNSNames"]:
                check(f"DNS:{extra}" in r.stdout, f"SAN lacks {extra}")
            for ip in v["certificates"]["extraIPAddresses"]:
                check(f"IP Address:{ip}" in r.stdout, f"SAN lacks {ip}")
            r = openssl("x509", "-in", os.path.join(tmp, "tls.crt"), "-noout", "-checkend",
                        str((v["certificates"]["validityDays"] - 2) * 86400))
            check(r.returncode == 0, "serving certificate expires earlier than validityDays")
            r = openssl("rsa", "-in", os.path.join(tmp, "tls.key"), "-noout", "-check")
            check(r.returncode == 0 or "RSA key ok" in r.stdout, "tls.key unreadable")

    # --- Webhook configurations.
    vwc, mwc = one("ValidatingWebhookConfiguration"), one("MutatingWebhookConfiguration")
    check(vwc is not None, "no ValidatingWebhookConfiguration")
    # "auto" (the default): /mutate in cluster mode only (the admission uid), not in standalone.
    want_mwc = v["webhook"]["mutating"]["enabled"]
    if want_mwc == "auto":
        want_mwc = v["cluster"]["enabled"]
    check((mwc is not None) == want_mwc, "MutatingWebhookConfiguration presence")
    hooks = [(vwc, h) for h in (vwc or {}).get("webhooks", [])] + [(mwc, h) for h in (mwc or {}).get("webhooks", [])]
    names = [h["name"] for _, h in hooks]
    check(len(names) == len(set(names)), "duplicate webhook names")
    want_bundle = None
    if v["webhook"]["caBundle"]:
        want_bundle = v["webhook"]["caBundle"].strip()
    elif ca_pem:
        want_bundle = ca_pem.strip()
    for cfg, h in hooks:
        n = h["name"]
        check(h["admissionReviewVersions"] == ["v1"], f"{n}: admissionReviewVersions")
        check(h["sideEffects"] in ("None", "NoneOnDryRun"), f"{n}: sideEffects")
        check(1 <= h["timeoutSeconds"] <= 30, f"{n}: timeoutSeconds")
        cc = h["clientConfig"]
        if url:
            check(cc.get("url", "").startswith(url.rstrip("/") + "/") and "service" not in cc, f"{n}: url clientConfig")
        else:
            check(get(cc, "service", "namespace") == ns and get(cc, "service", "name") == svc["metadata"]["name"],
                  f"{n}: service clientConfig")
        path = cc.get("url") or get(cc, "service", "path")
        check(path.endswith("/mutate" if cfg is mwc else "/validate"), f"{n}: path {path}")
        if cert_manager and not v["webhook"]["caBundle"]:
            check("caBundle" not in cc, f"{n}: caBundle with cert-manager")
            check(get(cfg, "metadata", "annotations", "cert-manager.io/inject-ca-from") ==
                  f"{ns}/{svc['metadata']['name']}", f"{n}: cert-manager inject annotation")
        else:
            got = base64.b64decode(cc.get("caBundle", "")).decode().strip()
            check(want_bundle is not None and got == want_bundle, f"{n}: caBundle is not the CA")
        resources = {r for rule in h["rules"] for r in rule["resources"]}
        if n.startswith("namespaces."):
            # Every path that can change a namespace's labels (issue 13: status and finalize).
            check(resources == {"namespaces", "namespaces/status", "namespaces/finalize"}
                  and h["sideEffects"] == "None", f"{n}: rules/sideEffects")
            check(h.get("matchConditions"), f"{n}: guard without matchConditions")
            check(h["failurePolicy"] == v["webhook"]["namespaces"]["failurePolicy"], f"{n}: failurePolicy")
            sel = get(h, "namespaceSelector", "matchExpressions") or []
            check(all(e["key"] == "kubernetes.io/metadata.name" for e in sel),
                  f"{n}: guard selects on a label a tenant could set")
        else:
            want = {"pods", "deployments", "replicasets", "statefulsets", "daemonsets",
                    "replicationcontrollers", "jobs", "cronjobs", "resourceclaims", "resourceclaimtemplates"}
            if cfg is vwc:
                want |= {"deployments/scale", "replicasets/scale", "statefulsets/scale", "replicationcontrollers/scale"}
            if v["webhook"]["customWorkloads"]:
                want |= {"jobsets", "pytorchjobs", "tfjobs", "mpijobs", "xgboostjobs", "paddlejobs",
                         "rayclusters", "rayjobs", "rayservices", "leaderworkersets", "trainjobs",
                         "workflows", "workflowtemplates", "cronworkflows", "inferenceservices"}
                if cfg is vwc:
                    want.add("leaderworkersets/scale")
            for rule in h["rules"]:
                if any(r.endswith("/scale") for r in rule["resources"]):
                    check(rule["operations"] == ["UPDATE"], f"{n}: scale rule with {rule['operations']}")
            for rule in v["webhook"]["extraRules"]:
                want |= set(rule["resources"])
            check(resources == want, f"{n}: resources {sorted(resources)} != {sorted(want)}")
            check(h["sideEffects"] == "NoneOnDryRun", f"{n}: sideEffects should be NoneOnDryRun")
            fp = v["webhook"]["mutating"]["failurePolicy"] if cfg is mwc else v["webhook"]["failurePolicy"]
            check(h["failurePolicy"] == fp, f"{n}: failurePolicy")
            check(h.get("matchConditions", []) == v["webhook"]["matchConditions"], f"{n}: matchConditions")
            sel = get(h, "namespaceSelector", "matchExpressions") or []
            notin = {x for e in sel if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn"
                     for x in e["values"]}
            check(notin == excluded, f"{n}: excluded namespaces {sorted(notin)} != {sorted(excluded)}")
    check(any(n.startswith("namespaces.") for n in names) == v["webhook"]["namespaces"]["enabled"],
          "namespace guard presence != webhook.namespaces.enabled")

    # --- The TPPLedger CRD is a release object (upgraded by helm upgrade, rendered by helm
    # template), kept on uninstall by Helm and by Argo CD, unless crds.install=false.
    ledger_crd = [d for d in by_kind.get("CustomResourceDefinition", []) if d["metadata"]["name"] == "tppledgers.exportgate.io"]
    want_crd = v.get("crds", {}).get("install", True)
    check(len(ledger_crd) == (1 if want_crd else 0), f"TPPLedger CRD rendered {len(ledger_crd)} times, crds.install={want_crd}")
    for c in ledger_crd:
        ann = get(c, "metadata", "annotations") or {}
        check(ann.get("helm.sh/resource-policy") == "keep", "TPPLedger CRD not kept on uninstall (helm.sh/resource-policy)")
        check(ann.get("argocd.argoproj.io/sync-options") == "Prune=false,Delete=false", "TPPLedger CRD: Argo CD may prune or delete it")
        check(get(c, "metadata", "labels", "app.kubernetes.io/part-of") == "exportgate", "TPPLedger CRD label part-of")
        check(get(c, "spec", "names", "kind") == "TPPLedger" and get(c, "spec", "scope") == "Namespaced", "TPPLedger CRD names/scope")
        ver = get(c, "spec", "versions", 0) or {}
        check(ver.get("name") == "v1alpha1" and ver.get("storage") and ver.get("served"), "TPPLedger CRD version v1alpha1")
        props = get(ver, "schema", "openAPIV3Schema", "properties", "spec", "properties") or {}
        check({"jurisdiction", "inUseTPP", "reservedTPP", "tenants", "reservations", "lastReconcileTime"} <= set(props),
              f"TPPLedger CRD schema fields: {sorted(props)}")
    # --- RBAC: nothing without cluster.enabled; exactly the listed verbs with it.
    rbac = [d for k in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding") for d in by_kind.get(k, [])]
    # The role aggregated into `view` is the tenants' (read their PolicyReports), not exportgate's.
    aggregated = [d for d in rbac if (get(d, "metadata", "labels") or {}).get(
        "rbac.authorization.k8s.io/aggregate-to-view") == "true"]
    rbac = [d for d in rbac if d not in aggregated]
    if v["cluster"]["enabled"]:
        check(len(aggregated) == 1 and aggregated[0]["kind"] == "ClusterRole" and aggregated[0]["rules"] == [
            {"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"], "verbs": ["get", "list", "watch"]}],
            f"view reads policyreports (aggregated ClusterRole): {aggregated}")
        crd = [d for d in by_kind.get("CustomResourceDefinition", []) if d["metadata"]["name"] == "policyreports.wgpolicyk8s.io"]
        check(len(crd) == (1 if v.get("policyReports", {}).get("installCRD", True) else 0), "PolicyReport CRD != policyReports.installCRD")
        check(all(get(c, "metadata", "annotations", "helm.sh/resource-policy") == "keep" for c in crd), "PolicyReport CRD kept on uninstall")
        check(all(get(c, "metadata", "annotations", "argocd.argoproj.io/sync-options") == "Prune=false,Delete=false" for c in crd),
              "PolicyReport CRD: Argo CD may prune or delete it")
        rules = [(d["kind"], r) for d in rbac if "rules" in d for r in d["rules"]]
        grants = {}
        for kind, r in rules:
            check("*" not in r["verbs"] and "*" not in r["resources"] and "*" not in r["apiGroups"], f"wildcard in {kind}")
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    grants[(kind, g, res)] = set(r["verbs"])
        # Exactly what the code calls (the comments in templates/rbac.yaml name each code path).
        read = {"get", "list", "watch"}
        informer = {"list", "watch"}
        want = {("ClusterRole", "", "namespaces"): read, ("ClusterRole", "", "pods"): informer,
                ("ClusterRole", "", "nodes"): informer,
                **{("ClusterRole", "resource.k8s.io", res): informer for res in (
                    "deviceclasses", "resourceslices", "resourceclaims", "resourceclaimtemplates")},
                ("ClusterRole", "", "events"): {"create", "patch"},
                ("ClusterRole", "events.k8s.io", "events"): {"create", "patch"},
                # The background audit lists the pod-owning workloads (and the custom kinds the
                # webhook is sent).
                **{("ClusterRole", g, res): {"list"} for g, res in (
                    ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "replicasets"),
                    ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"),
                    ("batch", "cronjobs"))},
                **({("ClusterRole", g, res): {"list"} for g, res in (
                    ("jobset.x-k8s.io", "jobsets"), ("kubeflow.org", "pytorchjobs"),
                    ("kubeflow.org", "tfjobs"), ("kubeflow.org", "mpijobs"),
                    ("kubeflow.org", "xgboostjobs"), ("kubeflow.org", "paddlejobs"),
                    ("ray.io", "rayclusters"), ("ray.io", "rayjobs"), ("ray.io", "rayservices"),
                    ("leaderworkerset.x-k8s.io", "leaderworkersets"),
                    ("trainer.kubeflow.org", "trainjobs"), ("batch.volcano.sh", "jobs"),
                    ("argoproj.io", "workflows"), ("argoproj.io", "workflowtemplates"),
                    ("argoproj.io", "cronworkflows"), ("serving.kserve.io", "inferenceservices"))}
                   if v["webhook"]["customWorkloads"] else {}),
                ("Role", "exportgate.io", "tppledgers"): read | {"create", "update"},
                ("Role", "coordination.k8s.io", "leases"): {"get", "create", "update"},
                # Each namespace's PolicyReport (webhook/audit/policy_report.cpp).
                ("ClusterRole", "wgpolicyk8s.io", "policyreports"): {"list", "create", "patch", "delete"},
                # The Kueue AdmissionCheck controller (webhook/cluster/kueue_check.cpp), only with kueue.enabled.
                **({("ClusterRole", "kueue.x-k8s.io", res): read for res in ("admissionchecks", "workloads")}
                   if v.get("kueue", {}).get("enabled") else {}),
                **({("ClusterRole", "kueue.x-k8s.io", res): {"patch"}
                    for res in ("admissionchecks/status", "workloads/status")}
                   if v.get("kueue", {}).get("enabled") else {})}
        check(grants == want, f"RBAC grants differ: {grants}")
        check(len(rbac) == 4, "ClusterRole, Role and their bindings")
    else:
        check(not rbac and not aggregated, "RBAC rendered without cluster.enabled")
    sa = one("ServiceAccount")
    check(sa is not None and sa.get("automountServiceAccountToken") == v["cluster"]["enabled"], "ServiceAccount token")

    # --- The policy.
    cm = next((c for c in by_kind.get("ConfigMap", []) if c["metadata"]["name"].endswith("-policy")), None)
    if check(cm is not None, "no policy ConfigMap"):
        pol = yaml.safe_load(cm["data"]["policy.yaml"])
        check(pol["apiVersion"] == "exportgate.io/v1alpha1" and pol["kind"] == "Policy", "policy header")
        s = pol["spec"]
        p = v["policy"]
        check(s["preset"] == p["preset"] and s["mode"] == p["mode"], "policy preset/mode")
        check(s.get("workloadEarlyCheck") == p["workloadEarlyCheck"], "policy workloadEarlyCheck")
        check(s.get("tenants", []) == p["tenants"], "policy tenants")
        ex = set(get(s, "exemptions", "namespaces", default=[]))
        check(excluded <= ex and set(p["exemptions"]["namespaces"]) <= ex, "policy exemptions")
        check(get(s, "admins", "groups", default=[]) == p["admins"]["groups"], "policy admin groups")
        check(get(s, "admins", "users", default=[]) == p["admins"]["users"], "policy admin users")

    # --- Monitoring objects follow their switches.
    m = v["metrics"]
    check(bool(by_kind.get("ServiceMonitor")) == m["serviceMonitor"]["enabled"], "ServiceMonitor presence")
    check(bool(by_kind.get("PrometheusRule")) == m["prometheusRule"]["enabled"], "PrometheusRule presence")
    dash = next((c for c in by_kind.get("ConfigMap", []) if c["metadata"]["name"].endswith("-dashboard")), None)
    check((dash is not None) == m["grafanaDashboard"]["enabled"], "dashboard presence")
    if dash:
        d = json.loads(dash["data"]["exportgate.json"])
        check(all(t.get("expr") for pnl in d["panels"] for t in pnl["targets"]), "dashboard panel without expr")
        check(get(dash, "metadata", "labels", "grafana_dashboard") == "1", "dashboard sidecar label")
    if by_kind.get("PrometheusRule"):
        alerts = {r.get("alert") for g in by_kind["PrometheusRule"][0]["spec"]["groups"] for r in g["rules"]}
        for a in ("ExportgateCertificateExpiringSoon", "ExportgateWebhookErrors", "ExportgateRejectionsSpike",
                  "ExportgateTenantNearCap"):
            check(a in alerts, f"alert {a} missing")
        # Every alert links to its runbook section in docs/operations.md.
        with open(os.path.join(CHART, "..", "..", "docs", "operations.md")) as f:
            sections = {line[4:].strip().lower() for line in f if line.startswith("### ")}
        base = m["prometheusRule"]["runbookBaseURL"]
        for g in by_kind["PrometheusRule"][0]["spec"]["groups"]:
            for r in g["rules"]:
                if "alert" not in r:
                    continue
                url = get(r, "annotations", "runbook_url", default="")
                check(url == f"{base}#{r['alert'].lower()}", f"alert {r['alert']}: runbook_url {url!r}")
                check(r["alert"].lower() in sections, f"alert {r['alert']}: no runbook section in docs/operations.md")
    sm = one("ServiceMonitor")
    if sm:
        check(sm["metadata"]["namespace"] == (m["serviceMonitor"].get("namespace") or ns), "ServiceMonitor namespace")
        ep = sm["spec"]["endpoints"][0]
        check(ep.get("scrapeTimeout", "") == m["serviceMonitor"].get("scrapeTimeout", ""), "ServiceMonitor scrapeTimeout")
        check(sm["spec"]["namespaceSelector"]["matchNames"] == [ns], "ServiceMonitor selects the release namespace")

    if failures:
        print(f"{rendered}: {len(failures)} failure(s)")
        for f in failures:
            print("  -", f)
        sys.exit(1)
    print(f"{rendered}: ok ({len(docs)} objects)")


if __name__ == "__main__":
    main()
