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
{{ include "cdo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cdo.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The cert-manager Secret (certManager mode) or the operator-written one (operator mode). */}}
{{- define "cdo.webhookSecretName" -}}
{{ include "cdo.fullname" . }}-webhook-cert
{{- end -}}

{{- define "cdo.webhookCertDir" -}}
/etc/capture-drain/webhook
{{- end -}}
