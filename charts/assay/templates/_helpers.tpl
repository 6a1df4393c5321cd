{{/* Names, labels and the TLS material shared by the templates. */}}

{{- define "assay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "assay.fullname" -}}
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

{{- define "assay.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "assay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "assay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* selector of the assay serve pods (the Redis pods have component redis) */}}
{{- define "assay.providerSelectorLabels" -}}
{{ include "assay.selectorLabels" . }}
app.kubernetes.io/component: provider
{{- end }}

{{- define "assay.labels" -}}
helm.sh/chart: {{ include "assay.chart" . }}
{{ include "assay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: assay
{{- end }}

{{- define "assay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "assay.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* host of the Provider URLs: <service>.<namespace> */}}
{{- define "assay.serviceHost" -}}
{{- printf "%s.%s" (include "assay.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "assay.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "assay.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{- define "assay.caSecretName" -}}
{{- printf "%s-ca" (include "assay.fullname" .) }}
{{- end }}

{{- define "assay.redisName" -}}
{{- printf "%s-redis" (include "assay.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* DNS names of the serving certificate. */}}
{{- define "assay.dnsNames" -}}
{{- $svc := include "assay.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- toJson (concat (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain)) .Values.tls.extraDNSNames) }}
{{- end }}

{{/*
assay.tls returns, as YAML, the TLS material of this release:
  mode:    generated | certManager | existingSecret
  caCert:  PEM of the CA that signed the serving certificate (the Providers' caBundle)
  caKey:   PEM of that CA's key (generated, and certManager with the chart's own CA)
  cert, key: PEM of the serving certificate and key (generated only)
It is computed once per render and kept in .Values, because genCA and
genSignedCert give new keys on every call and the Secret and the Providers
must agree. Existing Secrets are looked up so that upgrades keep the CA.
*/}}
{{- define "assay.tls" -}}
{{- if not (hasKey .Values "assayTLSMaterial") }}
{{- $m := dict }}
{{- $fullname := include "assay.fullname" . }}
{{- $days := int .Values.tls.generated.validityDays }}
{{- if .Values.tls.existingSecret }}
  {{- $_ := set $m "mode" "existingSecret" }}
  {{- $ca := .Values.tls.caBundle }}
  {{- if not $ca }}
    {{- $s := lookup "v1" "Secret" .Release.Namespace .Values.tls.existingSecret }}
    {{- if and $s $s.data (index $s.data "ca.crt") }}
      {{- $ca = index $s.data "ca.crt" | b64dec }}
    {{- end }}
  {{- end }}
  {{- if not $ca }}
    {{- fail (printf "tls.existingSecret %q: the Providers need the CA that signed its certificate; set tls.caBundle to its PEM (or put it in the Secret's ca.crt)" .Values.tls.existingSecret) }}
  {{- end }}
  {{- $_ := set $m "caCert" $ca }}
{{- else if .Values.tls.certManager.enabled }}
  {{- $_ := set $m "mode" "certManager" }}
  {{- if .Values.tls.certManager.issuerRef }}
    {{- $ca := .Values.tls.caBundle }}
    {{- if not $ca }}
      {{- $s := lookup "v1" "Secret" .Release.Namespace (printf "%s-tls" $fullname) }}
      {{- if and $s $s.data (index $s.data "ca.crt") }}
        {{- $ca = index $s.data "ca.crt" | b64dec }}
      {{- end }}
    {{- end }}
    {{- if not $ca }}
      {{- fail "tls.certManager.issuerRef: the Providers need the CA of that issuer; set tls.caBundle to its PEM" }}
    {{- end }}
    {{- $_ := set $m "caCert" $ca }}
  {{- else }}
    {{- $s := lookup "v1" "Secret" .Release.Namespace (include "assay.caSecretName" .) }}
    {{- if and $s $s.data (index $s.data "tls.crt") (index $s.data "tls.key") }}
      {{- $_ := set $m "caCert" (index $s.data "tls.crt" | b64dec) }}
      {{- $_ := set $m "caKey" (index $s.data "tls.key" | b64dec) }}
    {{- else }}
      {{- $ca := genCA (printf "%s-ca" $fullname) $days }}
      {{- $_ := set $m "caCert" $ca.Cert }}
      {{- $_ := set $m "caKey" $ca.Key }}
    {{- end }}
  {{- end }}
{{- else }}
  {{- $_ := set $m "mode" "generated" }}
  {{- $s := lookup "v1" "Secret" .Release.Namespace (printf "%s-tls" $fullname) }}
  {{- if and $s $s.data (index $s.data "ca.crt") (index $s.data "tls.crt") (index $s.data "tls.key") }}
    {{- $_ := set $m "caCert" (index $s.data "ca.crt" | b64dec) }}
    {{- $_ := set $m "cert" (index $s.data "tls.crt" | b64dec) }}
    {{- $_ := set $m "key" (index $s.data "tls.key" | b64dec) }}
  {{- else }}
    {{- $ca := genCA (printf "%s-ca" $fullname) $days }}
    {{- $dns := include "assay.dnsNames" . | fromJsonArray }}
    {{- $cert := genSignedCert (include "assay.serviceHost" .) .Values.tls.ipAddresses $dns $days $ca }}
    {{- $_ := set $m "caCert" $ca.Cert }}
    {{- $_ := set $m "cert" $cert.Cert }}
    {{- $_ := set $m "key" $cert.Key }}
  {{- end }}
{{- end }}
{{- $_ := set .Values "assayTLSMaterial" $m }}
{{- end }}
{{- toYaml .Values.assayTLSMaterial }}
{{- end }}

{{/* base64 of the PEM CA that signed the serving certificate: the Providers' caBundle */}}
{{- define "assay.caBundle" -}}
{{- (include "assay.tls" . | fromYaml).caCert | b64enc }}
{{- end }}

{{/*
assay.clientCA returns, as YAML, how the client CA (Gatekeeper's) reaches the pod:
  direct: true   mount gatekeeper.caSecret itself (same namespace), secret and key name it
  direct: false  mount the copy <fullname>-gatekeeper-ca (key ca.crt); pem is its content
                 when known (gatekeeper.caBundle, the Gatekeeper Secret, or the copy
                 made by an earlier release), empty otherwise
*/}}
{{- define "assay.clientCA" -}}
{{- $gk := .Values.gatekeeper }}
{{- $ns := default $gk.namespace $gk.caSecret.namespace }}
{{- $m := dict "secretNamespace" $ns }}
{{- if and (eq $ns .Release.Namespace) (not $gk.caBundle) }}
  {{- $_ := set $m "direct" true }}
  {{- $_ := set $m "secret" $gk.caSecret.name }}
  {{- $_ := set $m "key" $gk.caSecret.key }}
{{- else }}
  {{- $copy := printf "%s-gatekeeper-ca" (include "assay.fullname" .) }}
  {{- $_ := set $m "direct" false }}
  {{- $_ := set $m "secret" $copy }}
  {{- $_ := set $m "key" "ca.crt" }}
  {{- $pem := $gk.caBundle }}
  {{- $source := "the gatekeeper.caBundle value" }}
  {{- if not $pem }}
    {{- $s := lookup "v1" "Secret" $ns $gk.caSecret.name }}
    {{- if and $s $s.data (index $s.data $gk.caSecret.key) }}
      {{- $pem = index $s.data $gk.caSecret.key | b64dec }}
      {{- $source = printf "Secret %s/%s key %s" $ns $gk.caSecret.name $gk.caSecret.key }}
    {{- end }}
  {{- end }}
  {{- if not $pem }}
    {{- $s := lookup "v1" "Secret" .Release.Namespace $copy }}
    {{- if and $s $s.data (index $s.data "ca.crt") }}
      {{- $pem = index $s.data "ca.crt" | b64dec }}
      {{- $source = (index ($s.metadata.annotations | default dict) "assay.dev/client-ca-source") | default "an earlier release" }}
    {{- end }}
  {{- end }}
  {{- $_ := set $m "source" $source }}
  {{- $_ := set $m "pem" $pem }}
{{- end }}
{{- toYaml $m }}
{{- end }}

{{/* host:port of the Redis verdict cache, or empty */}}
{{- define "assay.redisAddress" -}}
{{- if .Values.redis.enabled }}
{{- printf "%s.%s.svc:6379" (include "assay.redisName" .) .Release.Namespace }}
{{- else }}
{{- .Values.redis.address }}
{{- end }}
{{- end }}

{{/* namespaces never mutated nor, by default, constrained */}}
{{- define "assay.protectedNamespaces" -}}
{{- toJson (list "kube-system" .Values.gatekeeper.namespace .Release.Namespace | uniq) }}
{{- end }}

{{/* the verification objects of config.* as a list of Kubernetes objects */}}
{{- define "assay.objects" -}}
{{- $objs := list }}
{{- range .Values.config.stores }}
{{- $objs = append $objs (dict "apiVersion" "config.assay.dev/v1alpha1" "kind" "Store" "metadata" (dict "name" .name) "spec" (.spec | default dict)) }}
{{- end }}
{{- range .Values.config.verifiers }}
{{- $objs = append $objs (dict "apiVersion" "config.assay.dev/v1alpha1" "kind" "Verifier" "metadata" (dict "name" .name) "spec" (.spec | default dict)) }}
{{- end }}
{{- range .Values.config.policies }}
{{- $objs = append $objs (dict "apiVersion" "config.assay.dev/v1alpha1" "kind" "Policy" "metadata" (dict "name" .name) "spec" (.spec | default dict)) }}
{{- end }}
{{- toJson $objs }}
{{- end }}
