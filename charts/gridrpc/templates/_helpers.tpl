{{/* Names. Kubernetes names are DNS labels: at most 63 characters. */}}
{{- define "gridrpc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridrpc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The headless service naming every member; pods' DNS names live under it. The suffix
leaves room for it within 63 characters. */}}
{{- define "gridrpc.headless" -}}
{{- printf "%s-headless" (include "gridrpc.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{- define "gridrpc.etcdName" -}}
{{- printf "%s-etcd" (include "gridrpc.fullname" . | trunc 58 | trimSuffix "-") -}}
{{- end -}}

{{- define "gridrpc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridrpc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gridrpc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gridrpc.clusterSecretName" -}}
{{- default (printf "%s-cluster-secret" (include "gridrpc.fullname" .)) .Values.clusterSecret.existingSecret -}}
{{- end -}}

{{/* Labels on every object; selector labels are the stable subset. */}}
{{- define "gridrpc.labels" -}}
helm.sh/chart: {{ include "gridrpc.chart" . }}
app.kubernetes.io/name: {{ include "gridrpc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "gridrpc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gridrpc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: member
{{- end -}}

{{- define "gridrpc.etcdSelectorLabels" -}}
app.kubernetes.io/name: {{ include "gridrpc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: etcd
{{- end -}}

{{- define "gridrpc.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The host part of the address a member advertises, in terms of the container's
environment (POD_NAME, POD_NAMESPACE and POD_IP come from the downward API). */}}
{{- define "gridrpc.advertiseHost" -}}
{{- if eq .Values.advertise "podIP" -}}
$(POD_IP)
{{- else -}}
{{- printf "$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s" (include "gridrpc.headless" .) .Values.clusterDomain -}}
{{- end -}}
{{- end -}}

{{/* The client service's DNS name, for the test hook and NOTES. */}}
{{- define "gridrpc.clientHost" -}}
{{- printf "%s.%s.svc.%s" (include "gridrpc.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* etcd client URLs the members use. */}}
{{- define "gridrpc.etcdEndpoints" -}}
{{- $endpoints := list -}}
{{- if .Values.etcd.enabled -}}
{{- $etcd := include "gridrpc.etcdName" . -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $endpoints = append $endpoints (printf "http://%s-%d.%s.%s.svc.%s:2379" $etcd $i $etcd $.Release.Namespace $.Values.clusterDomain) -}}
{{- end -}}
{{- else -}}
{{- $endpoints = required "etcd.external.endpoints: list the client URLs of your etcd (or set etcd.enabled: true for a bundled one)" .Values.etcd.external.endpoints -}}
{{- if not $endpoints -}}
{{- fail "etcd.external.endpoints: list the client URLs of your etcd (or set etcd.enabled: true for a bundled one)" -}}
{{- end -}}
{{- end -}}
{{- toJson $endpoints -}}
{{- end -}}

{{/* Where the pod's volumes appear in the member container. */}}
{{- define "gridrpc.configDir" -}}/etc/gridrpc{{- end -}}
{{- define "gridrpc.zoneDir" -}}/var/run/gridrpc/zone{{- end -}}

{{/* A duration of the member's syntax ("1m30s", "200ms") in seconds, as a float. */}}
{{- define "gridrpc.seconds" -}}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9.]+(ns|us|ms|s|m|h)" (toString .) -1 -}}
{{- $number := float64 (regexFind "^[0-9.]+" $part) -}}
{{- $unit := regexReplaceAll "^[0-9.]+" $part "" -}}
{{- $scale := dict "ns" 0.000000001 "us" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total = addf $total (mulf $number (index $scale $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* The grace period: explicit, or what a leave and a shutdown may take plus a margin; an
explicit one that a graceful leave could outlast is refused. */}}
{{- define "gridrpc.terminationGrace" -}}
{{- $leave := addf (include "gridrpc.seconds" .Values.config.membership_timeout) (include "gridrpc.seconds" .Values.config.shutdown_grace) -}}
{{- if eq (toString .Values.terminationGracePeriodSeconds) "" -}}
{{- ceil (addf $leave 20) | int -}}
{{- else -}}
{{- $grace := int .Values.terminationGracePeriodSeconds -}}
{{- if le (float64 $grace) $leave -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.membership_timeout + config.shutdown_grace (%vs): a member killed while it hands its replicas over loses the cluster a backup" $grace $leave) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}
{{- end -}}

{{/* The member's config file: the user's `config` plus the keys the chart owns. */}}
{{- define "gridrpc.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- if not $c.cluster_name -}}
{{- $_ := set $c "cluster_name" (include "gridrpc.fullname" .) -}}
{{- end -}}
{{- if eq $c.coordinator "etcd" -}}
{{- $_ := set $c "etcd_endpoints" (include "gridrpc.etcdEndpoints" . | fromJsonArray) -}}
{{- end -}}
{{- if .Values.clusterSecret.enabled -}}
{{- $_ := set $c "cluster_secret_file" (printf "%s/cluster-secret" (include "gridrpc.configDir" .)) -}}
{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $c "tls_cert_file" (printf "%s/tls/tls.crt" (include "gridrpc.configDir" .)) -}}
{{- $_ := set $c "tls_key_file" (printf "%s/tls/tls.key" (include "gridrpc.configDir" .)) -}}
{{- if .Values.tls.caKey -}}
{{- $_ := set $c "tls_ca_file" (printf "%s/tls/ca.crt" (include "gridrpc.configDir" .)) -}}
{{- end -}}
{{- end -}}
{{- if .Values.zone.fixed -}}
{{- $_ := set $c "zone" .Values.zone.fixed -}}
{{- else if .Values.zone.fromNode.enabled -}}
{{- $_ := set $c "zone_file" (printf "%s/zone" (include "gridrpc.zoneDir" .)) -}}
{{- end -}}
{{- toPrettyJson $c -}}
{{- end -}}

{{/* Settings that cannot work together, refused with a message naming them. */}}
{{- define "gridrpc.validate" -}}
{{- if and (eq .Values.config.coordinator "embedded") (gt (int .Values.replicas) 1) -}}
{{- fail (printf "config.coordinator embedded runs a member alone: set replicas: 1, or coordinator: etcd (replicas is %d)" (int .Values.replicas)) -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (gt (int .Values.podDisruptionBudget.maxUnavailable) (int .Values.config.backup_count)) -}}
{{- fail (printf "podDisruptionBudget.maxUnavailable (%d) exceeds config.backup_count (%d): a drain could take every replica of a partition at once" (int .Values.podDisruptionBudget.maxUnavailable) (int .Values.config.backup_count)) -}}
{{- end -}}
{{- if and .Values.zone.fixed .Values.zone.fromNode.enabled -}}
{{- fail "zone.fixed and zone.fromNode.enabled: set one of them" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) -}}
{{- fail "tls.enabled needs tls.existingSecret: the Secret holding the members' certificate, key and CA" -}}
{{- end -}}
{{- if and (not .Values.clusterSecret.enabled) (not (and .Values.tls.enabled .Values.tls.caKey)) (gt (int .Values.replicas) 1) -}}
{{- fail "the peer port would admit anyone: enable clusterSecret, or tls with a caKey (mutual TLS)" -}}
{{- end -}}
{{- end -}}
