{{/* Names and labels, as `helm create` does them. */}}
{{- define "forge-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "forge-exporter.fullname" -}}
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

{{- define "forge-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "forge-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "forge-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "forge-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: exporter
{{- end }}

{{- define "forge-exporter.serviceAccountName" -}}
{{- if eq .Values.mode "sidecar" }}
{{- required "sidecar.serviceAccountName: the Gitea pod's ServiceAccount is required in sidecar mode" .Values.sidecar.serviceAccountName }}
{{- else if .Values.serviceAccount.create }}
{{- default (include "forge-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "forge-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The exporter configuration as rendered into the ConfigMap: config from
values, with gitea.token_file pointing at the mounted token Secret when the
operator left it empty.
*/}}
{{- define "forge-exporter.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $gitea := $cfg.gitea | default dict }}
{{- if and .Values.giteaToken.existingSecret (not $gitea.token_file) }}
{{- $_ := set $gitea "token_file" (printf "%s/%s" (trimSuffix "/" .Values.giteaToken.mountPath) .Values.giteaToken.key) }}
{{- $_ := set $cfg "gitea" $gitea }}
{{- end }}
{{- if and $gitea.url (not $gitea.token_file) }}
{{- fail "config.gitea.url is set but no token: set giteaToken.existingSecret (a Secret holding the token) or config.gitea.token_file (a file you mount with extraVolumes)" }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
The Kubernetes collectors and whether each is on when config.collectors does
not name it. This mirrors collectors.Specs() in the exporter; a test in
deploy/helm/charttest fails when the two disagree.
*/}}
{{- define "forge-exporter.kubeCollectorDefaults" -}}
pvc: false
cnpg: false
volumebackup: false
{{- end }}

{{/* The collectors that read evidence ConfigMaps (with configmap_label_selector set). */}}
{{- define "forge-exporter.evidenceCollectorDefaults" -}}
drills: true
trust: true
{{- end }}

{{/*
forge-exporter.rbacRules renders {"namespaced": [rules], "cluster": [rules]}
as YAML: get/list/watch on exactly the resources the enabled collectors
read. Nothing else, and never Secrets.
*/}}
{{- define "forge-exporter.rbacRules" -}}
{{- $defaults := include "forge-exporter.kubeCollectorDefaults" . | fromYaml }}
{{- $set := .Values.config.collectors | default dict }}
{{- $on := dict }}
{{- $defaults = merge $defaults (include "forge-exporter.evidenceCollectorDefaults" . | fromYaml) }}
{{- range $name, $def := $defaults }}
{{- $_ := set $on $name (ternary (index $set $name) $def (hasKey $set $name)) }}
{{- end }}
{{- $verbs := list "get" "list" "watch" }}
{{- $ns := list }}
{{- $cluster := list }}
{{- if $on.pvc }}
{{- $ns = append $ns (dict "apiGroups" (list "") "resources" (list "persistentvolumeclaims") "verbs" $verbs) }}
{{- /* PVs are cluster-scoped; the exporter reads them unless config.kubernetes.persistentvolumes is false. */}}
{{- $kube := .Values.config.kubernetes | default dict }}
{{- if or (not (hasKey $kube "persistentvolumes")) $kube.persistentvolumes }}
{{- $cluster = append $cluster (dict "apiGroups" (list "") "resources" (list "persistentvolumes") "verbs" $verbs) }}
{{- end }}
{{- end }}
{{- if $on.cnpg }}
{{- $ns = append $ns (dict "apiGroups" (list "postgresql.cnpg.io") "resources" (list "backups" "clusters" "scheduledbackups") "verbs" $verbs) }}
{{- $ns = append $ns (dict "apiGroups" (list "barmancloud.cnpg.io") "resources" (list "objectstores") "verbs" $verbs) }}
{{- end }}
{{- if $on.volumebackup }}
{{- $ns = append $ns (dict "apiGroups" (list "batch") "resources" (list "cronjobs") "verbs" $verbs) }}
{{- $ns = append $ns (dict "apiGroups" (list "snapshot.storage.k8s.io") "resources" (list "volumesnapshots") "verbs" $verbs) }}
{{- end }}
{{- if and (.Values.config.evidence | default dict).configmap_label_selector (or $on.drills $on.trust) }}
{{- /* RBAC cannot select by label: the exporter lists with the label selector, the Role allows the namespaces' ConfigMaps. */}}
{{- $ns = append $ns (dict "apiGroups" (list "") "resources" (list "configmaps") "verbs" $verbs) }}
{{- end }}
{{- toYaml (dict "namespaced" $ns "cluster" $cluster) }}
{{- end }}

{{/* true when some enabled collector talks to the Kubernetes API */}}
{{- define "forge-exporter.usesKubeAPI" -}}
{{- $r := include "forge-exporter.rbacRules" . | fromYaml }}
{{- if or $r.namespaced $r.cluster }}true{{ end }}
{{- end }}

{{- define "forge-exporter.scheme" -}}
{{- ternary "HTTPS" "HTTP" .Values.webConfig.tls }}
{{- end }}

{{/*
The exporter container, shared by the Deployment and the sidecar snippet so
the two cannot drift apart. Argument: dict "root" $ "dataVolume" NAME.
*/}}
{{- define "forge-exporter.container" -}}
{{- $ := .root }}
{{- $v := $.Values }}
name: forge-exporter
image: {{ include "forge-exporter.image" $ | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
args:
  - --config.file=/etc/forge-exporter/config/forge-exporter.yaml
  - --web.listen-address=:{{ $v.port }}
  - --log.level={{ $v.logLevel }}
  - --log.format={{ $v.logFormat }}
  - --web.max-requests={{ $v.webMaxRequests }}
  {{- if $v.webConfig.existingSecret }}
  - --web.config.file=/etc/forge-exporter/web/{{ $v.webConfig.key }}
  {{- end }}
  {{- range $v.extraArgs }}
  - {{ . | quote }}
  {{- end }}
env:
  # The Go runtime collects harder as it nears the container's memory limit
  # instead of leaving that to the kernel's OOM killer (without a limit the
  # downward API gives the node's allocatable memory).
  - name: GOMEMLIMIT
    valueFrom:
      resourceFieldRef:
        resource: limits.memory
ports:
  # Not "http": in sidecar mode the Gitea container already has a port by that name.
  - name: metrics
    containerPort: {{ $v.port }}
    protocol: TCP
{{- if $v.webConfig.basicAuth }}
livenessProbe:
  tcpSocket:
    port: metrics
  {{- toYaml $v.livenessProbe | nindent 2 }}
{{- if ne $v.mode "sidecar" }}
readinessProbe:
  tcpSocket:
    port: metrics
  {{- toYaml $v.readinessProbe | nindent 2 }}
{{- end }}
{{- else }}
livenessProbe:
  httpGet:
    path: /-/healthy
    port: metrics
    scheme: {{ include "forge-exporter.scheme" $ }}
  {{- toYaml $v.livenessProbe | nindent 2 }}
{{- /*
In sidecar mode a failing readiness probe would take the whole Gitea pod out
of Gitea's Service: the exporter gets a liveness probe only.
*/}}
{{- if ne $v.mode "sidecar" }}
readinessProbe:
  httpGet:
    path: /-/ready
    port: metrics
    scheme: {{ include "forge-exporter.scheme" $ }}
  {{- toYaml $v.readinessProbe | nindent 2 }}
{{- end }}
{{- end }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  {{- $sc := deepCopy $v.securityContext }}
  {{- if eq $v.mode "sidecar" }}
  {{- /* In the Gitea pod the pod-level context is Gitea's: pin the user here. */}}
  {{- $_ := set $sc "runAsUser" $v.podSecurityContext.runAsUser }}
  {{- $_ := set $sc "runAsGroup" $v.podSecurityContext.runAsGroup }}
  {{- end }}
  {{- toYaml $sc | nindent 2 }}
volumeMounts:
  - name: forge-exporter-config
    mountPath: /etc/forge-exporter/config
    readOnly: true
  {{- if .dataVolume }}
  - name: {{ .dataVolume }}
    mountPath: {{ $v.giteaData.mountPath }}
    {{- if $v.giteaData.subPath }}
    subPath: {{ $v.giteaData.subPath }}
    {{- end }}
    readOnly: true
  {{- end }}
  {{- if $v.giteaToken.existingSecret }}
  - name: forge-exporter-gitea-token
    mountPath: {{ $v.giteaToken.mountPath }}
    readOnly: true
  {{- end }}
  {{- if $v.webConfig.existingSecret }}
  - name: forge-exporter-web-config
    mountPath: /etc/forge-exporter/web
    readOnly: true
  {{- end }}
  {{- if and (eq $v.mode "sidecar") (include "forge-exporter.usesKubeAPI" $) }}
  - name: forge-exporter-kube-api-access
    mountPath: /var/run/secrets/kubernetes.io/serviceaccount
    readOnly: true
  {{- end }}
  {{- with $v.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Volumes of the exporter other than the data volume. Argument: $ */}}
{{- define "forge-exporter.volumes" -}}
- name: forge-exporter-config
  configMap:
    name: {{ include "forge-exporter.fullname" . }}
{{- if .Values.giteaToken.existingSecret }}
- name: forge-exporter-gitea-token
  secret:
    secretName: {{ .Values.giteaToken.existingSecret }}
    # 0444: readable by the exporter's non-root user without fsGroup (see README)
    defaultMode: 0444
    items:
      - key: {{ .Values.giteaToken.key }}
        path: {{ .Values.giteaToken.key }}
{{- end }}
{{- if .Values.webConfig.existingSecret }}
- name: forge-exporter-web-config
  secret:
    secretName: {{ .Values.webConfig.existingSecret }}
    # 0444: readable by the exporter's non-root user without fsGroup (see README)
    defaultMode: 0444
    items:
      - key: {{ .Values.webConfig.key }}
        path: {{ .Values.webConfig.key }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
