{{- define "ticdc.fullname" -}}
{{- if contains "ticdc" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name "ticdc" | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ticdc.peerService" -}}
{{- printf "%s-peer" (include "ticdc.fullname" .) -}}
{{- end -}}

{{- define "ticdc.selectorLabels" -}}
app.kubernetes.io/name: ticdc
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ticdc.labels" -}}
{{ include "ticdc.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Replicas to render: the desired count, but never fewer than the live StatefulSet has, so that
`helm upgrade --set replicas=N` never lets the StatefulSet controller delete undrained pods; the
operator lowers spec.replicas itself, one drained pod at a time, down to drain.ticdc.io/replicas.
*/}}
{{- define "ticdc.replicas" -}}
{{- $desired := int .Values.replicas -}}
{{- $live := lookup "apps/v1" "StatefulSet" .Release.Namespace (include "ticdc.fullname" .) -}}
{{- if and $live $live.spec (hasKey $live.spec "replicas") -}}
{{- max $desired (int $live.spec.replicas) -}}
{{- else -}}
{{- $desired -}}
{{- end -}}
{{- end -}}
