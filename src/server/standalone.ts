// Standalone mode: the cluster view from a folder, certificates under --certs-dir, Secrets as YAML under --secrets-dir.
import { loadOrCreateMeshCA } from '../certs/mesh-ca.js';
import { MemoryView } from '../cluster/memory.js';
import { loadStaticView } from '../cluster/static.js';
import type { Environment, EnvironmentContext, TlsTarget } from './environment.js';
import { FileSecretStore } from './file-secret-store.js';
import { loadTls, watchTlsFiles } from './tls.js';

export async function standaloneEnvironment({ opts, mesh, logger, metrics }: EnvironmentContext): Promise<Environment> {
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
