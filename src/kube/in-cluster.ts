// Whether this process runs in a pod with a service account: decided without loading the Kubernetes client, so that a
// standalone server (and the CLI's --help) never pays for it (client-node alone is ~75 MB of RSS).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * FOR TESTS ONLY: a folder standing for the service account mount (token, ca.crt, namespace), so that the suite can run
 * the server in-cluster against a private API server and rotate its token. Nothing in a pod sets it.
 */
export const SERVICE_ACCOUNT_DIR_TEST_VARIABLE = 'MESH_ADMISSION_TEST_SERVICE_ACCOUNT_DIR';

/** Where the service account is mounted: the kubelet's path, unless a test says otherwise. */
export function serviceAccountDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[SERVICE_ACCOUNT_DIR_TEST_VARIABLE] || SERVICE_ACCOUNT_DIR;
}

/** In a pod: KUBERNETES_SERVICE_HOST/PORT set and a service-account token mounted. */
export function inClusterAvailable(env: NodeJS.ProcessEnv = process.env, dir = serviceAccountDir(env)): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST) && Boolean(env.KUBERNETES_SERVICE_PORT) && existsSync(join(dir, 'token'));
}

/** The pod's namespace, from the service account mount; undefined when it is not there. */
export function inClusterNamespace(env: NodeJS.ProcessEnv = process.env, dir = serviceAccountDir(env)): string | undefined {
  try {
    return readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
