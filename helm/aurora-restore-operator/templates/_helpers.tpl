{{/* Chart name. */}}
{{- define "aurora-restore-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "aurora-restore-operator.fullname" -}}
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

{{/*
The full name with a suffix, still at most 63 characters (a Service name is a DNS label):
the full name is cut, never the suffix, so two suffixed names cannot collide.
Usage: include "aurora-restore-operator.suffixed" (list . "-metrics")
*/}}
{{- define "aurora-restore-operator.suffixed" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "aurora-restore-operator.fullname" $ctx | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s%s" $base $suffix }}
{{- end }}

{{- define "aurora-restore-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: the Deployment's selector and the Service's; nothing may override them. */}}
{{- define "aurora-restore-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aurora-restore-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The chart's own labels; commonLabels are added but cannot replace them. */}}
{{- define "aurora-restore-operator.labels" -}}
{{- $own := fromYaml (include "aurora-restore-operator.ownLabels" .) }}
{{- toYaml (merge $own (deepCopy (.Values.commonLabels | default dict))) }}
{{- end }}

{{- define "aurora-restore-operator.ownLabels" -}}
helm.sh/chart: {{ include "aurora-restore-operator.chart" . }}
{{ include "aurora-restore-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aurora-restore-operator
{{- end }}

{{/* Pod labels: selector labels win over podLabels, which win over commonLabels. */}}
{{- define "aurora-restore-operator.podLabels" -}}
{{- $selector := fromYaml (include "aurora-restore-operator.selectorLabels" .) }}
{{- $extra := merge (deepCopy (.Values.podLabels | default dict)) (deepCopy (.Values.commonLabels | default dict)) }}
{{- toYaml (merge $selector $extra) }}
{{- end }}

{{- define "aurora-restore-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aurora-restore-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest pins the image (the tag is then ignored). */}}
{{- define "aurora-restore-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
A Prometheus duration ("24h", "1d12h", "90m") in seconds, for alert thresholds: PromQL
compares timestamps with numbers, not durations. values.schema.json allows only s/m/h/d/w.
*/}}
{{- define "aurora-restore-operator.seconds" -}}
{{- $units := dict "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+[smhdw]" . -1 }}
{{- $n := regexFind "^[0-9]+" . | int }}
{{- $unit := trimPrefix (regexFind "^[0-9]+" .) . }}
{{- $total = add $total (mul $n (get $units $unit)) }}
{{- end }}
{{- $total }}
{{- end }}
