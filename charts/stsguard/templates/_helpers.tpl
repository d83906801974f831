{{/*
Chart name, overridable; truncated to a label value's 63 characters.
*/}}
{{- define "stsguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Prefix of every resource name: `<release>-<chart>`, or just the release name when it already
contains the chart name. It is also the Service name, so it must stay a DNS-1035 label.
*/}}
{{- define "stsguard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "stsguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels every object carries, without the component; the helm test Pod adds its own component
so that the Service, PodDisruptionBudget and NetworkPolicy never select it.
*/}}
{{- define "stsguard.baseLabels" -}}
helm.sh/chart: {{ include "stsguard.chart" . }}
app.kubernetes.io/name: {{ include "stsguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stsguard
{{- end -}}

{{- define "stsguard.labels" -}}
{{ include "stsguard.baseLabels" . }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/*
Immutable in a Deployment once installed: never add keys here.
*/}}
{{- define "stsguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stsguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "stsguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "stsguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "stsguard.image" -}}
{{- with .Values.image -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (default $.Chart.AppVersion .tag) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The DNS name the API server uses to reach the webhook: <service>.<namespace>.svc. The serving
certificate must be valid for it.
*/}}
{{- define "stsguard.serviceHost" -}}
{{- printf "%s.%s.svc" (include "stsguard.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
The kubernetes.io/tls Secret the Deployment mounts at /tls.
*/}}
{{- define "stsguard.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "existingSecret" -}}
{{- .Values.certificates.existingSecret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "stsguard.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Refuses contradictory values with a message that says what to change. The schema rejects
unknown keys and wrong types; this covers what depends on more than one value.
*/}}
{{- define "stsguard.validateValues" -}}
{{- $certs := .Values.certificates -}}
{{- $modes := list "certManager" "helm" "existingSecret" -}}
{{- if not (has $certs.mode $modes) -}}
{{- fail (printf "certificates.mode must be one of certManager, helm or existingSecret, not %q" (toString $certs.mode)) -}}
{{- end -}}
{{- if eq $certs.mode "existingSecret" -}}
{{- $_ := required "certificates.existingSecret.name is required when certificates.mode is existingSecret: name a kubernetes.io/tls Secret in the release namespace" $certs.existingSecret.name -}}
{{- $_ = required "certificates.existingSecret.caBundle is required when certificates.mode is existingSecret: give the PEM (or base64 PEM) of the CA that signed the Secret's certificate, or the API server cannot verify the webhook" $certs.existingSecret.caBundle -}}
{{- else if or $certs.existingSecret.name $certs.existingSecret.caBundle -}}
{{- fail (printf "certificates.existingSecret is set but certificates.mode is %s: the certificate modes are mutually exclusive; set certificates.mode=existingSecret or clear certificates.existingSecret" $certs.mode) -}}
{{- end -}}
{{- with .Values.webhook.namespaceSelector.optOutLabel -}}
{{- fail "webhook.namespaceSelector.optOutLabel was removed: a namespace label in the webhooks' namespaceSelector lets whoever may label a namespace switch stsguard off for it. Set config.optOutLabel ({key, value}) and list the namespaces that may use it in config.labelsMayLowerIn (the server then skips only those), or exclude namespaces by name with webhook.namespaceSelector.excludedNamespaces" -}}
{{- end -}}
{{- with .Values.config -}}
{{- if and (or .optOutLabel .namespaceModeLabel) (not .labelsMayLowerIn) -}}
{{- fail "config.optOutLabel and config.namespaceModeLabel apply only in the namespaces that config.labelsMayLowerIn lists (names or globs), and it is empty: list the namespaces whose owners may lower their own enforcement, or unset them (the server would refuse this configuration)" -}}
{{- end -}}
{{- end -}}
{{- with .Values.webhook.clientAuth -}}
{{- if and .enabled (not .caSecret) -}}
{{- fail "webhook.clientAuth.enabled needs webhook.clientAuth.caSecret: name a Secret in the release namespace holding the PEM CA that signs the API server's webhook client certificate (docs/security.md)" -}}
{{- end -}}
{{- end -}}
{{- with .Values.podDisruptionBudget -}}
{{- if and .enabled (not (kindIs "invalid" .minAvailable)) (not (kindIs "invalid" .maxUnavailable)) -}}
{{- fail "podDisruptionBudget: set only one of minAvailable and maxUnavailable (set the other to null)" -}}
{{- end -}}
{{- if and .enabled (kindIs "invalid" .minAvailable) (kindIs "invalid" .maxUnavailable) -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, or disable the budget" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The CA, certificate and key of certificates.mode=helm, as a dict of base64 strings keyed like
the Secret's data. They are made once per render and kept on the root context, because genCA
returns a new CA on every call and the Secret and both webhook configurations must agree.

On upgrade the existing Secret is read back with `lookup` and reused, so upgrades do not
rotate the certificate (and do not churn GitOps diffs). `helm template` and a client-side
`--dry-run` have no cluster to look in: lookup returns nothing there, so they always show a
freshly generated certificate; that output is a preview, not what an upgrade applies
(`--dry-run=server` does look the Secret up). A stored Secret missing any of the three keys
is replaced by a new, consistent set.
*/}}
{{- define "stsguard.helmCertificates" -}}
{{- if not (hasKey . "stsguardHelmCertificates") -}}
{{- $secretName := include "stsguard.tlsSecretName" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- $data := dict -}}
{{- if and $existing $existing.data -}}
{{- if and (index $existing.data "ca.crt") (index $existing.data "tls.crt") (index $existing.data "tls.key") -}}
{{- $data = pick $existing.data "ca.crt" "tls.crt" "tls.key" -}}
{{- end -}}
{{- end -}}
{{- if not $data -}}
{{- $days := int .Values.certificates.helm.validityDays -}}
{{- $service := include "stsguard.fullname" . -}}
{{- $host := include "stsguard.serviceHost" . -}}
{{- /* genCA <common name> <days> */ -}}
{{- $ca := genCA (printf "%s-ca" $service) $days -}}
{{- /* genSignedCert <common name> <IPs> <DNS names> <days> <CA> */ -}}
{{- $cert := genSignedCert $host nil (list $service (printf "%s.%s" $service .Release.Namespace) $host) $days $ca -}}
{{- $data = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set . "stsguardHelmCertificates" $data -}}
{{- end -}}
{{- toYaml (get . "stsguardHelmCertificates") -}}
{{- end -}}

{{/*
The name the API server's webhook kubeconfig must give the user entry whose client certificate it
presents to this webhook: the Service's DNS name, with the port unless it is 443.
*/}}
{{- define "stsguard.clientAuthName" -}}
{{- $host := include "stsguard.serviceHost" . -}}
{{- if eq (int .Values.service.port) 443 -}}
{{- $host -}}
{{- else -}}
{{- printf "%s:%d" $host (int .Values.service.port) -}}
{{- end -}}
{{- end -}}

{{/*
clientConfig.caBundle for the helm and existingSecret modes. With cert-manager the cainjector
fills it in from the serving Certificate, so the chart leaves it out.
*/}}
{{- define "stsguard.caBundle" -}}
{{- include "stsguard.validateValues" . -}}
{{- $mode := .Values.certificates.mode -}}
{{- if eq $mode "helm" -}}
{{- index (include "stsguard.helmCertificates" . | fromYaml) "ca.crt" -}}
{{- else if eq $mode "existingSecret" -}}
{{- $value := .Values.certificates.existingSecret.caBundle | trim -}}
{{- $pem := contains "-----BEGIN" $value | ternary $value (b64dec $value) | trim -}}
{{- if not (contains "-----BEGIN CERTIFICATE-----" $pem) -}}
{{- fail "certificates.existingSecret.caBundle must be a PEM CA certificate, or the base64 encoding of one" -}}
{{- end -}}
{{- printf "%s\n" $pem | b64enc -}}
{{- end -}}
{{- end -}}

{{- define "stsguard.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "certManager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s-serving" .Release.Namespace (include "stsguard.fullname" .) }}
{{- end -}}
{{- end -}}

{{/*
clientConfig of one webhook; the argument is (list <root context> <path>).
*/}}
{{- define "stsguard.clientConfig" -}}
{{- $root := index . 0 -}}
clientConfig:
  service:
    name: {{ include "stsguard.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ index . 1 }}
    port: {{ $root.Values.service.port }}
  {{- with include "stsguard.caBundle" $root }}
  caBundle: {{ . }}
  {{- end }}
{{- end -}}

{{/*
matchExpressions are ANDed, so values can only append requirements: the exclusion of the
release namespace (a Fail webhook that guards its own namespace cannot be recreated while it is
down) and of kube-system stays whatever the values say. Namespaces are left out by name only:
the API server never asks the webhook about a namespace the selector skips, so a label here
would be an off switch for whoever may label the namespace, which the server could not re-check.
The opt-out label is config.optOutLabel, judged by the server against config.labelsMayLowerIn.
*/}}
{{- define "stsguard.namespaceSelector" -}}
{{- $selector := .Values.webhook.namespaceSelector -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- toYaml (concat (list .Release.Namespace "kube-system") $selector.excludedNamespaces | uniq) | nindent 8 }}
    {{- with $selector.extraMatchExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
Lets the API server skip Services that are not per-pod Services without calling the webhook.
- Requests for other resources pass the first clause, so StatefulSet and statefulsets/scale
  requests (whose object is an autoscaling/v1 Scale with no selector at all) always go through.
- `has()` is guarded step by step: a Service without spec.selector (ExternalName, or a
  headless Service with manual Endpoints) is skipped instead of making the condition fail,
  which failurePolicy Fail would turn into a rejected request.
- Only the new object counts. An UPDATE that removes the key from a per-pod Service turns it
  into a plain Service, which stsguard allows untouched; calling the webhook would only add a
  round trip, and with failurePolicy Fail a stsguard outage would block that way out.
Emitted only where the cluster serves the field (feature AdmissionWebhookMatchConditions: beta
and on from 1.28, GA 1.30), by helm's view of the cluster: the live cluster for install and
upgrade, --kube-version for `helm template`. Before 1.27 the field is unknown and strict decoding
(kubectl apply, Argo CD, Flux) rejects the whole object; on 1.27 it is alpha, off, and dropped.
The server itself allows the Services this skips, so without it only the round trip is added.
The `-0` lets vendor versions such as v1.28.3-eks-1234 (pre-releases in semver) match.
*/}}
{{- define "stsguard.matchConditions" -}}
{{- if and .Values.webhook.matchConditions.enabled (semverCompare ">=1.28.0-0" .Capabilities.KubeVersion.Version) -}}
matchConditions:
  - name: per-pod-services-only
    expression: "request.resource.resource != 'services' || (has(object.spec) && has(object.spec.selector) && 'statefulset.kubernetes.io/pod-name' in object.spec.selector)"
{{- end -}}
{{- end -}}

{{/* The controller's own ServiceAccount: it alone may write Services. */}}
{{- define "stsguard.controllerServiceAccountName" -}}
{{- printf "%s-controller" (include "stsguard.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Secret holding the key that approves expose annotations (webhook) and checks them (controller). */}}
{{- define "stsguard.approvalKeySecretName" -}}
{{- printf "%s-approval-key" (include "stsguard.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
