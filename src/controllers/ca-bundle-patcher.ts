// Keeps `webhooks[*].clientConfig.caBundle` of this server's MutatingWebhookConfiguration and
// ValidatingWebhookConfiguration (both `mesh-admission-<mesh>` as installed, `mesh-admission-dev` for a workstation
// run) equal to the CA bundle the serving certificate chains to (docs/architecture.md#serving-certificate-rotation):
// on start, whenever the bundle changes, and whenever someone edits the objects.
//
// - Each configuration is patched with an RFC 6902 patch whose every `add` is guarded by a `test` of the webhook's name
//   at that index (src/install/webhook-config.ts caBundlePatch), so a concurrent reorder fails the patch instead of
//   writing the wrong entry; a failed patch is re-read and retried.
// - Edits are noticed through a watch on the two objects (field selector on the name, which RBAC by resourceNames
//   requires) and, because Node watches can stop silently, a periodic re-check (default every 30 s) besides.
// - A configuration that does not exist is logged and retried at the next re-check; it is never fatal.
//
// "Files" mode (--tls-cert-file/--tls-key-file): the serving certificate is someone else's, so the bundle is taken from
// a CA file (`--tls-ca-file`, certs/ca-file.ts) when one is given, and otherwise nothing is patched (whoever issued the
// certificate owns the caBundle, e.g. cert-manager's cainjector).
import pino, { type Logger } from 'pino';
import { isApiStatus, type KubeHttp } from '../kube/http.js';
import { webhookConfigurationPath, type WebhookConfigurationKind } from '../kube/paths.js';
import { Reflector } from '../kube/reflector.js';
import type { KubeObject } from '../mesh/objects.js';
import { caBundlePatch, encodeCaBundle } from '../install/webhook-config.js';
import { fromPemAll } from '../certs/der.js';
import { errorMessage } from '../mesh/errors.js';

interface WebhookConfigurationObject {
  metadata?: { name?: string; resourceVersion?: string };
  webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string } }>;
}

export type PatchStatus = 'patched' | 'unchanged' | 'missing' | 'error';

export interface ConfigurationResult {
  readonly kind: WebhookConfigurationKind;
  readonly name: string;
  readonly status: PatchStatus;
  readonly error?: string;
}

export interface PublishResult {
  /** true when every existing configuration carries the bundle (missing ones count as done: nothing calls through them) */
  readonly ok: boolean;
  readonly configurations: readonly ConfigurationResult[];
}

export interface CaBundlePatcherOptions {
  readonly http: KubeHttp;
  readonly mutatingName: string;
  readonly validatingName: string;
  readonly logger?: Logger;
  /** re-check period (default 30 s) */
  readonly resyncMs?: number;
  /** watch the two objects for prompt re-patching (default true); the re-check runs anyway */
  readonly watch?: boolean;
  readonly watchTimeoutSeconds?: number;
  readonly backoffMs?: readonly [number, number];
  /** each configuration patched (metrics hook) */
  readonly onPatched?: (kind: WebhookConfigurationKind, name: string) => void;
  /** each failed attempt (metrics hook) */
  readonly onError?: (kind: WebhookConfigurationKind, name: string, err: unknown) => void;
  readonly requestTimeoutMs?: number;
}

export class CaBundlePatcher {
  private readonly logger: Logger;
  private readonly targets: readonly { kind: WebhookConfigurationKind; name: string }[];
  private pem: string | undefined;
  private b64: string | undefined;
  private running: Promise<PublishResult> | undefined;
  private queued: Promise<PublishResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly watches: Reflector[] = [];
  private started = false;
  private lastMissing = new Set<string>();

  constructor(private readonly opts: CaBundlePatcherOptions) {
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.targets = [
      { kind: 'MutatingWebhookConfiguration', name: opts.mutatingName },
      { kind: 'ValidatingWebhookConfiguration', name: opts.validatingName },
    ];
  }

  /** The PEM bundle being published, if any. */
  bundle(): string | undefined {
    return this.pem;
  }

  /**
   * Sets the bundle to publish and patches both configurations now. Resolves with the outcome (never rejects):
   * the serving-certificate manager waits for `ok` before serving a leaf signed by a newly added CA.
   */
  setBundle(pem: string): Promise<PublishResult> {
    const b64 = encodeCaBundle(pem);
    if (b64 !== this.b64) {
      this.pem = pem;
      this.b64 = b64;
      this.logger.info({ cas: countCerts(pem) }, 'CA bundle changed: patching the webhook configurations');
    }
    return this.reconcile();
  }

  /** Patches whatever differs. Calls are serialised; a call made while one runs shares the next pass. */
  reconcile(): Promise<PublishResult> {
    if (this.queued) return this.queued;
    const prev = this.running ?? Promise.resolve(undefined);
    const next: Promise<PublishResult> = prev
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        this.running = next;
        return this.pass();
      })
      .finally(() => {
        if (this.running === next) this.running = undefined;
      });
    this.queued = next;
    return next;
  }

  /** Periodic re-check and (by default) watches. Patches once right away when a bundle is set. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const tick = (): void => {
      this.timer = setTimeout(() => void this.reconcile().finally(() => this.started && tick()), this.opts.resyncMs ?? 30_000);
      this.timer.unref();
    };
    tick();
    if (this.opts.watch !== false) for (const t of this.targets) this.watches.push(this.watchOne(t.kind, t.name));
    if (this.b64) void this.reconcile();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.watches.splice(0).map((w) => w.stop()), this.running, this.queued]);
  }

  private async pass(): Promise<PublishResult> {
    const b64 = this.b64;
    if (!b64) return { ok: false, configurations: [] };
    const configurations: ConfigurationResult[] = [];
    for (const t of this.targets) configurations.push(await this.patchOne(t.kind, t.name, b64));
    return { ok: configurations.every((c) => c.status !== 'error'), configurations };
  }

  private async patchOne(kind: WebhookConfigurationKind, name: string, b64: string): Promise<ConfigurationResult> {
    const key = `${kind}/${name}`;
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      let obj: WebhookConfigurationObject | undefined;
      try {
        obj = await this.opts.http.json<WebhookConfigurationObject>({ path: webhookConfigurationPath(kind, name), timeoutMs: this.opts.requestTimeoutMs ?? 10_000 });
      } catch (err) {
        if (isApiStatus(err, 404)) {
          if (!this.lastMissing.has(key)) this.logger.warn({ kind, name }, 'webhook configuration not found; its caBundle will be patched when it exists');
          this.lastMissing.add(key);
          return { kind, name, status: 'missing' };
        }
        lastError = err;
        break;
      }
      this.lastMissing.delete(key);
      const ops = caBundlePatch(obj ?? {}, b64);
      if (ops.length === 0) return { kind, name, status: 'unchanged' };
      try {
        await this.opts.http.json({
          method: 'PATCH',
          path: webhookConfigurationPath(kind, name),
          body: ops,
          contentType: 'application/json-patch+json',
          query: { fieldManager: 'mesh-admission' },
          timeoutMs: this.opts.requestTimeoutMs ?? 10_000,
        });
        this.opts.onPatched?.(kind, name);
        this.logger.info({ kind, name, webhooks: ops.length / 2 }, 'caBundle patched');
        return { kind, name, status: 'patched' };
      } catch (err) {
        lastError = err;
        this.opts.onError?.(kind, name, err);
        // 422/409/500 from a failed `test` (entries reordered or renamed) or a concurrent write: read again and retry
        if (isApiStatus(err, 404)) return { kind, name, status: 'missing' };
        if (isApiStatus(err, 401) || isApiStatus(err, 403)) break;
      }
    }
    this.logger.warn({ kind, name, err: errorMessage(lastError) }, 'caBundle not patched; retrying at the next re-check');
    return { kind, name, status: 'error', error: errorMessage(lastError) };
  }

  /** Follows one configuration (get + watch by name: RBAC by resourceNames) and re-patches it when it drifts. */
  private watchOne(kind: WebhookConfigurationKind, name: string): Reflector {
    const check = (obj: KubeObject | undefined): void => {
      if (!obj || !this.b64 || caBundlePatch(obj as WebhookConfigurationObject, this.b64).length === 0) return;
      this.logger.info({ kind, name }, 'webhook configuration changed: re-patching its caBundle');
      void this.reconcile();
    };
    const r = new Reflector({
      http: this.opts.http,
      path: webhookConfigurationPath(kind),
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind,
      name,
      logger: this.logger,
      ...(this.opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: this.opts.watchTimeoutSeconds } : {}),
      ...(this.opts.backoffMs ? { backoff: { initialMs: this.opts.backoffMs[0], maxMs: this.opts.backoffMs[1] } } : {}),
      handler: { replace: (items) => check(items[0]), upsert: check, remove: () => undefined },
    });
    r.start();
    return r;
  }
}

function countCerts(pem: string): number {
  try {
    return fromPemAll(pem).length;
  } catch {
    return 0;
  }
}
