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
