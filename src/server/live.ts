// Live mode: one client for the API server shared by everything below; the cluster view (a reflector per kind); the
// mesh CA from its Secret; bootstrap Secrets created from the pod watch by the replica holding the Lease; a serving
// certificate self-managed in a Secret (or read from files); the webhook configurations' caBundle kept right.
import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { readCaBundleFile, watchCaBundleFile } from '../certs/ca-file.js';
import { CaBundlePatcher } from '../controllers/ca-bundle-patcher.js';
import { apiSecretSlot } from '../controllers/secret-slot.js';
import { loadOrCreateMeshCASecret } from '../controllers/mesh-ca-secret.js';
import { ServingCertManager } from '../certs/serving-manager.js';
import { KubeHttp } from '../kube/http.js';
import { LiveView } from '../controllers/live-view.js';
import { listPods } from '../controllers/snapshot.js';
import { NATIVE_SIDECAR_MINOR } from '../injector/settings.js';
import { BootstrapSecretController } from '../controllers/bootstrap-secrets.js';
import { LeaderElector } from '../controllers/leader.js';
import type { Environment, EnvironmentContext, TlsTarget } from './environment.js';
import { ApiAccessReview } from '../controllers/access-review.js';
import { devWebhookNames, registerWebhooks, unregisterWebhooks } from '../controllers/register-webhooks.js';
import { webhookNames } from '../install/webhook-config.js';
import { WebhookConflictWatcher } from '../controllers/webhook-conflicts.js';
import { conflictLine } from '../mesh/webhook-conflicts.js';
import { readTlsFiles, watchTlsFiles, type TlsMaterial } from './tls.js';
import { leaderLeaseName, serverLabels, servingSecretName } from '../mesh/names.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

/**
 * The names the API server may reach this server by besides the Service, for the serving certificate: the host of a
 * workstation URL given to --register-webhooks, and every --tls-san.
 */
function extraNames(url: string | undefined, sans: readonly string[]): { dns: string[]; ips: string[] } {
  const dns: string[] = [];
  const ips: string[] = [];
  const add = (name: string): void => void (isIP(name) ? ips : dns).push(name);
  if (url) {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) dns.push('localhost');
    add(host);
  }
  for (const san of sans) add(san.replace(/^\[|\]$/g, ''));
  return { dns: [...new Set(dns)], ips: [...new Set(ips)] };
}

export async function liveEnvironment({ opts, mesh, logger, metrics }: EnvironmentContext, kubeConfig: KubeConfig): Promise<Environment> {
  const http = new KubeHttp(kubeConfig, { onNewConnection: () => metrics.apiConnections.inc() });
  const view = new LiveView({ http, logger });
  metrics.observeInformers(view);
  if (opts.sidecarMode === 'auto')
    view.onVersion((minor) => logger.info({ kubernetesMinor: minor, sidecars: minor >= NATIVE_SIDECAR_MINOR ? 'native' : 'classic' }, 'sidecar mode auto: chosen by the API server version'));
  view.start();
  const meshCA = await loadOrCreateMeshCASecret({ http, mesh });
  logger.info({ secret: `${mesh.meshNamespace}/${mesh.flavor.caBundleSecret}`, reused: meshCA.reused }, 'mesh CA loaded');
  metrics.certificateExpiry.set({ cert: 'mesh-ca' }, meshCA.notAfter.getTime() / 1000);
  // a workstation run registers, patches and removes its own configurations, never the in-cluster install's
  const dev = opts.registerWebhooks ? devWebhookNames() : undefined;
  const own = dev ?? webhookNames(mesh);
  const patcher = new CaBundlePatcher({ http, logger, mutatingName: own.mutatingConfiguration, validatingName: own.validatingConfiguration });
  // the other webhooks called for the mesh's pods and policies; a workstation run is reached by URL, not the Service
  const ownWebhooks = { mutating: own.mutatingConfiguration, validating: own.validatingConfiguration, ...(dev ? {} : { service: { name: opts.serviceName, namespace: mesh.meshNamespace } }) };
  const conflicts = new WebhookConflictWatcher({
    http,
    logger,
    mesh,
    own: ownWebhooks,
    namespaces: () => view.list('Namespace'),
    viewReady: () => view.ready(),
    onChange: (found) => {
      metrics.conflictingWebhooks.reset();
      for (const c of found) metrics.conflictingWebhooks.inc({ name: c.configuration });
    },
  });

  let https: TlsTarget | undefined;
  let serving: ServingCertManager | undefined;
  let tls: TlsMaterial;
  const stops: Array<() => void | Promise<void>> = [];
  /** what shutdown does first, while the server still answers: give up the Lease, remove a dev registration */
  const drains: Array<() => Promise<void>> = [];
  let draining: Promise<void> | undefined;
  if (opts.tlsCertFile && opts.tlsKeyFile) {
    tls = readTlsFiles(opts.tlsCertFile, opts.tlsKeyFile);
    if (opts.tlsCaFile) tls = { ...tls, ca: readCaBundleFile(opts.tlsCaFile) };
    else logger.warn('serving certificate from files without --tls-ca-file: the webhook configurations\' caBundle is left to whoever issued it');
  } else {
    const extra = extraNames(opts.registerWebhooks, opts.tlsSan ?? []);
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

  // the Pod name (HOSTNAME) tells the operator which replica holds the Lease; the suffix keeps restarts apart
  const identity = `${process.env.HOSTNAME || hostname()}_${randomBytes(4).toString('hex')}`;
  let leader: LeaderElector | undefined;
  return {
    mode: 'live',
    view,
    freshness: view,
    meshCA,
    tls,
    fetchNamespace: (name) => view.fetchNamespace(name),
    accessReview: new ApiAccessReview(http),
    listPods: (namespaces) => listPods(http, namespaces),
    kubernetesMinor: () => view.kubernetesMinor(),
    async attach(server: TlsTarget, { issuer, injector }) {
      https = server;
      conflicts.start();
      if (opts.tlsCertFile && opts.tlsKeyFile) stops.push(watchTlsFiles(server, opts.tlsCertFile, opts.tlsKeyFile, tls, logger, metrics));
      const bundle = serving?.caBundle() ?? tls.ca;
      if (opts.registerWebhooks) {
        if (!bundle) throw new Error('--register-webhooks needs a CA bundle: use the self-managed certificate or --tls-ca-file');
        await registerWebhooks({ http, mesh, url: opts.registerWebhooks, caBundle: bundle, logger, ...(dev ? { names: dev } : {}) });
      }
      if (opts.tlsCaFile) stops.push(watchCaBundleFile(opts.tlsCaFile, (pem) => void patcher.setBundle(pem), logger));
      if (bundle) {
        await patcher.setBundle(bundle);
        patcher.start();
        stops.push(() => patcher.stop());
      }
      const controller = new BootstrapSecretController({
        http,
        view,
        injector,
        issuer,
        logger,
        identity,
        responsible: () => leader?.isLeader() ?? false,
        viewReady: () => view.whenReady(),
        onCreated: (seconds) => {
          metrics.bootstrapSecrets.inc({ result: 'created' });
          metrics.bootstrapSecretSeconds.observe(seconds);
        },
        onExists: () => metrics.bootstrapSecrets.inc({ result: 'exists' }),
        onFailed: (status) => {
          metrics.bootstrapSecrets.inc({ result: 'failed' });
          metrics.bootstrapSecretFailures.inc({ status });
        },
      });
      metrics.countWaitingWith(() => controller.waitingCount());
      leader = new LeaderElector({ http, namespace: mesh.meshNamespace, name: leaderLeaseName(mesh), identity, logger: logger.child({ identity }), onStartedLeading: () => controller.resume() });
      controller.start();
      leader.start();
      // stopping order: give up the Lease first (a follower takes over at once), then the watch
      stops.push(() => controller.stop());
      const elector = leader;
      drains.push(() => elector.stop());
      // the registration goes when shutdown begins, so that the API server stops calling this process as soon as
      // possible (a configuration left pointing at a stopped laptop refuses every pod)
      if (dev && !opts.keepWebhooks)
        drains.push(() => unregisterWebhooks({ http, logger, names: dev }).then(() => undefined, (err: Error) => logger.warn({ err: err.message }, 'webhook configurations not removed')));
    },
    drain: () => (draining ??= Promise.all(drains.map((d) => d())).then(() => undefined)),
    whenReady: () => view.whenReady(),
    notReady: () => [
      ...view.notReady(),
      // auto mode decides native or classic sidecars from it: no decision before it is known
      ...(opts.sidecarMode === 'auto' && view.kubernetesMinor() === undefined ? ['the API server version is not known yet (--sidecar-mode auto chooses native or classic sidecars from it)'] : []),
      ...(serving && !serving.current() ? ['serving certificate not loaded'] : []),
    ],
    warnings: () => conflicts.conflicts().map((c) => `conflicting webhook: ${conflictLine(c)}`),
    podMutators: (namespace) => conflicts.podMutators(namespace),
    webhooks: () => ({ configurations: conflicts.configurations(), own: ownWebhooks }),
    async stop() {
      await (draining ??= Promise.all(drains.map((d) => d())).then(() => undefined));
      for (const stop of stops.reverse()) await stop();
      await conflicts.stop();
      await view.stop();
      http.close();
    },
  };
}
