// Starting and stopping the whole server: the environment (standalone or live), the webhook HTTPS server, the health
// port and the metrics port (side-ports.ts).
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import type { AdmissionHandler } from '../admission/handler.js';
import { BootstrapIssuer } from '../certs/bootstrap-issuer.js';
import { inClusterAvailable } from '../kube/in-cluster.js';
import type { ClusterView } from '../cluster/view.js';
import { InputError } from '../mesh/errors.js';
import { meshIdentity, type MeshIdentity } from '../mesh/flavor.js';
import { createWebhookApp } from './app.js';
import { AuditLoop, jittered } from './audit-loop.js';
import type { Environment } from './environment.js';
import { createSidePorts, type MetricsAccess } from './side-ports.js';
import { Metrics } from './metrics.js';
import { mutateHandler } from '../webhooks/mutate.js';
import type { ServeOptions } from './options.js';
import { standaloneEnvironment } from './standalone.js';
import type { TlsMaterial } from './tls.js';
import { validateHandler } from '../webhooks/validate.js';
import { buildIndexes } from '../validator/indexes.js';
import type { AuditOptions } from '../audit/audit.js';
import type { InjectorOptions } from '../injector/settings.js';

/** The API server keeps connections to webhooks alive for up to 90 s; closing earlier causes spurious EOF errors. */
export const KEEP_ALIVE_TIMEOUT_MS = 95_000;
export const HEADERS_TIMEOUT_MS = 100_000;
/** After the shutdown delay, the listener closes only once nothing has arrived for this long. */
const QUIET_BEFORE_CLOSE_MS = 500;
/** A client that stalls mid-body is cut off well before it can pile up. */
export const REQUEST_TIMEOUT_MS = 120_000;

export interface RunningServer {
  readonly port: number;
  /** /metrics and /audit (HTTPS behind RBAC in live mode; see side-ports.ts) */
  readonly metricsPort: number;
  /** /healthz and /readyz, plain HTTP */
  readonly healthPort: number;
  readonly metricsAccess: MetricsAccess;
  readonly mode: Environment['mode'];
  readonly tls: TlsMaterial;
  readonly mesh: MeshIdentity;
  readonly view: ClusterView;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly https: HttpsServer;
  /** the continuous audit (live mode with --audit-interval-seconds above 0) */
  readonly audit: AuditLoop | undefined;
  /** requests being answered right now */
  inFlight(): number;
  /** keep answering for the delay (Connection: close), stop accepting, let in-flight requests finish (bounded by the
   * grace period), then close everything */
  shutdown(graceSeconds?: number, delaySeconds?: number): Promise<void>;
}

/** A flag combination that cannot work. */
export class ConfigError extends InputError {}

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface StartDeps {
  logger?: Logger;
  handlers?: AdmissionHandler[];
  /** environment override (tests) */
  environment?: Environment;
}

/**
 * Live mode is asked for with --kubeconfig or detected in a pod (in-cluster credentials); a kubeconfig in $HOME is
 * never picked up silently. Otherwise standalone.
 */
async function environmentFor(opts: ServeOptions, mesh: MeshIdentity, logger: Logger, metrics: Metrics): Promise<Environment> {
  const ctx = { opts, mesh, logger, metrics };
  if (opts.kubeconfig !== undefined || inClusterAvailable()) {
    // loaded only here: a standalone server never loads the Kubernetes client
    const [{ loadKubeConfig }, { liveEnvironment }] = await Promise.all([import('../kube/kubeconfig.js'), import('./live.js')]);
    const kubeConfig = loadKubeConfig({ kubeconfig: opts.kubeconfig });
    if (kubeConfig) return liveEnvironment(ctx, kubeConfig);
  }
  if (opts.registerWebhooks) throw new ConfigError('--register-webhooks needs live mode: give --kubeconfig');
  return standaloneEnvironment(ctx);
}

/** The first audit runs this soon after the view is synced (jittered): results early, not all replicas at once. */
const FIRST_AUDIT_DELAY_MS = 30_000;

/** Live mode: the continuous audit over the cached view and the mesh's pods (the server may not list Secrets). */
function auditLoop(opts: ServeOptions, env: Environment, injector: AuditOptions['injector'], metrics: Metrics, logger: Logger): AuditLoop | undefined {
  const listPods = env.listPods;
  if (env.mode !== 'live' || !listPods || opts.auditIntervalSeconds <= 0) return undefined;
  const intervalMs = opts.auditIntervalSeconds * 1000;
  const loop = new AuditLoop({
    view: env.view,
    audit: { mesh: injector.mesh, injector },
    listPods,
    bootstrapSecretsNotListed: 'the server may not list Secrets; run mesh-admission audit with a role that may',
    ...(env.webhooks ? { webhooks: env.webhooks } : {}),
    intervalMs,
    metrics,
    logger,
  });
  void env.whenReady().then(() => loop.start(jittered(Math.min(FIRST_AUDIT_DELAY_MS, intervalMs), Math.random)));
  return loop;
}

export async function startServer(opts: ServeOptions, deps: StartDeps = {}): Promise<RunningServer> {
  const logger = deps.logger ?? createLogger(opts.logLevel);
  const mesh = meshIdentity(opts.flavor, opts.meshName, opts.meshNamespace);
  const metrics = new Metrics({ processMetrics: true });
  const env = deps.environment ?? (await environmentFor(opts, mesh, logger, metrics));
  metrics.certificateExpiry.set({ cert: 'serving' }, env.tls.notAfter.getTime() / 1000);
  metrics.certificateExpiry.set({ cert: 'mesh-ca' }, env.meshCA.notAfter.getTime() / 1000);

  // the rules' indexes, built once the view holds the cluster (live mode: after the first lists), not on a request
  void env.whenReady().then(() => buildIndexes(env.view));
  const issuer = new BootstrapIssuer(env.meshCA, { onPoolError: (err) => logger.warn({ err: err.message }, 'key pool worker failed; restarting') });
  const injector: InjectorOptions = {
    mesh,
    sidecarMode: opts.sidecarMode,
    logLevel: opts.logLevel,
    // read at every decision: live mode learns the API server's version with each discovery (an upgrade included)
    get kubernetesMinor(): number | undefined {
      return env.kubernetesMinor?.();
    },
    ...(opts.sidecarImage ? { sidecarImage: opts.sidecarImage } : {}),
    ...(opts.initContainerImage ? { initContainerImage: opts.initContainerImage } : {}),
    ...(opts.podSecurityDefaults ? { podSecurityDefaults: opts.podSecurityDefaults } : {}),
    ...(opts.healthcheckImage ? { healthcheckImage: opts.healthcheckImage } : {}),
  };
  const handlers = deps.handlers ?? [
    validateHandler({ mesh, view: env.view, failOpen: opts.validationFailOpen, ...(env.freshness ? { freshness: env.freshness } : {}) }),
    mutateHandler({
      injector,
      view: env.view,
      ...(env.secretStore ? { secrets: { issuer, store: env.secretStore } } : {}),
      injections: metrics.injections,
      logger,
      ...(env.fetchNamespace ? { fetchNamespace: env.fetchNamespace } : {}),
      ...(env.podMutators ? { podMutators: env.podMutators } : {}),
    }),
  ];

  const audit = auditLoop(opts, env, injector, metrics, logger);

  let draining = false;
  let inFlight = 0;
  const app = createWebhookApp({ handlers, logger, metrics, draining: () => draining });
  const https = createHttpsServer({ cert: env.tls.cert, key: env.tls.key, minVersion: 'TLSv1.2' }, app);
  https.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  https.headersTimeout = HEADERS_TIMEOUT_MS;
  https.requestTimeout = REQUEST_TIMEOUT_MS;
  let lastActivity = Date.now();
  https.on('connection', () => (lastActivity = Date.now()));
  https.on('secureConnection', () => metrics.webhookConnections.inc());
  https.on('request', (_req, res) => {
    lastActivity = Date.now();
    inFlight++;
    res.once('close', () => inFlight--);
  });
  // A broken TLS handshake or a reset socket is the client's problem: log it, never let it reach the process.
  https.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
  https.on('clientError', (err, socket) => {
    logger.debug({ err: err.message }, 'client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const side = createSidePorts({
    metrics,
    logger,
    host: opts.host,
    insecureMetrics: opts.insecureMetrics,
    tls: env.tls,
    ...(env.accessReview ? { accessReview: env.accessReview } : {}),
    checks: {
      ready: () => {
        const reasons = [...(draining ? ['shutting down'] : []), ...env.notReady()];
        return { ready: reasons.length === 0, reasons: [...new Set(reasons)], warnings: env.warnings?.() ?? [] };
      },
      ...(audit ? { audit: () => (audit.document() ? { ran: true, document: audit.document() } : { ran: false }) } : {}),
    },
  });
  const { health } = side;
  // a renewed serving certificate goes to every listener that serves it
  const tlsTarget = { setSecureContext: (ctx: SecureContextOptions) => (https.setSecureContext(ctx), side.setSecureContext(ctx)) };

  let port: number;
  let metricsPort: number;
  let healthPort: number;
  try {
    port = await listen(https, opts.port, opts.host);
    metricsPort = await listen(side.metrics, opts.metricsPort, side.metricsHost);
    healthPort = await listen(health, opts.healthPort, opts.host);
    await env.attach(tlsTarget, { issuer, injector });
  } catch (err) {
    await Promise.all([closeServer(https), closeServer(side.metrics), closeServer(health), issuer.close(), audit?.stop(), env.stop()]);
    throw err;
  }
  if (side.access === 'open') logger.warn({ metricsPort }, '--insecure-metrics: /metrics and /audit are served over plain HTTP to anyone who reaches the port');
  logger.info({ port, metricsPort, healthPort, metricsAccess: side.access, mode: env.mode, flavor: mesh.flavor.name, mesh: mesh.meshName, namespace: mesh.meshNamespace }, 'mesh-admission serving');

  let stopped: Promise<void> | undefined;
  return {
    port,
    metricsPort,
    healthPort,
    metricsAccess: side.access,
    mode: env.mode,
    tls: env.tls,
    mesh,
    view: env.view,
    metrics,
    logger,
    https,
    audit,
    inFlight: () => inFlight,
    shutdown(graceSeconds = opts.shutdownGraceSeconds, delaySeconds = opts.shutdownDelaySeconds): Promise<void> {
      stopped ??= (async () => {
        // 1. Keep answering for a while, every answer closing its connection: endpoints take time to drop this pod,
        //    and the API server moves to a new connection after each answer instead of reusing one about to close.
        draining = true;
        logger.info({ inFlight, delaySeconds }, 'shutting down: answering with Connection: close, then closing');
        // the Lease and a workstation's webhook registration go now, not after the delay
        const drained = env.drain?.().catch((err: Error) => logger.warn({ err: err.message }, 'drain failed'));
        await audit?.stop();
        if (delaySeconds > 0) await new Promise((r) => setTimeout(r, delaySeconds * 1000));
        // 2. Closing the listener resets connections the kernel accepted but Node has not served yet, and Node closes
        //    the idle ones: so wait until no connection or request has arrived for a moment (the API server has
        //    moved on), bounded by the grace period.
        const deadline = Date.now() + graceSeconds * 1000;
        while (Date.now() < deadline && (inFlight > 0 || Date.now() - lastActivity < QUIET_BEFORE_CLOSE_MS)) await new Promise((r) => setTimeout(r, 20));
        const closed = closeServer(https);
        https.closeIdleConnections();
        while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        // 3. Past the grace period, nothing is left to wait for.
        https.closeAllConnections();
        await closed;
        await drained;
        await Promise.all([issuer.close(), env.stop()]);
        health.closeAllConnections();
        side.metrics.closeAllConnections();
        await Promise.all([closeServer(health), closeServer(side.metrics)]);
        logger.info('shut down');
      })();
      return stopped;
    },
  };
}
