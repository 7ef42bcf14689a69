// Whether this process runs in a pod with a service account: decided without loading the Kubernetes client, so that a
// standalone server (and the CLI's --help) never pays for it (client-node alone is ~75 MB of RSS).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** In a pod: KUBERNETES_SERVICE_HOST/PORT set and a service-account token mounted. */
export function inClusterAvailable(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST) && Boolean(env.KUBERNETES_SERVICE_PORT) && existsSync(join(serviceAccountDir, 'token'));
}
