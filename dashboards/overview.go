package dashboards

import "strings"

// Selectors every query uses, so the namespace and instance variables
// filter every panel they apply to.
const (
	inst = `instance=~"$instance"`
	nsel = `namespace=~"$namespace",instance=~"$instance"`
	// notFilling stands in for "no time to full" (a volume that is not
	// growing): a finite number far beyond any real prediction, shown as
	// "not filling up" by a value mapping. Keeping every volume on the panel
	// is what makes it readable at a glance.
	notFilling = "1e15"
)

const runbooks = "https://github.com/railiance/forge-exporter/blob/main/docs/runbooks/"

// sel puts a label selector into a template: {NS} and {IN} become the
// namespaced and the instance-only selector.
func sel(expr string) string {
	return strings.NewReplacer("{NS}", "{"+nsel+"}", "{IN}", "{"+inst+"}", "NSSEL", nsel, "INSEL", inst).Replace(expr)
}

// Overview is the forge-exporter dashboard: an overview a platform operator
// reads in five seconds, then one collapsed row of detail per area.
func Overview() Dashboard {
	l := &layout{}
	var panels []Panel

	// --- Overview: the state of each contract signal at a glance ---
	panels = append(panels,
		l.place(6, 5, stat("Database backup age", "Time since the newest completed CNPG Backup per database (from Backup objects). Red from 26h; the alert uses 2 × the ScheduledBackup interval + 1h, see the next panel.",
			"dtdurations", steps("green", 86400, "orange", 93600, "red"), nil,
			target(sel(`namespace_cluster:forge_cnpg_backup_age_seconds{NS}`), "{{namespace}}/{{cluster}}")).withLink("ForgeDatabaseBackupStale")),
		l.place(6, 5, bargauge("Database backup age / allowed age", "Backup age as a share of the age ForgeDatabaseBackupStale allows (2 × the shortest active ScheduledBackup interval + 1h, 26h without a schedule). Red at 100%: paging.",
			"percentunit", ptr(0), ptr(1.5), steps("green", 0.5, "orange", 1, "red"),
			target(sel(`namespace_cluster:forge_cnpg_backup_age_seconds{NS} / on (namespace, cluster, job, instance) namespace_cluster:forge_cnpg_backup_max_age_seconds{NS}`), "{{namespace}}/{{cluster}}"))),
		l.place(6, 5, bargauge("Volume usage", "What each PVC holds against its requested size (the directory named like the volume, else statfs), and the filesystem's used share. local-path does not enforce the request.",
			"percentunit", ptr(0), ptr(1), steps("green", 0.85, "orange", 0.9, "red"),
			target(sel(`namespace_persistentvolumeclaim:forge_volume_claim_used_bytes:ratio_requested{NS}`), "{{namespace}}/{{persistentvolumeclaim}} of request"),
			target(sel(`1 - namespace_persistentvolumeclaim:forge_volume_available_bytes:ratio{NS}`), "{{namespace}}/{{persistentvolumeclaim}} of filesystem")).withLink("ForgeVolumeAlmostFull")),
		l.place(6, 5, stat("Time to full (6h trend)", "When each volume reaches its filesystem's or its request's limit at the growth of the last 6 hours.",
			"dtdurations", steps("red", 86400, "orange", 345600, "green"), []Mapping{rangeMap(1e14, 1e300, "not filling up", "green")},
			target(sel(`namespace_persistentvolumeclaim:forge_volume_filesystem_time_to_full_seconds:deriv6h{NS} or on (volume, namespace, persistentvolumeclaim, job, instance) (0 * forge_volume_available_bytes{NS} + `+notFilling+`)`), "{{persistentvolumeclaim}} filesystem"),
			target(sel(`namespace_persistentvolumeclaim:forge_volume_request_time_to_full_seconds:deriv6h{NS} or on (volume, namespace, persistentvolumeclaim, job, instance) (0 * namespace_persistentvolumeclaim:forge_volume_claim_used_bytes:ratio_requested{NS} + `+notFilling+`)`), "{{persistentvolumeclaim}} request")).withLink("ForgeVolumeFillingUp")),

		l.place(8, 6, timeseries("Blob store growth per day", "Growth of each measured directory (allocated bytes, as du -sB1) per day, over the last 6 hours and the last day.",
			"bytes",
			target(sel(`86400 * directory:forge_directory_allocated_bytes:deriv6h{IN}`), "{{directory}} (6h trend)"),
			target(sel(`86400 * directory:forge_directory_allocated_bytes:deriv1d{IN}`), "{{directory}} (1d trend)")).withLink("ForgePackageStoreGrowingFast")),
		l.place(4, 6, stat("Blob store on disk", "Allocated bytes of each measured directory (sampled by the directory walk).",
			"bytes", steps("blue"), nil,
			target(sel(`forge_directory_allocated_bytes{IN}`), "{{directory}}"))),
		l.place(6, 6, stat("Required runner labels: online runners", "Online runners per label the runner label contract requires. Red: no online runner, jobs with this runs-on label wait forever.",
			"none", steps("red", 1, "green"), nil,
			target(sel(`forge_gitea_runner_label_online_runners{IN} and on (label, job, instance) forge_gitea_runner_label_required_runners{IN} > 0`), "{{label}}")).withLink("ForgeRunnerLabelUnserved")),
		l.place(6, 6, bargauge("Restore drill age / max age", "Age of the last passing drill per kind against the kind's max_age. Never passed (never run or only failed runs) shows as such.",
			"percentunit", ptr(0), ptr(1.2), steps("green", 0.75, "orange", 1, "red"),
			target(sel(`(drill:forge_restore_drill_age_seconds{IN} or on (drill, job, instance) (0 * forge_restore_drill_max_age_seconds{IN} + 1e12)) / on (drill, job, instance) forge_restore_drill_max_age_seconds{IN}`), "{{drill}}")).
			withMappings(rangeMap(1000, 1e300, "never passed", "red")).withLink("ForgeRestoreDrillOverdue")),

		l.place(8, 4, stat("Production trust per asset", "All seven production-trust gates of the contract hold (trusted) or not; the Trust gates row says which are missing.",
			"none", steps("orange", 1, "green"), []Mapping{valueMap("0", "not trusted", "orange"), valueMap("1", "trusted", "green")},
			target(sel(`forge_asset_production_trusted{IN}`), "{{asset}}")).withLink("ForgeAssetNotProductionTrusted")),
		l.place(4, 4, stat("Exporter", "Prometheus's scrape of each forge-exporter target.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "down", "red"), valueMap("1", "up", "green")},
			target(sel(`up{job=~".*forge-exporter.*",INSEL}`), "{{instance}}")).withLink("ForgeExporterDown")),
		l.place(8, 4, stat("Collectors", "Last scrape of each enabled collector. Disabled collectors are not shown.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "failing", "red"), valueMap("1", "ok", "green")},
			target(sel(`forge_exporter_collector_success{IN} and on (collector, job, instance) forge_exporter_collector_enabled{IN} == 1`), "{{collector}}")).withLink("ForgeExporterCollectorFailing")),
		l.place(4, 4, stat("Firing forge alerts", "Alerts of alerts/forge-exporter.rules.yaml firing now, by severity.",
			"none", steps("green", 1, "red"), nil,
			target(`sum by (severity) (ALERTS{alertstate="firing",alertname=~"Forge.*"}) or on () label_replace(vector(0), "severity", "none", "", "")`, "{{severity}}"))),
	)

	// --- Detail rows, collapsed ---
	panels = append(panels, l.startRow().row("Databases (CNPG)",
		l.place(12, 8, timeseries("Backup age and allowed age", "Age of the newest completed Backup and the age ForgeDatabaseBackupStale allows.",
			"s",
			target(sel(`namespace_cluster:forge_cnpg_backup_age_seconds{NS}`), "{{namespace}}/{{cluster}} age"),
			target(sel(`namespace_cluster:forge_cnpg_backup_max_age_seconds{NS}`), "{{namespace}}/{{cluster}} allowed"))),
		l.place(6, 4, stat("WAL archiving", "The cluster's ContinuousArchiving condition.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "failing", "red"), valueMap("1", "ok", "green")},
			target(sel(`forge_cnpg_continuous_archiving{NS}`), "{{namespace}}/{{cluster}}")).withLink("ForgeWALArchivingFailing")),
		l.place(6, 4, stat("ScheduledBackups", "ScheduledBackups per cluster (0: backups only on demand).",
			"none", steps("orange", 1, "green"), nil,
			target(sel(`forge_cnpg_scheduled_backups{NS}`), "{{namespace}}/{{cluster}}")).withLink("ForgeDatabaseBackupNotScheduled")),
		l.place(6, 4, stat("Schedule interval", "Interval of each ScheduledBackup, from its cron spec.",
			"dtdurations", steps("blue"), nil,
			target(sel(`forge_cnpg_scheduled_backup_interval_seconds{NS}`), "{{cluster}}/{{scheduledbackup}}"))),
		l.place(12, 4, stat("Recoverability point", "How far back point-in-time recovery reaches (from the barman-cloud ObjectStore, else the deprecated Cluster status; the source label says which).",
			"dtdurations", steps("blue"), nil,
			target(sel(`time() - forge_cnpg_recoverability_point_timestamp_seconds{NS}`), "{{namespace}}/{{cluster}} ({{source}})"))),
		l.place(6, 4, stat("Last failed backup", "Time since the newest failed Backup per cluster.",
			"dtdurations", steps("red", 86400, "orange", 604800, "green"), nil,
			target(sel(`time() - forge_cnpg_backup_last_failure_timestamp_seconds{NS}`), "{{namespace}}/{{cluster}}")).withLink("ForgeDatabaseBackupFailed")),
	))
	panels = append(panels, l.startRow().row("Volumes and blob store",
		l.place(12, 8, timeseries("What the PVC holds vs its request", "What each PVC holds (the directory named like the volume, else statfs used) and its requested size.",
			"bytes",
			target(sel(`namespace_persistentvolumeclaim:forge_volume_claim_used_bytes{NS}`), "{{persistentvolumeclaim}} holds"),
			target(sel(`forge_pvc_requested_bytes{NS}`), "{{persistentvolumeclaim}} requested"))),
		l.place(12, 8, timeseries("Filesystem behind each volume", "statfs of the mount: on local-path and hostPath volumes this is the node's filesystem.",
			"bytes",
			target(sel(`forge_volume_used_bytes{NS}`), "{{volume}} used"),
			target(sel(`forge_volume_capacity_bytes{NS}`), "{{volume}} capacity"),
			target(sel(`forge_volume_available_bytes{NS}`), "{{volume}} available"))),
		l.place(12, 8, timeseries("Directory size", "Apparent size (du --apparent-size) and allocated bytes (du -B1) of each measured directory.",
			"bytes",
			target(sel(`forge_directory_size_bytes{IN}`), "{{directory}} apparent"),
			target(sel(`forge_directory_allocated_bytes{IN}`), "{{directory}} allocated"))),
		l.place(12, 8, timeseries("Volume growth per day", "statfs used bytes per day, 6h and 1d trends.",
			"bytes",
			target(sel(`86400 * namespace_persistentvolumeclaim:forge_volume_used_bytes:deriv6h{NS}`), "{{volume}} (6h trend)"),
			target(sel(`86400 * namespace_persistentvolumeclaim:forge_volume_used_bytes:deriv1d{NS}`), "{{volume}} (1d trend)"))),
		l.place(8, 4, stat("Files", "Regular files per measured directory.",
			"short", steps("blue"), nil,
			target(sel(`forge_directory_files{IN}`), "{{directory}}"))),
		l.place(8, 4, stat("Last directory scan", "Time since each directory walk last finished.",
			"dtdurations", steps("green", 3600, "orange", 21600, "red"), nil,
			target(sel(`time() - forge_directory_last_scan_timestamp_seconds{IN}`), "{{directory}}"))),
		l.place(8, 4, stat("Scan errors", "Entries the last walk could not read (left out of the totals).",
			"short", steps("green", 1, "orange"), nil,
			target(sel(`forge_directory_scan_errors{IN}`), "{{directory}}"))),
	))
	panels = append(panels, l.startRow().row("Volume backups",
		l.place(12, 5, stat("Backup mechanism", "Whether anything (CronJob, VolumeSnapshot) backs up each protected PVC.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "none", "red"), valueMap("1", "configured", "green")},
			target(sel(`forge_volume_backup_configured{NS}`), "{{namespace}}/{{persistentvolumeclaim}}")).withLink("ForgeVolumeBackupMissing")),
		l.place(12, 5, stat("Newest volume backup", "Time since the newest successful backup over all mechanisms.",
			"dtdurations", steps("green", 86400, "orange", 93600, "red"), nil,
			target(sel(`namespace_persistentvolumeclaim:forge_volume_backup_age_seconds{NS}`), "{{namespace}}/{{persistentvolumeclaim}}")).withLink("ForgeVolumeBackupStale")),
	))
	panels = append(panels, l.startRow().row("Runners and registry",
		l.place(12, 6, bargauge("Labels: online vs required runners", "Online, enabled runners per contract label, and the minimum the contract requires.",
			"short", ptr(0), nil, steps("blue"),
			target(sel(`forge_gitea_runner_label_online_runners{IN}`), "{{label}} online"),
			target(sel(`forge_gitea_runner_label_required_runners{IN}`), "{{label}} required"))),
		l.place(6, 6, stat("Runners", "Each registered runner: online (polled within the last minute) or not.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "offline", "red"), valueMap("1", "online", "green")},
			target(sel(`forge_gitea_runner_online{IN}`), "{{runner}}")).withLink("ForgeRunnerOffline")),
		l.place(6, 3, stat("Gitea API", "Whether the exporter reached the Gitea API at its last probe.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "unreachable", "red"), valueMap("1", "up", "green")},
			target(sel(`forge_gitea_up{IN}`), "")).withLink("ForgeGiteaUnreachable")),
		l.place(6, 3, stat("Busy runners / label drift", "Runners running a job; online runners carrying labels the contract does not know.",
			"short", steps("blue"), nil,
			target(sel(`sum(forge_gitea_runner_busy{IN})`), "busy"),
			target(sel(`sum(forge_gitea_runner_unknown_label_online_runners{IN})`), "unknown labels"))),
		l.place(12, 8, timeseries("Package files by owner and type", "Sum of package file sizes the packages API reports, against the blob store's apparent size on disk (blobs are deduplicated; orphans wait for the cleanup cron).",
			"bytes",
			target(sel(`forge_gitea_package_files_bytes{IN}`), "{{owner}} {{type}}"),
			target(sel(`sum without (owner, type) (forge_gitea_package_files_bytes{IN})`), "all packages (API)"),
			target(sel(`forge_directory_size_bytes{directory="packages",INSEL}`), "blob store on disk"))),
		l.place(12, 8, timeseries("Packages and versions", "Packages (distinct names) and versions per owner and type.",
			"short",
			target(sel(`forge_gitea_packages{IN}`), "{{owner}} {{type}} packages"),
			target(sel(`forge_gitea_package_versions{IN}`), "{{owner}} {{type}} versions"))),
	))
	panels = append(panels, l.startRow().row("Restore drills and evidence",
		l.place(8, 5, stat("Last passing drill", "Time since the last passing restore drill per kind (from valid evidence records).",
			"dtdurations", steps("blue"), nil,
			target(sel(`drill:forge_restore_drill_age_seconds{IN}`), "{{drill}}"))),
		l.place(8, 5, stat("Drill recorded", "Whether any evidence record of the kind exists.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "never run", "red"), valueMap("1", "recorded", "green")},
			target(sel(`forge_restore_drill_recorded{IN}`), "{{drill}}"))),
		l.place(8, 5, stat("Newest drill result", "Whether the newest valid record of each kind passed all its post-restore checks.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "failed", "red"), valueMap("1", "passed", "green")},
			target(sel(`forge_restore_drill_last_result{IN}`), "{{drill}}")).withLink("ForgeRestoreDrillFailed")),
		l.place(8, 5, stat("Evidence sources", "Whether each evidence source (directory, ConfigMaps) was read completely in the last sample.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "unreadable", "red"), valueMap("1", "read", "green")},
			target(sel(`forge_evidence_source_up{IN}`), "{{source}}"))),
		l.place(8, 5, stat("Evidence records", "Evidence records per source and validity; an invalid record never counts as a drill.",
			"short", steps("blue"), nil,
			target(sel(`forge_evidence_records{IN}`), "{{source}} {{validity}}")).withLink("ForgeEvidenceRecordInvalid")),
		l.place(8, 5, stat("Secret findings in evidence", "Findings of the secret-material scan per source. Anything above 0 pages.",
			"short", steps("green", 1, "red"), nil,
			target(sel(`sum by (source) (forge_evidence_secret_findings{IN})`), "{{source}}")).withLink("ForgeEvidenceContainsSecret")),
	))
	panels = append(panels, l.startRow().row("Trust gates",
		l.place(8, 8, bargauge("Gates passed per asset", "Share of the seven production-trust gates each asset passes.",
			"percentunit", ptr(0), ptr(1), steps("red", 0.5, "orange", 1, "green"),
			target(sel(`sum by (asset) (forge_asset_trust_gate{IN}) / count by (asset) (forge_asset_trust_gate{IN})`), "{{asset}}"))),
		l.place(16, 8, stat("Trust gates", "Each asset's gates: ok or missing.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "missing", "red"), valueMap("1", "ok", "green")},
			target(sel(`forge_asset_trust_gate{IN}`), "{{asset}}: {{gate}}")).withLink("ForgeAssetNotProductionTrusted")),
	))
	panels = append(panels, l.startRow().row("Exporter",
		l.place(12, 7, timeseries("Collector duration", "Time each collector took in the last scrape.",
			"s",
			target(sel(`forge_exporter_collector_duration_seconds{IN}`), "{{collector}}"))),
		l.place(12, 7, timeseries("Sampler errors", "Sampler runs that failed or timed out.",
			"short",
			target(sel(`increase(forge_exporter_sampler_errors_total{IN}[$__rate_interval])`), "{{sampler}}"))),
		l.place(8, 4, stat("Last sampler success", "Time since each sampler last finished without error.",
			"dtdurations", steps("green", 900, "orange", 3600, "red"), nil,
			target(sel(`time() - forge_exporter_sampler_last_success_timestamp_seconds{IN}`), "{{sampler}}"))),
		l.place(8, 4, stat("Configuration", "Whether the last configuration (re)load succeeded.",
			"none", steps("red", 1, "green"), []Mapping{valueMap("0", "reload failed", "red"), valueMap("1", "loaded", "green")},
			target(sel(`forge_exporter_config_last_reload_successful{IN}`), "{{instance}}")).withLink("ForgeExporterConfigReloadFailed")),
		l.place(12, 5, stat("Kubernetes watches", "Time since each informer last heard from the API server (list, event or bookmark); resources that are not installed are left out.",
			"dtdurations", steps("green", 300, "orange", 900, "red"), nil,
			target(sel(`time() - forge_exporter_kube_last_sync_timestamp_seconds{IN} and on (group, resource, job, instance) forge_exporter_kube_resource_available{IN} == 1`), "{{resource}}")).withLink("ForgeExporterKubeWatchStale")),
		l.place(12, 5, stat("Kubernetes resources", "Whether each resource the exporter reads is served by the API server (optional CRDs may be absent).",
			"none", steps("orange", 1, "green"), []Mapping{valueMap("0", "not installed", "orange"), valueMap("1", "served", "green")},
			target(sel(`forge_exporter_kube_resource_available{IN}`), "{{resource}}")).withLink("ForgeDatabaseBackupsNotVisible")),
		l.place(8, 4, stat("Version", "forge-exporter build.",
			"none", steps("blue"), nil,
			target(sel(`forge_exporter_build_info{IN}`), "{{instance}} {{version}}")).withTextMode("name")),
	))

	return Dashboard{
		UID:           "forge-exporter-overview",
		Title:         "forge-exporter / Overview",
		Description:   "Backups, volumes, runners, restore drills and trust gates of a Gitea forge (forge-exporter). Generated by dashboards/ (go test ./dashboards -update).",
		Tags:          []string{"forge-exporter", "gitea", "backup"},
		Timezone:      "utc",
		Editable:      true,
		GraphTooltip:  1,
		Refresh:       "1m",
		SchemaVersion: 39,
		Version:       1,
		Time:          TimeRange{From: "now-24h", To: "now"},
		Templating: Templating{List: []Variable{
			{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus", Refresh: 1,
				Current: map[string]any{}},
			{Name: "namespace", Label: "Namespace", Type: "query", Datasource: ds(),
				Query:      map[string]any{"query": `label_values({__name__=~"forge_(pvc|cnpg|volume)_.+"}, namespace)`, "refId": "namespace"},
				Definition: `label_values({__name__=~"forge_(pvc|cnpg|volume)_.+"}, namespace)`,
				Refresh:    2, Sort: 1, Multi: true, IncludeAll: true, AllValue: ".*",
				Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}},
			{Name: "instance", Label: "Exporter", Type: "query", Datasource: ds(),
				Query:      map[string]any{"query": `label_values(forge_exporter_build_info, instance)`, "refId": "instance"},
				Definition: `label_values(forge_exporter_build_info, instance)`,
				Refresh:    2, Sort: 1, Multi: true, IncludeAll: true, AllValue: ".*",
				Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}},
		}},
		Annotations: Annotations{List: []any{}},
		Links:       []Link{{Title: "Runbooks", Type: "link", URL: runbooks, TargetBlank: true}},
		Panels:      panels,
	}
}
