// The server's Prometheus metrics (README.md, "Observability", lists them), on a registry of their own so that several
// servers (tests) never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Per kind: seconds since the last event, and since when its cache has followed the API server. */
export interface InformerSource {
  lastEventAges(): ReadonlyMap<string, number>;
  currentSince(): ReadonlyMap<string, number>;
}

function fillByKind(gauge: Gauge<'kind'>, values: ReadonlyMap<string, number> | undefined): void {
  gauge.reset();
  for (const [kind, v] of values ?? []) gauge.set({ kind }, v);
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'mesh_admission_requests_total',
    help: 'Admission requests answered, by webhook, kind, operation, verdict and dry run',
    labelNames: ['webhook', 'kind', 'operation', 'allowed', 'dry_run'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'mesh_admission_duration_seconds',
    help: 'Time from request read to answer written, by webhook',
    labelNames: ['webhook'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly injections = new Counter({
    name: 'mesh_injection_total',
    help: 'Pod admissions by injection result (injected, skipped, denied) and reason',
    labelNames: ['result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly denials = new Counter({
    name: 'mesh_validation_denials_total',
    help: 'Validation causes that denied an object, by kind and rule',
    labelNames: ['kind', 'rule'] as const,
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: 'mesh_certificate_expiry_timestamp_seconds',
    help: 'Expiry (Unix time) of the certificates this server holds',
    labelNames: ['cert'] as const,
    registers: [this.registry],
  });
  /** what the informer gauges read when scraped (the live view) */
  private informers: InformerSource | undefined;
  readonly informerLastEventAge: Gauge<'kind'> = new Gauge({
    name: 'mesh_informer_last_event_age_seconds',
    help: 'Seconds since the cluster view last received an event, per kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: (): void => fillByKind(this.informerLastEventAge, this.informers?.lastEventAges()),
  });
  readonly informerSyncedSince: Gauge<'kind'> = new Gauge({
    name: 'mesh_informer_synced_since_timestamp_seconds',
    help: 'Since when (Unix time) the cache of each kind has followed the API server without a break; 0 while it does not',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: (): void => fillByKind(this.informerSyncedSince, this.informers?.currentSince()),
  });
  readonly bootstrapSecrets = new Counter({
    name: 'mesh_bootstrap_secrets_total',
    help: 'Bootstrap Secret create attempts from the pod watch, by result (created; exists: another replica made it; failed: retried)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly bootstrapSecretFailures = new Counter({
    name: 'mesh_bootstrap_secret_failures_total',
    help: 'Failed bootstrap Secret create attempts (each is retried while the pod is Pending; a Warning Event per distinct reason), by HTTP status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly bootstrapSecretSeconds = new Histogram({
    name: 'mesh_bootstrap_secret_seconds',
    help: 'Time from this replica seeing an injected pod to its bootstrap Secret being created',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    registers: [this.registry],
  });
  /** what the waiting gauge reads when scraped (the bootstrap Secret controller, in live mode) */
  private waitingSource: (() => number) | undefined;
  readonly bootstrapSecretsWaiting: Gauge = new Gauge({
    name: 'mesh_bootstrap_secrets_waiting',
    help: 'Pods waiting for this replica to create their bootstrap Secret (0 on a replica that does not create them)',
    registers: [this.registry],
    collect: (): void => this.bootstrapSecretsWaiting.set(this.waitingSource?.() ?? 0),
  });
  readonly webhookConnections = new Counter({
    name: 'mesh_admission_connections_total',
    help: 'TLS connections accepted on the webhook port (the API server keeps them alive: a steady rise under load means it does not)',
    registers: [this.registry],
  });
  readonly apiConnections = new Counter({
    name: 'mesh_apiserver_connections_total',
    help: 'Connections opened to the API server (each a TLS handshake on both sides; a steady rise under load means connections are not reused)',
    registers: [this.registry],
  });
  readonly badRequests = new Counter({
    name: 'mesh_admission_bad_requests_total',
    help: 'Requests refused before reaching a webhook (HTTP status)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly auditFindings = new Gauge({
    name: 'mesh_admission_audit_findings',
    help: 'Findings of the last audit run (existing objects the validator would deny or warn about, pods whose injection differs from what the injector would do now), by kind, rule and severity',
    labelNames: ['kind', 'rule', 'severity'] as const,
    registers: [this.registry],
  });
  readonly auditLastRun = new Gauge({
    name: 'mesh_admission_audit_last_run_timestamp_seconds',
    help: 'When (Unix time) the last successful audit run started',
    registers: [this.registry],
  });
  readonly auditDuration = new Gauge({
    name: 'mesh_admission_audit_duration_seconds',
    help: 'How long the last successful audit run took',
    registers: [this.registry],
  });
  readonly auditFailures = new Counter({
    name: 'mesh_admission_audit_failures_total',
    help: 'Audit runs that failed (the pods could not be listed); the previous results stay',
    registers: [this.registry],
  });

  /** Where the informer gauges read their values from (prom-client calls each gauge's collect at a scrape). */
  observeInformers(source: InformerSource): void {
    this.informers = source;
  }
  readonly conflictingWebhooks = new Gauge({
    name: 'mesh_admission_conflicting_webhooks',
    help: 'Webhooks of other configurations that conflict with this server\'s (another injector of the mesh\'s pods, another validator of its kinds), by configuration name; see the error log line or /readyz for what to do',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });

  /** Where the waiting gauge reads its value from. */
  countWaitingWith(source: () => number): void {
    this.waitingSource = source;
  }

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
