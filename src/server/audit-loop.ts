// The continuous audit (live mode): every interval (jittered, so that replicas and restarts do not line up), the audit
// engine runs over the cached view and a fresh list of the mesh's pods. The run is spread over short slices of the
// event loop (the engine yields after each object), so admission requests keep being answered during it. Results are
// Prometheus gauges and a bounded JSON document served on the metrics port (/audit).
import type { Logger } from 'pino';
import { auditSteps, meshNamespaces, type AuditOptions, type AuditReport } from '../audit/audit.js';
import { auditJson, type AuditJson } from '../audit/report.js';
import type { ClusterView } from '../cluster/view.js';
import type { KubeObject } from '../mesh/objects.js';
import type { OwnWebhooks, WebhookConfigurations } from '../mesh/webhook-conflicts.js';
import type { Metrics } from './metrics.js';

export interface AuditLoopOptions {
  readonly view: ClusterView;
  readonly audit: AuditOptions;
  /** the pods of these namespaces, as stored */
  readonly listPods: (namespaces: readonly string[]) => Promise<KubeObject[]>;
  /** `<namespace>/<name>` of the bootstrap Secrets, or undefined when they may not be listed */
  readonly listBootstrapSecrets?: (namespaces: readonly string[]) => Promise<Set<string> | undefined>;
  /** why the Secrets are not checked when `listBootstrapSecrets` is not given */
  readonly bootstrapSecretsNotListed?: string;
  /** the cluster's webhook configurations as last seen (undefined: not listed yet) and this server's own */
  readonly webhooks?: () => { configurations: WebhookConfigurations | undefined; own: OwnWebhooks };
  readonly intervalMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** most findings kept in the /audit document (default 1000; the summary counts all) */
  readonly maxFindings?: number;
  /** longest slice of the event loop one run takes before letting other work in (default 10 ms) */
  readonly sliceMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** What /audit serves: the last run's report, when it ran and how long it took. */
export interface AuditDocument extends AuditJson {
  readonly startedAt: string;
  readonly durationSeconds: number;
}

/** The interval times a factor in [0.9, 1.1): replicas started together drift apart. */
export function jittered(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (0.9 + 0.2 * random()));
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class AuditLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<AuditReport | undefined> | undefined;
  private stopped = false;
  private lastDocument: AuditDocument | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;

  constructor(private readonly opts: AuditLoopOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.log = opts.logger.child({ component: 'audit' });
  }

  /** First run after `firstDelayMs` (the view must be synced by then), then every jittered interval. */
  start(firstDelayMs: number): void {
    this.schedule(firstDelayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** The last run's document, undefined before the first run ends. */
  document(): AuditDocument | undefined {
    return this.lastDocument;
  }

  /** One run now (or the one in progress). Resolves with its report, undefined if it failed or the loop stopped. */
  runNow(): Promise<AuditReport | undefined> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runNow().then(() => this.schedule(jittered(this.opts.intervalMs, this.random)));
    }, delayMs);
    this.timer.unref();
  }

  private async run(): Promise<AuditReport | undefined> {
    const { view, metrics } = this.opts;
    const started = this.now();
    try {
      const namespaces = meshNamespaces(view, this.opts.audit.mesh);
      const pods = await this.opts.listPods(namespaces);
      const secrets = this.opts.listBootstrapSecrets ? await this.opts.listBootstrapSecrets(namespaces) : undefined;
      const hooks = this.opts.webhooks?.();
      const steps = auditSteps(
        {
          view,
          pods,
          now: this.now(),
          ...(hooks ? (hooks.configurations ? { webhooks: { configurations: hooks.configurations, own: hooks.own } } : { webhooksNotListed: 'not listed yet' }) : {}),
          ...(secrets ? { bootstrapSecrets: secrets } : { bootstrapSecretsNotListed: this.opts.bootstrapSecretsNotListed ?? 'they could not be listed' }),
        },
        this.opts.audit,
      );
      const slice = this.opts.sliceMs ?? 10;
      let sliceStart = performance.now();
      let step = steps.next();
      while (!step.done) {
        if (this.stopped) return undefined;
        if (performance.now() - sliceStart >= slice) {
          await yieldToEventLoop();
          sliceStart = performance.now();
        }
        step = steps.next();
      }
      const report = step.value;
      const seconds = (this.now() - started) / 1000;
      this.publish(report, started, seconds);
      this.log.info({ findings: report.findings.length, objects: report.objects, pods: report.pods, seconds }, 'audit run');
      return report;
    } catch (err) {
      metrics.auditFailures.inc();
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'audit run failed; the previous results stay');
      return undefined;
    }
  }

  private publish(report: AuditReport, started: number, seconds: number): void {
    const { metrics } = this.opts;
    const counts = new Map<string, { kind: string; rule: string; severity: string; n: number }>();
    for (const f of report.findings) {
      const key = `${f.kind}\u0000${f.rule}\u0000${f.severity}`;
      const c = counts.get(key) ?? { kind: f.kind, rule: f.rule, severity: f.severity, n: 0 };
      c.n++;
      counts.set(key, c);
    }
    // a rule that no longer finds anything must drop to absent, not keep its last count
    metrics.auditFindings.reset();
    for (const c of counts.values()) metrics.auditFindings.set({ kind: c.kind, rule: c.rule, severity: c.severity }, c.n);
    metrics.auditLastRun.set(started / 1000);
    metrics.auditDuration.set(seconds);
    this.lastDocument = { ...auditJson(report, this.opts.maxFindings ?? 1000), startedAt: new Date(started).toISOString(), durationSeconds: seconds };
  }
}
