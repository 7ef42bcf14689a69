// Live mode's SecretStore: bootstrap Secrets created through the API server in the pod's namespace (injection.md §4),
// and read back for the `kubectl debug --copy-to` case. Failures are thrown as errors carrying the API's reason
// (the mutate handler turns them into a denial with that message).
import { isApiStatus, KubeApiError, type KubeHttp } from './client.js';
import { secretPath } from './paths.js';
import type { SecretObject } from '../mesh/objects.js';
import type { BootstrapSecret } from '../injector/bootstrap.js';

export interface ApiSecretStoreOptions {
  /** per-request timeout; the admission deadline bounds the whole request anyway (default 5 s) */
  readonly timeoutMs?: number;
  /** field manager recorded on created Secrets (default `mesh-admission`) */
  readonly fieldManager?: string;
}

export class ApiSecretStore {
  constructor(
    private readonly http: KubeHttp,
    private readonly opts: ApiSecretStoreOptions = {},
  ) {}

  /**
   * POST the Secret into its namespace. Any failure throws, including 409 AlreadyExists: the name carries a fresh
   * UUID, so an existing Secret of that name belongs to another pod and must not be taken over.
   */
  async create(secret: BootstrapSecret): Promise<void> {
    const ns = secret.metadata.namespace;
    try {
      await this.http.json({
        method: 'POST',
        path: secretPath(ns),
        query: { fieldManager: this.opts.fieldManager ?? 'mesh-admission' },
        body: secret,
        timeoutMs: this.opts.timeoutMs ?? 5000,
      });
    } catch (err) {
      throw new Error(`create Secret ${ns}/${secret.metadata.name}: ${reasonOf(err)}`);
    }
  }

  /** The Secret's data, undefined when it does not exist (404); other failures throw. */
  async get(namespace: string, name: string): Promise<{ readonly data: Record<string, string> } | undefined> {
    try {
      const s = await this.http.json<SecretObject>({ path: secretPath(namespace, name), timeoutMs: this.opts.timeoutMs ?? 5000 });
      return { data: { ...(s?.data ?? {}) } };
    } catch (err) {
      if (isApiStatus(err, 404)) return undefined;
      throw new Error(`read Secret ${namespace}/${name}: ${reasonOf(err)}`);
    }
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof KubeApiError) {
    const status = err.status === 0 ? (err.reason ?? 'network error') : `${err.status}${err.reason ? ` ${err.reason}` : ''}`;
    // the server's own words (Status.message); KubeApiError's message also carries method, path and status
    const body = err.body as { message?: unknown } | undefined;
    const msg = body && typeof body === 'object' && typeof body.message === 'string' ? body.message : err.message.replace(/^[A-Z]+ \S+: (\d+ )?/, '');
    return `${status}: ${msg}`;
  }
  return err instanceof Error ? err.message : String(err);
}
