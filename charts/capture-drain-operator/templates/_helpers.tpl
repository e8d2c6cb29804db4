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

{{/* RBAC rules on namespaced resources: in the ClusterRole when every namespace is watched, else
in a Role per watched namespace. */}}
{{- define "cdo.namespacedRules" -}}
{{- $creates := or .Values.rollouts.enabled .Values.webhook.enabled .Values.nodeDrain.enabled -}}
# The drains: watched, status written through the status subresource; the rollout, gate and
# cordon controllers create one per pod (pod-drains.ts); the cordon controller deletes a drain
# that has not started when its node is uncordoned.
- apiGroups: [drain.ticdc.io]
  resources: [capturedrains]
  # patch: the finalizer that records a CaptureDrain deleted mid-drain (added and removed by merge patch).
  verbs: [get, list, watch, patch{{ if $creates }}, create{{ end }}{{ if .Values.nodeDrain.enabled }}, delete{{ end }}]
- apiGroups: [drain.ticdc.io]
  resources: [capturedrains/status]
  verbs: [get, patch, update]
# The capture pods: read to map pod -> capture, deleted once drained (podAction Delete).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
# The StatefulSet behind a pod: its annotations say how to reach TiCDC. Rollouts patch its
# partition, replicas and progress annotations; the gate touches it so its controller retries a
# delete it now admits.
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch{{ if or .Values.rollouts.enabled .Values.webhook.enabled }}, patch{{ end }}]
# TLS and credential Secrets named by a drain or its StatefulSet.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.nodeDrain.enabled }}
# Node cordon: a capture pod's claims, to leave pods with node-local volumes to the eviction path.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list]
{{- end }}
{{- if .Values.webhook.enabled }}
# Gate: an eviction a PodDisruptionBudget would refuse is answered 429 before any drain starts.
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch]
{{- end }}
{{- end -}}

{{/* RBAC rules on cluster-scoped resources, for the enabled controllers only (may be empty). */}}
{{- define "cdo.clusterScopedRules" -}}
{{- if or .Values.webhook.enabled .Values.nodeDrain.enabled }}
# Gate and cordon: never hold or start drains in a namespace being deleted (with watchNamespaces:
# those namespaces only).
- apiGroups: [""]
  resources: [namespaces]
  {{- with .Values.watchNamespaces }}
  resourceNames: {{ toJson . }}
  {{- end }}
  verbs: [get]
{{- end }}
{{- if .Values.nodeDrain.enabled }}
# Node cordon: watch nodes to see spec.unschedulable and the unschedulable taint.
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
# Node cordon: the PersistentVolume behind a capture pod's claim (local / hostPath / node affinity).
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get]
{{- else if .Values.webhook.enabled }}
# Gate: a pod on a NotReady or unreachable node cannot be drained; its deletion is admitted.
- apiGroups: [""]
  resources: [nodes]
  verbs: [get]
{{- end }}
{{- if and .Values.webhook.enabled (ne .Values.webhook.certificate.mode "certManager") }}
# Gate, operator cert mode: keeps its webhook configuration's caBundle current.
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingwebhookconfigurations]
  resourceNames: [{{ include "cdo.fullname" . }}]
  verbs: [get, patch]
{{- end }}
{{- end -}}
