// Live mode: informers for the view, the mesh CA and bootstrap Secrets through the API, a serving certificate that is
// self-managed in a Secret (or read from files), the webhook configurations' caBundle kept right.
import type { Server as HttpsServer } from 'node:https';
import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { readCaBundleFile, watchCaBundleFile } from '../certs/ca-file.js';
import { CaBundlePatcher } from '../kube/ca-bundle-patcher.js';
import { apiSecretSlot } from '../kube/secret-slot.js';
import { loadOrCreateMeshCASecret } from '../kube/mesh-ca-secret.js';
import { ServingCertManager } from '../certs/serving-manager.js';
import { KubeHttp } from '../kube/client.js';
import { LiveView } from '../kube/live-view.js';
import { ApiSecretStore } from '../kube/api-secret-store.js';
import type { Environment, EnvironmentContext } from './environment.js';
import { registerWebhooks } from '../kube/register-webhooks.js';
import { SecretLifecycle } from '../kube/secret-lifecycle.js';
import { readTlsFiles, watchTlsFiles, type TlsMaterial } from './tls.js';
import { serverLabels, servingSecretName } from '../mesh/names.js';

/** `/version` minor, e.g. "33" or "33+" on some distributions. */
async function kubernetesMinor(http: KubeHttp): Promise<number | undefined> {
  try {
    const v = await http.json<{ minor?: string }>({ path: '/version', timeoutMs: 5000 });
    const n = Number.parseInt(v.minor ?? '', 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The names a workstation URL given to --register-webhooks is reached by, for the serving certificate. */
function urlNames(url: string | undefined): { dns: string[]; ips: string[] } {
  if (!url) return { dns: [], ips: [] };
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? { dns: ['localhost'], ips: [host] } : { dns: [host], ips: [] };
}

export async function liveEnvironment({ opts, mesh, logger, metrics }: EnvironmentContext, kubeConfig: KubeConfig): Promise<Environment> {
  const http = new KubeHttp(kubeConfig);
  const view = new LiveView({ kubeConfig, logger, eventAgeGauge: metrics.informerLastEventAge });
  view.start();
  const minor = await kubernetesMinor(http);
  const meshCA = await loadOrCreateMeshCASecret({ http, mesh });
  logger.info({ secret: `${mesh.meshNamespace}/${mesh.flavor.caBundleSecret}`, reused: meshCA.reused }, 'mesh CA loaded');
  metrics.certificateExpiry.set({ cert: 'mesh-ca' }, meshCA.notAfter.getTime() / 1000);
  const patcher = new CaBundlePatcher({ http, logger });

  let https: HttpsServer | undefined;
  let serving: ServingCertManager | undefined;
  let tls: TlsMaterial;
  const stops: Array<() => void | Promise<void>> = [];
  if (opts.tlsCertFile && opts.tlsKeyFile) {
    tls = readTlsFiles(opts.tlsCertFile, opts.tlsKeyFile);
    if (opts.tlsCaFile) tls = { ...tls, ca: readCaBundleFile(opts.tlsCaFile) };
    else logger.warn('serving certificate from files without --tls-ca-file: the webhook configurations\' caBundle is left to whoever issued it');
  } else {
    const extra = urlNames(opts.registerWebhooks);
    serving = new ServingCertManager({
      store: apiSecretSlot(http, mesh.meshNamespace, servingSecretName(mesh)),
      namespace: mesh.meshNamespace,
      service: opts.serviceName,
      extraDns: extra.dns,
      extraIps: extra.ips,
      labels: serverLabels(mesh),
      logger,
      publish: (pem) => patcher.setBundle(pem),
      onChange: (m) => https?.setSecureContext({ cert: m.cert, key: m.key }),
      onExpiry: (cert, seconds) => metrics.certificateExpiry.set({ cert }, seconds),
    });
    const m = await serving.start();
    tls = { cert: m.cert, key: m.key, ca: m.ca, notAfter: m.notAfter };
    stops.push(() => serving?.stop());
  }

  const lifecycle = new SecretLifecycle({ http, mesh, logger, onOrphanDeleted: () => metrics.orphanedSecretsDeleted.inc(), onOwnerAdded: () => metrics.secretsAdopted.inc() });
  return {
    mode: 'live',
    view,
    meshCA,
    secrets: new ApiSecretStore(http),
    tls,
    fetchNamespace: (name) => view.fetchNamespace(name),
    ...(minor !== undefined ? { kubernetesMinor: minor } : {}),
    async attach(server: HttpsServer) {
      https = server;
      if (opts.tlsCertFile && opts.tlsKeyFile) stops.push(watchTlsFiles(server, opts.tlsCertFile, opts.tlsKeyFile, tls, logger, metrics));
      const bundle = serving?.caBundle() ?? tls.ca;
      if (opts.registerWebhooks) {
        if (!bundle) throw new Error('--register-webhooks needs a CA bundle: use the self-managed certificate or --tls-ca-file');
        await registerWebhooks({ http, mesh, url: opts.registerWebhooks, caBundle: bundle, logger });
      }
      if (opts.tlsCaFile) stops.push(watchCaBundleFile(opts.tlsCaFile, (pem) => void patcher.setBundle(pem), logger));
      if (bundle) {
        await patcher.setBundle(bundle);
        patcher.start();
        stops.push(() => patcher.stop());
      }
      lifecycle.start();
      stops.push(() => lifecycle.stop());
    },
    notReady: () => [...(view.synced() ? [] : ['cluster view not synced']), ...(serving && !serving.current() ? ['serving certificate not loaded'] : [])],
    async stop() {
      for (const stop of stops.reverse()) await stop();
      await view.stop();
    },
  };
}
