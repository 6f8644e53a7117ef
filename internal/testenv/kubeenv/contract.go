package kubeenv

// ContractDatabase is the contract's database as CNPG objects: namespace
// databases, Cluster gitea-db archiving WAL through the barman-cloud
// plugin, and its daily ScheduledBackup at 02:00 (CNPG's six-field cron,
// seconds first). The demo, the whole-forge test and the alerts end-to-end
// test seed it; nothing reconciles it, so tests write Backup status
// themselves, as the operator would.
const ContractDatabase = `apiVersion: v1
kind: Namespace
metadata: {name: databases}
---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: gitea-db, namespace: databases}
spec:
  instances: 1
  storage: {size: 1Gi}
  plugins:
    - name: barman-cloud.cloudnative-pg.io
      isWALArchiver: true
      parameters: {barmanObjectName: forge-backup-store}
---
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata: {name: gitea-db-daily, namespace: databases}
spec:
  cluster: {name: gitea-db}
  schedule: "0 0 2 * * *"
  method: plugin
  pluginConfiguration: {name: barman-cloud.cloudnative-pg.io}
`
