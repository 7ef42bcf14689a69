// Which kubeconfig the read-only commands read, the way kubectl chooses it: --kubeconfig FILE, else the files of
// $KUBECONFIG, else ~/.kube/config. `serve` never comes here: a server goes live only when told to.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { InputError } from '../mesh/errors.js';

export interface KubeconfigChoice {
  readonly files: readonly string[];
  /** how it was chosen: a flag, the environment, or the home folder */
  readonly from: '--kubeconfig' | '$KUBECONFIG' | '~/.kube/config';
}

export interface KubeconfigEnv {
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
}

/** $KUBECONFIG's files that exist (kubectl skips the others), or undefined when it is not set. */
export function envKubeconfig(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const value = env.KUBECONFIG;
  if (value === undefined || value === '') return undefined;
  const files = value.split(delimiter).filter(Boolean);
  const present = files.filter((f) => existsSync(f));
  if (present.length === 0) throw new InputError(`$KUBECONFIG names no file that exists: ${value}`);
  return present;
}

/** ~/.kube/config when it exists. */
export function homeKubeconfig(home: string = homedir()): string | undefined {
  const file = join(home, '.kube', 'config');
  return existsSync(file) ? file : undefined;
}

/** kubectl's order: the flag, then $KUBECONFIG, then ~/.kube/config; undefined when there is none. */
export function kubectlKubeconfig(flag: string | undefined, where: KubeconfigEnv = {}): KubeconfigChoice | undefined {
  if (flag !== undefined) return { files: [flag], from: '--kubeconfig' };
  const env = envKubeconfig(where.env);
  if (env) return { files: env, from: '$KUBECONFIG' };
  const home = homeKubeconfig(where.home);
  return home ? { files: [home], from: '~/.kube/config' } : undefined;
}

/** What validate and explain were told about a live cluster. */
export interface LiveFlags {
  /** a file; false with --no-kubeconfig */
  readonly kubeconfig?: string | false;
  readonly context?: string;
  readonly clusterState?: string;
}

/**
 * The live cluster validate and explain judge against, if any. A kubeconfig is read when asked for (--kubeconfig,
 * or --context, which names a context of kubectl's kubeconfig) or when $KUBECONFIG is set, which is how kubectl and
 * istioctl are pointed at a cluster; ~/.kube/config alone is not enough (a workstation's ambient credentials do not
 * turn an offline check into a cluster read). --cluster-state or --no-kubeconfig keep the run offline.
 */
export function liveKubeconfig(o: LiveFlags, where: KubeconfigEnv = {}): KubeconfigChoice | undefined {
  if (o.kubeconfig === false) {
    if (o.context !== undefined) throw new InputError('--context names a context of a kubeconfig: it does not go with --no-kubeconfig');
    return undefined;
  }
  if (o.clusterState !== undefined) {
    if (o.kubeconfig !== undefined || o.context !== undefined) throw new InputError('give the cluster state with --cluster-state DIR or --kubeconfig FILE (--context), not both');
    return undefined;
  }
  if (o.kubeconfig !== undefined) return { files: [o.kubeconfig], from: '--kubeconfig' };
  const env = envKubeconfig(where.env);
  if (env) return { files: env, from: '$KUBECONFIG' };
  if (o.context === undefined) return undefined;
  const home = homeKubeconfig(where.home);
  if (!home) throw new InputError(`--context ${o.context}: no kubeconfig to find it in: give --kubeconfig FILE or set KUBECONFIG`);
  return { files: [home], from: '~/.kube/config' };
}
