{{- define "cdo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "cdo.serviceAccountName" -}}
{{- default (include "cdo.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* What the Deployment, the metrics Service and the webhook Service select pods by. */}}
{{- define "cdo.selectorLabels" -}}
app.kubernetes.io/name: capture-drain-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cdo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
