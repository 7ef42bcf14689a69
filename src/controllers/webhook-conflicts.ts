// The conflict watcher: every MutatingWebhookConfiguration and ValidatingWebhookConfiguration of the cluster, followed
// read-only (list + watch), judged against the mesh's namespaces (mesh/webhook-conflicts.ts): another injector of the
// mesh's pods (the mesh's own above all) or another validator of its kinds. Each change to the set of conflicts is
// reported once: an error log line per conflict that appeared (an info line per one that went away), and `onChange`
// (the metric and /readyz). The set is recomputed when a configuration changes, and every `recheckMs` for namespaces
// that joined or left the mesh; a recomputation that finds the same set reports nothing.
//
// The injection webhook asks it, per pod, which other mutating webhooks the API server calls for the pod's namespace
// (podMutators): to name the injector that injected a pod before this server saw it, and to leave a pod to the mesh's
// own injector when that one is called after this server and would refuse a pod injected twice.
import type { Logger } from 'pino';
import type { MeshIdentity } from '../mesh/flavor.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { conflictLine, podMutatorsFor, webhookConflicts, type OwnWebhooks, type PodMutator, type WebhookConfigurations, type WebhookConflict } from '../mesh/webhook-conflicts.js';
import type { KubeHttp } from '../kube/http.js';
import { listAll } from '../kube/list.js';
import { webhookConfigurationPath, type WebhookConfigurationKind } from '../kube/paths.js';
import { Reflector } from '../kube/reflector.js';

const KINDS: readonly WebhookConfigurationKind[] = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];
const API_VERSION = 'admissionregistration.k8s.io/v1';

export interface WebhookConflictWatcherOptions {
  readonly http: KubeHttp;
  readonly logger: Logger;
  readonly mesh: MeshIdentity;
  readonly own: OwnWebhooks;
  /** the cluster's Namespaces as the view holds them */
  readonly namespaces: () => readonly KubeObject[];
  /** whether the view holds the cluster yet: nothing is judged against a half-listed view */
  readonly viewReady: () => boolean;
  /** the set of conflicts changed (not called when a recomputation finds the same set) */
  readonly onChange?: (conflicts: readonly WebhookConflict[]) => void;
  /** how often namespaces joining or leaving the mesh are looked for (default 15 s) */
  readonly recheckMs?: number;
  readonly watchTimeoutSeconds?: number;
}

/**
 * What is kept of a configuration: its name and labels, and its webhooks without the caBundle (PEM bundles are most of
 * an object's size and nothing here reads them).
 */
export function slimConfiguration(o: KubeObject): KubeObject {
  const m = o.metadata ?? {};
  const webhooks = Array.isArray(o.webhooks)
    ? o.webhooks.map((w) => {
        if (!isRecord(w) || !isRecord(w.clientConfig)) return w;
        const { caBundle: _caBundle, ...clientConfig } = w.clientConfig;
        return { ...w, clientConfig };
      })
    : [];
  return { apiVersion: API_VERSION, kind: o.kind, metadata: { name: m.name, ...(m.labels ? { labels: m.labels } : {}), ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}) }, webhooks };
}

/** Both kinds of configuration, read once (the audit command): plain paginated lists. */
export async function listWebhookConfigurations(http: KubeHttp): Promise<WebhookConfigurations> {
  const [mutating, validating] = await Promise.all(KINDS.map((kind) => listAll(http, webhookConfigurationPath(kind), { apiVersion: API_VERSION, kind })));
  return { mutating: mutating!.map(slimConfiguration), validating: validating!.map(slimConfiguration) };
}

/** Which webhook a conflict is about, and what is said about it (a namespace joining the mesh changes the latter). */
const idOf = (c: WebhookConflict): string => JSON.stringify([c.configurationKind, c.configuration, c.index]);
const sayOf = (c: WebhookConflict): string => JSON.stringify([c.kind, c.message]);

export class WebhookConflictWatcher {
  private readonly stores = new Map<WebhookConfigurationKind, Map<string, KubeObject>>(KINDS.map((k) => [k, new Map()]));
  private readonly reflectors: Reflector[];
  private readonly log: Logger;
  private current: WebhookConflict[] = [];
  /** id → what was said, for the conflicts last reported */
  private reported = new Map<string, string>();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: WebhookConflictWatcherOptions) {
    this.log = opts.logger.child({ component: 'webhook-conflicts' });
    this.reflectors = KINDS.map((kind) => {
      const store = this.stores.get(kind)!;
      const key = (o: KubeObject): string => String(o.metadata?.name ?? '');
      return new Reflector({
        http: opts.http,
        path: webhookConfigurationPath(kind),
        apiVersion: API_VERSION,
        kind,
        logger: this.log,
        transform: (o) => slimConfiguration({ ...o, kind }),
        ...(opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
        handler: {
          replace: (items) => {
            store.clear();
            for (const o of items) store.set(key(o), o);
            this.schedule();
          },
          upsert: (o) => {
            store.set(key(o), o);
            this.schedule();
          },
          remove: (o) => {
            store.delete(key(o));
            this.schedule();
          },
        },
      });
    });
  }

  start(): void {
    for (const r of this.reflectors) r.start();
    const every = this.opts.recheckMs ?? 15_000;
    const tick = (): void => {
      if (this.stopped) return;
      this.recompute();
      this.timer = setTimeout(tick, every);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }

  /** Both configuration kinds have been listed: what this watcher says reflects the cluster. */
  hasListed(): boolean {
    return this.reflectors.every((r) => r.hasListed());
  }

  /** The conflicts as last computed (empty until the configurations and the view have been listed). */
  conflicts(): readonly WebhookConflict[] {
    return this.current;
  }

  /** The configurations as last seen (the continuous audit); undefined until both kinds have been listed. */
  configurations(): WebhookConfigurations | undefined {
    if (!this.hasListed()) return undefined;
    return { mutating: [...this.stores.get('MutatingWebhookConfiguration')!.values()], validating: [...this.stores.get('ValidatingWebhookConfiguration')!.values()] };
  }

  /** The other mutating webhooks the API server calls for a pod created in this namespace (none known yet: empty). */
  podMutators(namespace: KubeObject | undefined): PodMutator[] {
    if (!this.hasListed() || !namespace) return [];
    const labels = isRecord(namespace.metadata?.labels) ? namespace.metadata.labels : undefined;
    return podMutatorsFor(this.opts.mesh, this.opts.own, [...this.stores.get('MutatingWebhookConfiguration')!.values()], labels);
  }

  /** Coalesces the events of one burst (a relist, several edits) into one recomputation. */
  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.recompute();
    });
  }

  private recompute(): void {
    const configurations = this.configurations();
    if (!configurations || !this.opts.viewReady() || this.stopped) return;
    const next = webhookConflicts(this.opts.mesh, this.opts.own, configurations, this.opts.namespaces());
    const said = new Map(next.map((c) => [idOf(c), sayOf(c)]));
    if (said.size === this.reported.size && [...said].every(([id, say]) => this.reported.get(id) === say)) return;
    for (const c of next)
      if (this.reported.get(idOf(c)) !== sayOf(c))
        this.log.error({ configuration: c.configuration, configurationKind: c.configurationKind, webhook: c.webhook, conflict: c.kind, ...(c.namespaces.length ? { namespaces: c.namespaces } : {}), ...(c.kinds.length ? { kinds: c.kinds } : {}) }, `conflicting webhook: ${conflictLine(c)}`);
    for (const c of this.current) if (!said.has(idOf(c))) this.log.info({ configuration: c.configuration, configurationKind: c.configurationKind, webhook: c.webhook }, `conflicting webhook gone: ${c.configurationKind} ${c.configuration} (${c.webhook})`);
    this.current = next;
    this.reported = said;
    this.opts.onChange?.(next);
  }
}
