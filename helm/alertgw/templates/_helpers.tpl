{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "alertgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters (a DNS label) minus room for the
"-gateway"/"-worker"/"-redis" suffixes the components add.
*/}}
{{- define "alertgw.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "alertgw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "alertgw.labels" -}}
helm.sh/chart: {{ include "alertgw.chart" . }}
{{ include "alertgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: alertgw
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "alertgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alertgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Per-component names and selectors: call with (dict "root" $ "component" "gateway"). */}}
{{- define "alertgw.componentName" -}}
{{- printf "%s-%s" (include "alertgw.fullname" .root) .component }}
{{- end }}

{{- define "alertgw.componentLabels" -}}
{{ include "alertgw.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "alertgw.componentSelectorLabels" -}}
{{ include "alertgw.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "alertgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "alertgw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "alertgw.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Name of the Secret whose keys become environment variables, or "" when there is none. */}}
{{- define "alertgw.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if include "alertgw.secretData" . }}
{{- include "alertgw.fullname" . }}
{{- end }}
{{- end }}

{{/* The chart-managed Secret's data: only keys with a value, so unset secrets stay unset. */}}
{{- define "alertgw.secretData" -}}
{{- range $key, $value := .Values.secrets.values }}
{{- if $value }}
{{ $key }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Where the rules come from: a chart-managed ConfigMap, the user's, or "" (image's own). */}}
{{- define "alertgw.rulesConfigMap" -}}
{{- if .Values.rules.existingConfigMap }}
{{- .Values.rules.existingConfigMap }}
{{- else if .Values.rules.files }}
{{- printf "%s-rules" (include "alertgw.fullname" .) }}
{{- end }}
{{- end }}

{{- define "alertgw.redisUrl" -}}
{{- if .Values.redis.embedded.enabled }}
{{- printf "redis://%s:%d/0" (include "alertgw.componentName" (dict "root" . "component" "redis")) (int .Values.redis.embedded.port) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/*
Pod annotations that roll the pods when something they read only at start-up changes.
Rules are not among them: the gateway hot-reloads them and workers read them per job,
unless rules.restartOnChange asks for a restart anyway.
*/}}
{{- define "alertgw.checksums" -}}
{{- if and (not .Values.secrets.existingSecret) (include "alertgw.secretData" .) }}
checksum/secret: {{ include "alertgw.secretData" . | sha256sum }}
{{- end }}
{{- if and .Values.rules.restartOnChange .Values.rules.files (not .Values.rules.existingConfigMap) }}
checksum/rules: {{ toYaml .Values.rules.files | sha256sum }}
{{- end }}
{{- end }}

{{/* Pod annotations: the checksums plus the user's: call with (dict "root" $ "extra" map). */}}
{{- define "alertgw.podAnnotations" -}}
{{ include "alertgw.checksums" .root }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Environment shared by gateway and workers: settings as plain env, secrets via envFrom. */}}
{{- define "alertgw.env" -}}
{{- $url := include "alertgw.redisUrl" . }}
{{- /* a URL with a password belongs in the Secret; explicit env would shadow it */}}
{{- if and $url (not .Values.secrets.values.ALERTGW_REDIS_URL) }}
- name: ALERTGW_REDIS_URL
  value: {{ $url | quote }}
{{- end }}
- name: ALERTGW_REDIS_PREFIX
  value: {{ .Values.config.redisPrefix | quote }}
- name: ALERTGW_RULES
  value: {{ .Values.rules.mountPath | quote }}
- name: ALERTGW_DELIVERY
  value: {{ .Values.config.delivery | quote }}
- name: ALERTGW_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: ALERTGW_LOG_FORMAT
  value: {{ .Values.config.logFormat | quote }}
- name: ALERTGW_MAX_BODY_BYTES
  value: {{ .Values.config.maxBodyBytes | int | quote }}
- name: ALERTGW_PAGERDUTY_EVENTS_URL
  value: {{ .Values.config.pagerdutyEventsUrl | quote }}
- name: ALERTGW_SLACK_API_URL
  value: {{ .Values.config.slackApiUrl | quote }}
- name: ALERTGW_WORKER_METRICS_PORT
  value: {{ .Values.worker.metricsPort | int | quote }}
{{- with .Values.config.sentryEnvironment }}
- name: SENTRY_ENVIRONMENT
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "alertgw.envFrom" -}}
{{- $secret := include "alertgw.secretName" . }}
{{- if $secret }}
- secretRef:
    name: {{ $secret }}
{{- end }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes every alertgw pod mounts: a writable /tmp and the rules, when they are ours. */}}
{{- define "alertgw.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- $rules := include "alertgw.rulesConfigMap" . }}
{{- if $rules }}
- name: rules
  configMap:
    name: {{ $rules }}
{{- end }}
{{- end }}

{{/*
The rules are mounted as a whole directory, never with subPath: kubelet updates a
ConfigMap volume by swapping a symlink, which subPath mounts never see.
*/}}
{{- define "alertgw.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "alertgw.rulesConfigMap" . }}
- name: rules
  mountPath: {{ .Values.rules.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Name of the metrics port of worker process i (an int): `alertgw worker --processes N`
serves process i's /metrics on ALERTGW_WORKER_METRICS_PORT + i.
*/}}
{{- define "alertgw.workerPortName" -}}
{{- if eq (int .) 0 }}metrics{{ else }}metrics-{{ . }}{{ end }}
{{- end }}
