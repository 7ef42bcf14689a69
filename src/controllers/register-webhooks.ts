// `serve --register-webhooks URL`: create or update both webhook configurations so that the API server
// calls this process at `clientConfig.url` = URL + path, trusting the current caBundle — the way to run the server on a
// workstation against a development cluster. The objects come from webhook-config.ts (rules from the kind table).
// Updates keep the server's resourceVersion (get → put); a 409 (someone else wrote in between) is retried.
//
// They are named `mesh-admission-dev`, not `mesh-admission`: the in-cluster install owns that name with a
// `clientConfig.service`, and the API server refuses to apply one over the other (`exactly one of url or service is
// required`), so a workstation run must never leave behind an object that blocks `kubectl apply -k`. The server deletes
// them when it stops (unless --keep-webhooks): a configuration pointing at a laptop that is gone would refuse every pod.
import pino, { type Logger } from 'pino';
import { isApiStatus, type KubeHttp } from '../kube/http.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { webhookConfigurationPath, type WebhookConfigurationKind } from '../kube/paths.js';
import { encodeCaBundle, webhookConfigurations, type WebhookNames } from '../install/webhook-config.js';
import { errorMessage } from '../mesh/errors.js';

/** metadata.name of both configurations a workstation run registers. */
export const DEV_WEBHOOK_CONFIGURATION_NAME = 'mesh-admission-dev';

/** The configuration names of a workstation run. */
export function devWebhookNames(name = DEV_WEBHOOK_CONFIGURATION_NAME): Pick<WebhookNames, 'mutatingConfiguration' | 'validatingConfiguration'> {
  return { mutatingConfiguration: name, validatingConfiguration: name };
}

export interface RegisterWebhooksOptions {
  readonly http: KubeHttp;
  readonly mesh: MeshIdentity;
  /** base URL, e.g. `https://127.0.0.1:9443` (the webhook paths are appended) */
  readonly url: string;
  /** PEM bundle of the CAs that sign the serving certificate */
  readonly caBundle: string;
  /** default: the workstation names (devWebhookNames) */
  readonly names?: Partial<WebhookNames>;
  readonly logger?: Logger;
  /** attempts per object on 409 (default 5) */
  readonly attempts?: number;
  readonly requestTimeoutMs?: number;
}

export interface RegisteredConfiguration {
  readonly kind: WebhookConfigurationKind;
  readonly name: string;
  readonly action: 'created' | 'updated';
}

/** Checks the URL: absolute https (the API server calls webhooks over TLS only), no query or fragment. */
export function registrationBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--register-webhooks ${url}: not a URL`);
  }
  if (u.protocol !== 'https:') throw new Error(`--register-webhooks ${url}: the API server calls webhooks over https only`);
  if (u.search || u.hash) throw new Error(`--register-webhooks ${url}: no query or fragment allowed`);
  return url.replace(/\/+$/, '');
}

interface Stored {
  metadata?: { resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** Creates or replaces one configuration. */
export async function upsertWebhookConfiguration(
  http: KubeHttp,
  kind: WebhookConfigurationKind,
  desired: { metadata: { name: string } },
  opts: { attempts?: number; requestTimeoutMs?: number } = {},
): Promise<'created' | 'updated'> {
  const name = desired.metadata.name;
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  let lastErr: unknown;
  for (let attempt = 0; attempt < (opts.attempts ?? 5); attempt++) {
    let existing: Stored | undefined;
    try {
      existing = await http.json<Stored>({ path: webhookConfigurationPath(kind, name), timeoutMs });
    } catch (err) {
      if (!isApiStatus(err, 404)) throw new Error(`${kind} ${name}: ${errorMessage(err)}`);
    }
    try {
      if (!existing) {
        await http.json({ method: 'POST', path: webhookConfigurationPath(kind), query: { fieldManager: 'mesh-admission' }, body: desired, timeoutMs });
        return 'created';
      }
      const body = { ...desired, metadata: { ...existing.metadata, ...desired.metadata, resourceVersion: existing.metadata?.resourceVersion } };
      await http.json({ method: 'PUT', path: webhookConfigurationPath(kind, name), query: { fieldManager: 'mesh-admission' }, body, timeoutMs });
      return 'updated';
    } catch (err) {
      // 409: created or changed by someone else since the read; read again
      if (!isApiStatus(err, 409)) throw new Error(`${kind} ${name}: ${errorMessage(err)}`);
      lastErr = err;
    }
  }
  throw new Error(`${kind} ${name}: still conflicting after ${opts.attempts ?? 5} attempts: ${errorMessage(lastErr)}`);
}

/** Both configurations, pointing at `url` with `caBundle`. Throws with the reason (the caller logs and exits non-zero or carries on). */
export async function registerWebhooks(opts: RegisterWebhooksOptions): Promise<RegisteredConfiguration[]> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const url = registrationBaseUrl(opts.url);
  const { mutating, validating } = webhookConfigurations(opts.mesh, {
    target: { url },
    caBundle: encodeCaBundle(opts.caBundle),
    names: opts.names ?? devWebhookNames(),
  });
  const out: RegisteredConfiguration[] = [];
  for (const [kind, obj] of [
    ['MutatingWebhookConfiguration', mutating],
    ['ValidatingWebhookConfiguration', validating],
  ] as const) {
    const action = await upsertWebhookConfiguration(opts.http, kind, obj, { ...(opts.attempts ? { attempts: opts.attempts } : {}), ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}) });
    logger.info({ kind, name: obj.metadata.name, url, action }, `webhook configuration ${action}`);
    out.push({ kind, name: obj.metadata.name, action });
  }
  return out;
}

export interface UnregisteredConfiguration {
  readonly kind: WebhookConfigurationKind;
  readonly name: string;
  readonly action: 'deleted' | 'absent';
}

/** Deletes both configurations a workstation run registered (already gone counts as done). Throws with the reason. */
export async function unregisterWebhooks(opts: { http: KubeHttp; names?: Pick<WebhookNames, 'mutatingConfiguration' | 'validatingConfiguration'>; logger?: Logger; requestTimeoutMs?: number }): Promise<UnregisteredConfiguration[]> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const names = opts.names ?? devWebhookNames();
  const out: UnregisteredConfiguration[] = [];
  for (const [kind, name] of [
    ['MutatingWebhookConfiguration', names.mutatingConfiguration],
    ['ValidatingWebhookConfiguration', names.validatingConfiguration],
  ] as const) {
    let action: UnregisteredConfiguration['action'] = 'deleted';
    try {
      await opts.http.json({ method: 'DELETE', path: webhookConfigurationPath(kind, name), timeoutMs: opts.requestTimeoutMs ?? 10_000 });
    } catch (err) {
      if (!isApiStatus(err, 404)) throw new Error(`${kind} ${name}: ${errorMessage(err)}`);
      action = 'absent';
    }
    logger.info({ kind, name, action }, `webhook configuration ${action}`);
    out.push({ kind, name, action });
  }
  return out;
}
