{{/* Chart name, truncated to the 63 characters Kubernetes allows in a label value. */}}
{{- define "saga.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart's. */}}
{{- define "saga.fullname" -}}
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

{{- define "saga.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "saga.labels" -}}
helm.sh/chart: {{ include "saga.chart" . }}
{{ include "saga.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: saga-orchestrator
{{- end }}

{{- define "saga.selectorLabels" -}}
app.kubernetes.io/name: {{ include "saga.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector of the worker; participants use component=participant-<name>. */}}
{{- define "saga.workerSelectorLabels" -}}
{{ include "saga.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "saga.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "saga.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "saga.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the worker and participants read SAGA_DATABASE_URL etc. from. */}}
{{- define "saga.secretName" -}}
{{- default (include "saga.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The Secret the participants read SAGA_PARTICIPANT_DATABASE_URL from: the one named for
them, else the release's existing Secret, else the one participants-secret.yaml creates. */}}
{{- define "saga.participantsSecretName" -}}
{{- if .Values.participants.database.existingSecret }}
{{- .Values.participants.database.existingSecret }}
{{- else if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-participants" (include "saga.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Whether this chart creates the participants' Secret (see saga.participantsSecretName). */}}
{{- define "saga.createsParticipantsSecret" -}}
{{- if and .Values.participants.enabled (not .Values.participants.database.existingSecret) (not .Values.existingSecret) }}true{{ end }}
{{- end }}

{{/* The Secret the migrations Job reads the owner URL from: a hook Secret of its own unless
an existing Secret is used (which exists before any hook runs). */}}
{{- define "saga.migrationsSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-migrations" (include "saga.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Secret-sourced variables shared by the worker and the participants. The registry
credentials are optional: absent key, absent variable. */}}
{{- define "saga.secretEnv" -}}
- name: SAGA_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "saga.secretName" . }}
      key: SAGA_DATABASE_URL
- name: SAGA_SCHEMA_REGISTRY_BASIC_AUTH
  valueFrom:
    secretKeyRef:
      name: {{ include "saga.secretName" . }}
      key: SAGA_SCHEMA_REGISTRY_BASIC_AUTH
      optional: true
{{- end }}

{{/* Pod-level settings shared by every pod the chart runs. */}}
{{- define "saga.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Volume mounts of the security Secrets (see kafkaSecurity and databaseTls in values.yaml);
the paths match the ConfigMap's SAGA_*_FILE variables. Call with (dict "root" $ "sasl" ...),
`sasl` as for saga.securityVolumes. */}}
{{- define "saga.securityMounts" -}}
{{- $root := .root }}
{{- if (default $root.Values.kafkaSecurity.sasl.passwordSecret .sasl).name }}
- name: kafka-sasl
  mountPath: /var/run/saga-kafka-sasl
  readOnly: true
{{- end }}
{{- if $root.Values.kafkaSecurity.tls.secretName }}
- name: kafka-tls
  mountPath: /var/run/saga-kafka-tls
  readOnly: true
{{- end }}
{{- if $root.Values.databaseTls.secretName }}
- name: database-tls
  mountPath: /var/run/saga-db-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* The volumes behind saga.securityMounts. `sasl` (optional) is a participant's own
passwordSecret, replacing the worker's. Call with (dict "root" $ "sasl" ...). Mode 0440: the
pods run as a non-root user in the volume's group (fsGroup), and libpq accepts a root-owned
key that is group-readable. */}}
{{- define "saga.securityVolumes" -}}
{{- $root := .root }}
{{- $sasl := default $root.Values.kafkaSecurity.sasl.passwordSecret .sasl }}
{{- if $sasl.name }}
- name: kafka-sasl
  secret:
    secretName: {{ $sasl.name }}
    defaultMode: 0440
    items:
      - key: {{ $sasl.key }}
        path: password
{{- end }}
{{- with $root.Values.kafkaSecurity.tls }}
{{- if .secretName }}
- name: kafka-tls
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
    items:
      {{- if .caKey }}
      - {key: {{ .caKey }}, path: ca.crt}
      {{- end }}
      {{- if .certKey }}
      - {key: {{ .certKey }}, path: tls.crt}
      {{- end }}
      {{- if .keyKey }}
      - {key: {{ .keyKey }}, path: tls.key}
      {{- end }}
      {{- if .keyPasswordKey }}
      - {key: {{ .keyPasswordKey }}, path: key-password}
      {{- end }}
{{- end }}
{{- end }}
{{- with $root.Values.databaseTls }}
{{- if .secretName }}
- name: database-tls
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
    items:
      {{- if .caKey }}
      - {key: {{ .caKey }}, path: ca.crt}
      {{- end }}
      {{- if .certKey }}
      - {key: {{ .certKey }}, path: tls.crt}
      {{- end }}
      {{- if .keyKey }}
      - {key: {{ .keyKey }}, path: tls.key}
      {{- end }}
{{- end }}
{{- end }}
{{- end }}
