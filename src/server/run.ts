// Starting and stopping the whole server: cluster view, TLS, the webhook HTTPS server and the health/metrics port.
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { AdmissionHandler } from '../admission/handler.js';
import { MemoryView } from '../cluster/memory.js';
import { loadStaticView } from '../cluster/static.js';
import type { ClusterView } from '../cluster/view.js';
import { meshIdentity, type MeshIdentity } from '../mesh/flavor.js';
import { createWebhookApp } from './app.js';
import { createHealthApp } from './health.js';
import { Metrics } from './metrics.js';
import { mutateHandler } from './mutate-handler.js';
import { BootstrapIssuer } from '../certs/bootstrap-issuer.js';
import { loadOrCreateMeshCA } from '../certs/mesh-ca.js';
import { FileSecretStore } from './secret-store.js';
import type { ServeOptions } from './options.js';
import { loadTls, watchTlsFiles, type TlsMaterial } from './tls.js';
import { validateHandler } from './validate-handler.js';

/** The API server keeps connections to webhooks alive for up to 90 s; closing earlier causes spurious EOF errors. */
export const KEEP_ALIVE_TIMEOUT_MS = 95_000;
export const HEADERS_TIMEOUT_MS = 100_000;
/** A client that stalls mid-body is cut off well before it can pile up. */
export const REQUEST_TIMEOUT_MS = 120_000;

export interface RunningServer {
  readonly port: number;
  readonly metricsPort: number;
  readonly tls: TlsMaterial;
  readonly mesh: MeshIdentity;
  readonly view: ClusterView;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** requests being answered right now */
  inFlight(): number;
  /** stop accepting, let in-flight requests finish (bounded by the grace period), then close everything */
  shutdown(graceSeconds?: number): Promise<void>;
}

export class ConfigError extends Error {}

/** Live mode is asked for with --kubeconfig or detected in a pod; a kubeconfig in $HOME is never picked up silently. */
export function wantsLiveMode(opts: ServeOptions, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(opts.kubeconfig) || (Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'));
}

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
  view?: ClusterView;
  handlers?: AdmissionHandler[];
}

export async function startServer(opts: ServeOptions, deps: StartDeps = {}): Promise<RunningServer> {
  const logger = deps.logger ?? pino({ level: opts.logLevel, base: { app: 'mesh-admission' }, redact: ['*.key', '*.private', '*.cert'] });
  const mesh = meshIdentity(opts.flavor, opts.meshName, opts.meshNamespace);
  const metrics = new Metrics({ processMetrics: true });

  let view: ClusterView;
  if (deps.view) view = deps.view;
  else if (wantsLiveMode(opts)) throw new ConfigError('live cluster mode (--kubeconfig or in-cluster credentials) is not available in this build; use --cluster-state DIR');
  else if (opts.clusterState) {
    view = loadStaticView(opts.clusterState);
    logger.info({ dir: opts.clusterState, objects: (view as MemoryView).all().length }, 'cluster state loaded');
  } else {
    view = new MemoryView();
    logger.warn('no --cluster-state given: the cluster view is empty');
  }

  const tls = await loadTls({ certsDir: opts.certsDir, tlsCertFile: opts.tlsCertFile, tlsKeyFile: opts.tlsKeyFile, serviceName: opts.serviceName, namespace: mesh.meshNamespace }, logger);
  metrics.certificateExpiry.set({ cert: 'serving' }, tls.notAfter.getTime() / 1000);

  let draining = false;
  let inFlight = 0;
  const meshCA = loadOrCreateMeshCA(opts.certsDir, mesh.flavor, new Date());
  logger.info({ dir: opts.certsDir, reused: meshCA.reused, notAfter: meshCA.notAfter.toISOString() }, meshCA.reused ? 'mesh CA reused' : 'mesh CA created');
  metrics.certificateExpiry.set({ cert: 'mesh-ca' }, meshCA.notAfter.getTime() / 1000);
  const issuer = new BootstrapIssuer(meshCA, { onPoolError: (err) => logger.warn({ err: err.message }, 'key pool worker failed; restarting') });
  const injector = {
    mesh,
    sidecarMode: opts.sidecarMode,
    logLevel: opts.logLevel,
    ...(opts.sidecarImage ? { sidecarImage: opts.sidecarImage } : {}),
    ...(opts.initContainerImage ? { initContainerImage: opts.initContainerImage } : {}),
  };
  const handlers = deps.handlers ?? [
    validateHandler({ mesh, view, failOpen: opts.validationFailOpen }),
    mutateHandler({ injector, view, issuer, secrets: new FileSecretStore(opts.secretsDir), metrics, logger }),
  ];
  const app = createWebhookApp({ handlers, logger, metrics, draining: () => draining });
  const https = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, app);
  https.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  https.headersTimeout = HEADERS_TIMEOUT_MS;
  https.requestTimeout = REQUEST_TIMEOUT_MS;
  https.on('request', (_req, res) => {
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

  const health = createHttpServer(
    createHealthApp(metrics, {
      ready: () => {
        const reasons: string[] = [];
        if (draining) reasons.push('shutting down');
        if (!view.synced()) reasons.push('cluster view not synced');
        return { ready: reasons.length === 0, reasons };
      },
    }),
  );

  const stopWatch = opts.tlsCertFile && opts.tlsKeyFile ? watchTlsFiles(https, opts.tlsCertFile, opts.tlsKeyFile, logger, metrics) : () => {};
  const port = await listen(https, opts.port, opts.host);
  let metricsPort: number;
  try {
    metricsPort = await listen(health, opts.metricsPort, opts.host);
  } catch (err) {
    await closeServer(https);
    throw err;
  }
  logger.info({ port, metricsPort, flavor: mesh.flavor.name, mesh: mesh.meshName, namespace: mesh.meshNamespace }, 'mesh-admission serving');

  let stopped: Promise<void> | undefined;
  return {
    port,
    metricsPort,
    tls,
    mesh,
    view,
    metrics,
    logger,
    inFlight: () => inFlight,
    shutdown(graceSeconds = opts.shutdownGraceSeconds): Promise<void> {
      stopped ??= (async () => {
        draining = true;
        stopWatch();
        logger.info({ inFlight }, 'shutting down: draining in-flight requests');
        const closed = closeServer(https);
        https.closeIdleConnections();
        const deadline = Date.now() + graceSeconds * 1000;
        while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        https.closeAllConnections();
        await closed;
        await issuer.close();
        health.closeAllConnections();
        await closeServer(health);
        logger.info('shut down');
      })();
      return stopped;
    },
  };
}
