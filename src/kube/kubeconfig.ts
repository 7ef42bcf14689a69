// Loading credentials for live mode: the kubeconfig files a command hands over (serve's explicit --kubeconfig, or what
// the read-only commands resolve from --kubeconfig, $KUBECONFIG or ~/.kube/config) or the pod's in-cluster service
// account. Nothing here picks up a kubeconfig by itself. Credentials come from client-node's KubeConfig (client certs,
// bearer tokens, token files re-read every minute, exec/OIDC plugins, proxies); the HTTP client is http.ts.
import { existsSync, readFileSync } from 'node:fs';
import type { User } from '@kubernetes/client-node';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { InputError } from '../mesh/errors.js';
import { inClusterAvailable, serviceAccountDir } from './in-cluster.js';

export { inClusterAvailable, SERVICE_ACCOUNT_DIR } from './in-cluster.js';


export interface LoadKubeConfigOptions {
  /**
   * --kubeconfig FILE: live mode asked for explicitly; or the files of $KUBECONFIG, merged as kubectl merges them (the
   * first file to name a cluster, user, context or the current context wins)
   */
  readonly kubeconfig?: string | readonly string[];
  /** a context of that file other than its current-context */
  readonly context?: string;
  /** environment read for in-cluster detection (default process.env) */
  readonly env?: NodeJS.ProcessEnv;
  /** where the service account is mounted (tests point this elsewhere) */
  readonly serviceAccountDir?: string;
  /** false: never use in-cluster credentials even if present (default true) */
  readonly inCluster?: boolean;
}

export class KubeConfigError extends InputError {}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new KubeConfigError(`${file}: ${(err as Error).message}`);
  }
  return kc;
}

/** kubectl's merge of several kubeconfig files: what a file names first is kept, later files only add. */
function loadFiles(files: readonly string[]): KubeConfig {
  const [first, ...rest] = files.map(loadFile);
  const kc = first!;
  for (const other of rest) {
    const has = <T extends { name: string }>(list: readonly T[], x: T): boolean => list.some((y) => y.name === x.name);
    for (const c of other.clusters) if (!has(kc.clusters, c)) kc.addCluster(c);
    for (const u of other.users) if (!has(kc.users, u)) kc.addUser(u);
    for (const c of other.contexts) if (!has(kc.contexts, c)) kc.addContext(c);
    if (!kc.getCurrentContext() && other.getCurrentContext()) kc.setCurrentContext(other.getCurrentContext());
  }
  return kc;
}

/**
 * The KubeConfig for live mode, or undefined for standalone mode. An explicit file (or list) wins; otherwise
 * in-cluster credentials when running in a pod. The server never consults `$KUBECONFIG` or `~/.kube/config` itself:
 * the read-only commands resolve them and hand the files over.
 * Throws KubeConfigError when the explicit file is unreadable or has no usable cluster.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig | undefined {
  const env = opts.env ?? process.env;
  const files = typeof opts.kubeconfig === 'string' ? [opts.kubeconfig] : [...(opts.kubeconfig ?? [])];
  if (files.length > 0) {
    const name = files.join(delimiter);
    const kc = loadFiles(files);
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) throw new KubeConfigError(`${name}: no context named ${opts.context}`);
      kc.setCurrentContext(opts.context);
    }
    if (!kc.getCurrentCluster()) throw new KubeConfigError(`${name}: no current cluster (set current-context)`);
    return kc;
  }
  const dir = opts.serviceAccountDir ?? serviceAccountDir(env);
  if (opts.inCluster === false || !inClusterAvailable(env, dir)) return undefined;
  return inClusterConfig(env, dir);
}

/** The auth provider name of the projected service-account token (SERVICE_ACCOUNT_TOKEN below reads it). */
export const SERVICE_ACCOUNT_TOKEN_PROVIDER = 'mesh-admission-service-account-token';

/**
 * The projected service-account token, read from its file every time credentials are computed (the HTTP client does
 * that every 10 s, and at once after a 401). The kubelet rewrites the file well before the token expires, and the old
 * token can be revoked at any time (its pod deleted): client-node's own file provider keeps a token it read for a
 * minute, during which every request would be refused.
 */
const SERVICE_ACCOUNT_TOKEN: Parameters<KubeConfig['addAuthenticator']>[0] = {
  isAuthProvider: (user: User): boolean => (user.authProvider as { name?: unknown } | undefined)?.name === SERVICE_ACCOUNT_TOKEN_PROVIDER,
  applyAuthentication: async (user: User, opts: { headers?: unknown }): Promise<void> => {
    const file = (user.authProvider as { config?: { path?: unknown } } | undefined)?.config?.path;
    if (typeof file !== 'string') return;
    const token = readFileSync(file, 'utf8').trim();
    if (token) opts.headers = { ...(opts.headers as Record<string, unknown> | undefined), Authorization: `Bearer ${token}` };
  },
};

/** Same as KubeConfig.loadFromCluster, but from the given environment and mount directory. */
function inClusterConfig(env: NodeJS.ProcessEnv, dir: string): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const caFile = join(dir, 'ca.crt');
  const nsFile = join(dir, 'namespace');
  const kc = new KubeConfig();
  kc.addAuthenticator(SERVICE_ACCOUNT_TOKEN);
  kc.loadFromOptions({
    clusters: [{ name: 'inCluster', server, skipTLSVerify: false, ...(existsSync(caFile) ? { caFile } : {}) }],
    // the (projected, rotating) token re-read whenever credentials are computed
    users: [{ name: 'inClusterUser', authProvider: { name: SERVICE_ACCOUNT_TOKEN_PROVIDER, config: { path: join(dir, 'token') } } }],
    contexts: [
      {
        name: 'inClusterContext',
        cluster: 'inCluster',
        user: 'inClusterUser',
        ...(existsSync(nsFile) ? { namespace: readFileSync(nsFile, 'utf8').trim() } : {}),
      },
    ],
    currentContext: 'inClusterContext',
  });
  return kc;
}
