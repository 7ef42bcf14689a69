// Standalone mode: the cluster view from a folder, certificates under --certs-dir, Secrets as YAML under --secrets-dir.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { InputError } from '../mesh/errors.js';
import { loadOrCreateMeshCA } from '../certs/mesh-ca.js';
import { MemoryView } from '../cluster/memory.js';
import { loadStaticView } from '../cluster/static.js';
import type { Environment, EnvironmentContext, TlsTarget } from './environment.js';
import { FileSecretStore } from './file-secret-store.js';
import { loadTls, watchTlsFiles } from './tls.js';

/** Makes the folder if needed; undefined when this process can write into it, else why not. */
function unwritable(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * A folder standalone mode can write into. The image runs as a non-root user in a root-owned working directory with a
 * read-only root filesystem: the default `./certs` cannot be made there, so a default folder falls back to one under
 * the temporary directory (`$TMPDIR`, else /tmp: an emptyDir in a pod) with a warning; a folder the user named must be
 * writable. When neither can be written, the server stops at once, naming the flag.
 */
export function writableDir(dir: string, flag: string, isDefault: boolean, logger: Logger, tmp: string = tmpdir()): string {
  const why = unwritable(dir);
  if (why === undefined) return dir;
  if (!isDefault) throw new InputError(`${flag} ${dir} is not writable (${why}): give a folder this user (uid ${process.getuid?.() ?? '?'}) can write`);
  const fallback = join(tmp, 'mesh-admission', basename(dir));
  const whyNot = unwritable(fallback);
  if (whyNot !== undefined)
    throw new InputError(`standalone mode writes under ${flag} (default ${dir}), which is not writable (${why}), nor is ${fallback} (${whyNot}): give ${flag} a writable folder, e.g. a mounted volume`);
  logger.warn({ dir, fallback, reason: why }, `${dir} is not writable: using ${fallback} instead (give ${flag} to choose)`);
  return fallback;
}

export async function standaloneEnvironment({ opts: given, mesh, logger, metrics }: EnvironmentContext): Promise<Environment> {
  // both folders are settled before anything is generated: a server that cannot write fails at once
  const opts = {
    ...given,
    certsDir: writableDir(given.certsDir, '--certs-dir', given.defaultDirs?.certsDir ?? false, logger),
    secretsDir: writableDir(given.secretsDir, '--secrets-dir', given.defaultDirs?.secretsDir ?? false, logger),
  };
  let view: MemoryView;
  if (opts.clusterState) {
    view = loadStaticView(opts.clusterState);
    logger.info({ dir: opts.clusterState, objects: view.all().length }, 'cluster state loaded');
  } else {
    view = new MemoryView();
    logger.warn('no --cluster-state given: the cluster view is empty');
  }
  const meshCA = await loadOrCreateMeshCA(opts.certsDir, mesh.flavor, new Date());
  logger.info({ dir: opts.certsDir, reused: meshCA.reused, notAfter: meshCA.notAfter.toISOString() }, meshCA.reused ? 'mesh CA reused' : 'mesh CA created');
  const tls = await loadTls({ certsDir: opts.certsDir, tlsCertFile: opts.tlsCertFile, tlsKeyFile: opts.tlsKeyFile, serviceName: opts.serviceName, namespace: mesh.meshNamespace }, logger);
  let stopWatch = (): void => {};
  return {
    mode: 'standalone',
    view,
    meshCA,
    secretStore: new FileSecretStore(opts.secretsDir),
    tls,
    async attach(https: TlsTarget) {
      if (opts.tlsCertFile && opts.tlsKeyFile) stopWatch = watchTlsFiles(https, opts.tlsCertFile, opts.tlsKeyFile, tls, logger, metrics);
    },
    whenReady: () => Promise.resolve(),
    notReady: () => [],
    async stop() {
      stopWatch();
    },
  };
}
