{{/*
RBAC rules: exactly tests/ship/rbac_expected.yaml (tests/ship/test_ship_rbac.py checks
every rendering against it).
*/}}

{{/* Cluster-scoped: kopf's discovery of CRDs and namespaces. Always a ClusterRole. */}}
{{- define "aurora-restore-operator.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

{{/* Namespaced: a ClusterRole for all namespaces, or a Role per watched namespace. */}}
{{- define "aurora-restore-operator.namespacedRules" -}}
- apiGroups: [dbrestore.io]
  resources: [aurorarestores, aurorarestoreschedules]
  verbs: [get, list, watch, patch, update]
- apiGroups: [dbrestore.io]
  resources: [aurorarestores]
  verbs: [create, delete]
- apiGroups: [dbrestore.io]
  resources: [aurorarestores/status, aurorarestoreschedules/status]
  verbs: [get, patch, update]
- apiGroups: [dbrestore.io]
  resources: [aurorarestores/finalizers, aurorarestoreschedules/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, patch, update]
{{- end }}
