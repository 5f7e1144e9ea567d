{{/* Chart name. */}}
{{- define "exportgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name. */}}
{{- define "exportgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "exportgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "exportgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "exportgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "exportgate.labels" -}}
helm.sh/chart: {{ include "exportgate.chart" . }}
{{ include "exportgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: exportgate
{{- end }}

{{- define "exportgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "exportgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "exportgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Secret holding tls.crt, tls.key and ca.crt (generated or cert-manager's). */}}
{{- define "exportgate.tlsSecretName" -}}
{{- printf "%s-tls" (include "exportgate.fullname" .) }}
{{- end }}

{{- define "exportgate.serviceName" -}}
{{- include "exportgate.fullname" . }}
{{- end }}

{{/* DNS names the serving certificate must be valid for. */}}
{{- define "exportgate.dnsNames" -}}
{{- $svc := include "exportgate.serviceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- concat $names .Values.certificates.extraDNSNames | uniq | toJson -}}
{{- end }}

{{/* Namespaces the pod/workload webhooks never see: the configured ones plus the release's. */}}
{{- define "exportgate.excludedNamespaces" -}}
{{- append .Values.webhook.excludeNamespaces .Release.Namespace | uniq | toJson -}}
{{- end }}

{{/*
The generated certificates, computed once per render and cached in .Values so the Secret and
the webhook configurations see the same ones. Kept across upgrades: an existing Secret (lookup)
is reused unless certificates.regenerate is set. Under `helm template` lookup returns nothing and
a fresh set is generated on every render.
Result: dict with ca (PEM), crt, key, caBundle (PEM; the new CA plus, after a regeneration, the
previous one).
*/}}
{{- define "exportgate.certs" -}}
{{- if not (hasKey .Values "__exportgateCerts") -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "exportgate.tlsSecretName" .) -}}
{{- $data := dict -}}
{{- if and $secret (hasKey $secret "data") -}}{{- $data = $secret.data -}}{{- end -}}
{{- $certs := dict -}}
{{- if and (not .Values.certificates.regenerate) (hasKey $data "tls.crt") (hasKey $data "tls.key") (hasKey $data "ca.crt") -}}
{{- $ca := b64dec (get $data "ca.crt") -}}
{{- $_ := set $certs "ca" $ca -}}
{{- $_ := set $certs "crt" (b64dec (get $data "tls.crt")) -}}
{{- $_ := set $certs "key" (b64dec (get $data "tls.key")) -}}
{{- $_ := set $certs "caBundle" $ca -}}
{{- else -}}
{{- $days := int .Values.certificates.validityDays -}}
{{- $ca := genCA (printf "%s-ca" (include "exportgate.fullname" .)) $days -}}
{{- $dns := include "exportgate.dnsNames" . | fromJsonArray -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" (include "exportgate.serviceName" .) .Release.Namespace) .Values.certificates.extraIPAddresses $dns $days $ca -}}
{{- $_ := set $certs "ca" $ca.Cert -}}
{{- $_ := set $certs "crt" $cert.Cert -}}
{{- $_ := set $certs "key" $cert.Key -}}
{{- $bundle := $ca.Cert -}}
{{- if hasKey $data "ca.crt" -}}
{{- $bundle = printf "%s\n%s" (trimSuffix "\n" $ca.Cert) (b64dec (get $data "ca.crt")) -}}
{{- end -}}
{{- $_ := set $certs "caBundle" $bundle -}}
{{- end -}}
{{- $_ := set .Values "__exportgateCerts" $certs -}}
{{- end -}}
{{- end }}

{{/* caBundle (base64) for the webhook configurations; empty with cert-manager (injected). */}}
{{- define "exportgate.caBundle" -}}
{{- if .Values.webhook.caBundle -}}
{{- $b := .Values.webhook.caBundle | trim -}}
{{- if hasPrefix "-----BEGIN" $b -}}{{- $b | b64enc -}}{{- else -}}{{- $b -}}{{- end -}}
{{- else if not .Values.certificates.certManager.enabled -}}
{{- include "exportgate.certs" . -}}
{{- get .Values.__exportgateCerts "caBundle" | b64enc -}}
{{- end -}}
{{- end }}

{{/*
"true" when the MutatingWebhookConfiguration is rendered, "" when not: webhook.mutating.enabled,
where "auto" follows cluster.enabled (cluster mode needs the admission uid /mutate stamps; in
standalone the annotations are informational and the second call per Pod is saved).
*/}}
{{- define "exportgate.mutatingEnabled" -}}
{{- $enabled := .Values.webhook.mutating.enabled -}}
{{- if eq (toString $enabled) "auto" -}}
{{- $enabled = .Values.cluster.enabled -}}
{{- end -}}
{{- if $enabled -}}true{{- end -}}
{{- end }}

{{/* The clientConfig of a webhook for PATH (/validate or /mutate). */}}
{{- define "exportgate.clientConfig" -}}
{{- $root := index . 0 -}}
{{- $path := index . 1 -}}
clientConfig:
  {{- if $root.Values.webhook.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhook.url) $path | quote }}
  {{- else }}
  service:
    name: {{ include "exportgate.serviceName" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ $path }}
    port: {{ $root.Values.service.port }}
  {{- end }}
  {{- with include "exportgate.caBundle" $root }}
  caBundle: {{ . }}
  {{- end }}
{{- end }}

{{/* Annotation asking cert-manager's cainjector to fill caBundle. */}}
{{- define "exportgate.certManagerInject" -}}
{{- if and .Values.certificates.certManager.enabled (not .Values.webhook.caBundle) -}}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "exportgate.fullname" .) }}
{{- end }}
{{- end }}

{{/* The policy file (policy.yaml) built from .Values.policy. */}}
{{- define "exportgate.policy" -}}
{{- $p := .Values.policy -}}
{{- $exempt := concat $p.exemptions.namespaces (include "exportgate.excludedNamespaces" . | fromJsonArray) | uniq -}}
{{- $spec := dict "preset" $p.preset "mode" $p.mode "workloadEarlyCheck" $p.workloadEarlyCheck -}}
{{- $_ := set $spec "exemptions" (dict "namespaces" $exempt) -}}
{{- if $p.tenants }}{{- $_ := set $spec "tenants" $p.tenants }}{{- end -}}
{{- if or $p.admins.users $p.admins.groups -}}
{{- $admins := dict -}}
{{- if $p.admins.users }}{{- $_ := set $admins "users" $p.admins.users }}{{- end -}}
{{- if $p.admins.groups }}{{- $_ := set $admins "groups" $p.admins.groups }}{{- end -}}
{{- $_ := set $spec "admins" $admins -}}
{{- end -}}
{{- if $p.tiers }}{{- $_ := set $spec "tiers" $p.tiers }}{{- end -}}
{{- if $p.jurisdictions }}{{- $_ := set $spec "jurisdictions" $p.jurisdictions }}{{- end -}}
{{- $spec = mergeOverwrite $spec (deepCopy $p.extraSpec) -}}
{{- $doc := dict "apiVersion" "exportgate.io/v1alpha1" "kind" "Policy" "metadata" (dict "name" (include "exportgate.fullname" .)) "spec" $spec -}}
{{- toYaml $doc -}}
{{- end }}

{{/* Rules of the pod and workload webhooks; the second argument adds the scale subresources. */}}
{{- define "exportgate.workloadRules" -}}
{{- $root := index . 0 -}}
{{- $scale := index . 1 -}}
# Pod CREATE is the authoritative point: every controller creates pods. Pod updates cannot
# change accelerator requests, so they are not sent.
- apiGroups: [""]
  apiVersions: [v1]
  resources: [pods]
  operations: [CREATE]
  scope: Namespaced
# Early checks of the pod-owning workloads, so a denial shows on the Deployment or Job itself.
- apiGroups: [""]
  apiVersions: [v1]
  resources: [replicationcontrollers]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [apps]
  apiVersions: [v1]
  resources: [deployments, replicasets, statefulsets, daemonsets]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [batch]
  apiVersions: [v1]
  resources: [jobs, cronjobs]
  operations: [CREATE, UPDATE]
  scope: Namespaced
# DRA: devices asked for through claims and claim templates are decided at their creation (a
# claim's spec is immutable; the Pod using it has no device request of its own).
- apiGroups: [resource.k8s.io]
  apiVersions: [v1]
  resources: [resourceclaims, resourceclaimtemplates]
  operations: [CREATE]
  scope: Namespaced
{{- if $scale }}
# Scaling multiplies pods: `kubectl scale` and autoscalers write only the scale subresource.
- apiGroups: [""]
  apiVersions: [v1]
  resources: [replicationcontrollers/scale]
  operations: [UPDATE]
  scope: Namespaced
- apiGroups: [apps]
  apiVersions: [v1]
  resources: [deployments/scale, replicasets/scale, statefulsets/scale]
  operations: [UPDATE]
  scope: Namespaced
{{- end }}
{{- if $root.Values.webhook.customWorkloads }}
# Custom resources with pod templates that the policy's workloadKinds describe (JobSet, Kubeflow,
# KubeRay, LeaderWorkerSet, Kubeflow Trainer, Volcano, Argo Workflows, KServe). Rules for resources
# that are not installed match nothing.
- apiGroups: [jobset.x-k8s.io]
  apiVersions: ["*"]
  resources: [jobsets]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [kubeflow.org]
  apiVersions: ["*"]
  resources: [pytorchjobs, tfjobs, mpijobs, xgboostjobs, paddlejobs]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [ray.io]
  apiVersions: ["*"]
  resources: [rayclusters, rayjobs, rayservices]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [leaderworkerset.x-k8s.io]
  apiVersions: ["*"]
  resources: [leaderworkersets]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [trainer.kubeflow.org]
  apiVersions: ["*"]
  resources: [trainjobs]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [batch.volcano.sh]
  apiVersions: ["*"]
  resources: [jobs]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [argoproj.io]
  apiVersions: ["*"]
  resources: [workflows, workflowtemplates, cronworkflows]
  operations: [CREATE, UPDATE]
  scope: Namespaced
- apiGroups: [serving.kserve.io]
  apiVersions: ["*"]
  resources: [inferenceservices]
  operations: [CREATE, UPDATE]
  scope: Namespaced
{{- if $scale }}
- apiGroups: [leaderworkerset.x-k8s.io]
  apiVersions: ["*"]
  resources: [leaderworkersets/scale]
  operations: [UPDATE]
  scope: Namespaced
{{- end }}
{{- end }}
{{- with $root.Values.webhook.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pods and workloads in these namespaces are never sent (matched on the name label the API
server sets itself, so a tenant cannot opt out by relabeling). */}}
{{- define "exportgate.workloadNamespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "exportgate.excludedNamespaces" . }}
{{- end }}

{{/*
CEL: true when a Namespace request sets, changes or removes an exportgate.io/* label or
annotation. On CREATE oldObject is null; the operation tests short-circuit before it is read.
*/}}
{{- define "exportgate.namespaceGuardExpression" -}}
{{- $parts := list -}}
{{- range $field := list "labels" "annotations" -}}
{{- $new := printf "(has(object.metadata.%s) && object.metadata.%s.exists(k, k.startsWith('exportgate.io/') && (request.operation == 'CREATE' || !has(oldObject.metadata.%s) || !(k in oldObject.metadata.%s) || oldObject.metadata.%s[k] != object.metadata.%s[k])))" $field $field $field $field $field $field -}}
{{- $old := printf "(request.operation == 'UPDATE' && has(oldObject.metadata.%s) && oldObject.metadata.%s.exists(k, k.startsWith('exportgate.io/') && (!has(object.metadata.%s) || !(k in object.metadata.%s))))" $field $field $field $field -}}
{{- $parts = append $parts $new -}}
{{- $parts = append $parts $old -}}
{{- end -}}
{{- join " || " $parts -}}
{{- end }}

{{/*
What in the rendered policy sets a TPP cap, as a JSON list of reasons (empty: no cap). A cap is
only held by cluster mode's shared ledger; the list feeds the standalone refusal in
templates/validate.yaml. Read from the policy as rendered, so caps given through
policy.extraSpec count too.
*/}}
{{- define "exportgate.capSources" -}}
{{- $spec := (include "exportgate.policy" . | fromYaml).spec -}}
{{- $reasons := list -}}
{{- if eq (toString $spec.preset) "diffusion-2025" -}}
{{- $reasons = append $reasons "policy.preset=diffusion-2025 (Tier 2 tenant and country caps)" -}}
{{- end -}}
{{- range $t := ($spec.tenants | default list) -}}
{{- if and (kindIs "map" $t) (hasKey $t "capTPP") -}}
{{- $reasons = append $reasons (printf "tenant %v capTPP" $t.name) -}}
{{- end -}}
{{- end -}}
{{- range $name, $tier := ($spec.tiers | default dict) -}}
{{- if and (kindIs "map" $tier) (or (hasKey $tier "tenantCapTPP") (hasKey $tier "jurisdictionCapTPP") (eq (toString $tier.controlled) "cap")) -}}
{{- $reasons = append $reasons (printf "tier %s caps" $name) -}}
{{- end -}}
{{- end -}}
{{- if $spec.jurisdictionCaps -}}
{{- $reasons = append $reasons "jurisdictionCaps" -}}
{{- end -}}
{{- toJson $reasons -}}
{{- end }}

{{/* The PersistentVolumeClaim of the decision log. */}}
{{- define "exportgate.decisionLogClaim" -}}
{{- .Values.decisionLog.persistence.existingClaim | default (printf "%s-decisions" (include "exportgate.fullname" .)) -}}
{{- end }}

{{/* emptyDir size for the decision log: four files of maxBytes (at least 64Mi; 1Gi unrotated). */}}
{{- define "exportgate.decisionLogEmptyDirSize" -}}
{{- $max := int64 .Values.decisionLog.maxBytes -}}
{{- if eq $max 0 -}}1Gi{{- else -}}{{- max 64 (div (mul $max 4) 1048576) -}}Mi{{- end -}}
{{- end }}
