#!/usr/bin/env node
// The command line: serve, validate, explain and certs. Each command loads its own code when it runs, so the offline
// commands (and --help) never pay for the server, the metrics, the logger or the Kubernetes client.
import { Command, InvalidArgumentError, Option } from 'commander';
import { InputError } from '../mesh/errors.js';
import { FLAVORS, isFlavorName, meshIdentity, type FlavorName } from '../mesh/flavor.js';
import { SIDECAR_MODE_FLAGS, type SidecarModeFlag } from '../mesh/names.js';
import { SERVE_DEFAULTS, type ServeOptions } from '../server/options.js';

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
};
const flavor = (v: string): FlavorName => {
  if (!isFlavorName(v)) throw new InvalidArgumentError('must be fsm or osm-edge');
  return v;
};
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds ≥ 0');
  return n;
};
const flavorOption = (fallback: FlavorName): Option => new Option('--flavor <flavor>', 'mesh family').choices(Object.keys(FLAVORS)).default(fallback).argParser(flavor);
const sidecarModeOption = (): Option => new Option('--sidecar-mode <mode>', 'sidecar container mode').choices([...SIDECAR_MODE_FLAGS]).default(SERVE_DEFAULTS.sidecarMode);

const program = new Command()
  .name('mesh-admission')
  .description('Admission webhooks for FSM / osm-edge service meshes: sidecar injection and policy validation')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the webhook server (standalone with --cluster-state DIR, live with --kubeconfig or in a pod)')
  .option('--port <port>', 'HTTPS port of the webhooks', port, SERVE_DEFAULTS.port)
  .option('--metrics-port <port>', 'HTTP port of /healthz, /readyz and /metrics', port, SERVE_DEFAULTS.metricsPort)
  .option('--host <addr>', 'address to listen on', SERVE_DEFAULTS.host)
  .option('--cluster-state <dir>', 'standalone mode: read the cluster view from this folder of manifests')
  .option('--kubeconfig <file>', 'live mode: watch the cluster this kubeconfig points at')
  .option('--certs-dir <dir>', 'where generated serving certificates are kept', SERVE_DEFAULTS.certsDir)
  .option('--tls-cert-file <file>', 'serving certificate (PEM), reloaded when it changes')
  .option('--tls-key-file <file>', 'serving key (PEM), reloaded when it changes')
  .option('--tls-ca-file <file>', 'live mode with --tls-cert-file: CA bundle to publish as the webhooks\' caBundle')
  .option('--secrets-dir <dir>', 'standalone mode: where bootstrap Secrets are written as YAML', SERVE_DEFAULTS.secretsDir)
  .addOption(flavorOption(SERVE_DEFAULTS.flavor))
  .option('--mesh-name <name>', 'mesh name (default: fsm / osm)')
  .option('--mesh-namespace <ns>', 'mesh control-plane namespace (default: fsm-system / osm-system)')
  .addOption(sidecarModeOption())
  .option('--sidecar-image <image>', 'sidecar image (default: from the MeshConfig)')
  .option('--init-container-image <image>', 'init container image (default: from the MeshConfig)')
  .option('--register-webhooks <url>', 'live mode: create/update both webhook configurations pointing at this URL')
  .option('--service-name <name>', 'Service the webhooks are reached through', SERVE_DEFAULTS.serviceName)
  .option('--shutdown-delay-seconds <n>', 'after SIGTERM, keep answering this long (with Connection: close) before closing', seconds, SERVE_DEFAULTS.shutdownDelaySeconds)
  .option('--shutdown-grace-seconds <n>', 'then give in-flight requests this long to finish', seconds, SERVE_DEFAULTS.shutdownGraceSeconds)
  .option('--validation-fail-open', 'admit with a warning when validation cannot finish in time', false)
  .option('--log-level <level>', 'pino log level', SERVE_DEFAULTS.logLevel)
  .action(async (o: Record<string, unknown>) => {
    if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) throw new InvalidArgumentError('--tls-cert-file and --tls-key-file go together');
    const opts: ServeOptions = { ...SERVE_DEFAULTS, ...(o as Partial<ServeOptions>), sidecarMode: o.sidecarMode as SidecarModeFlag, flavor: o.flavor as FlavorName };
    const { startServer } = await import('../server/run.js');
    const server = await startServer(opts);
    // A failed watch or API call is retried where it happens; if one ever escapes as a rejection, log it rather than
    // let Node end the process (a webhook down means pods and policies cannot be created at all).
    process.on('unhandledRejection', (err) => server.logger.error({ err }, 'unhandled rejection'));
    let signals = 0;
    const stop = (signal: string): void => {
      if (++signals > 1) process.exit(1);
      server.logger.info({ signal }, 'signal received');
      void server.shutdown().then(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('validate')
  .description('run the validating webhook offline over manifests (exit 0 admitted, 1 denied, 2 unreadable input)')
  .requiredOption('-f, --filename <path>', 'file or folder of manifests (repeatable)', collect)
  .option('--cluster-state <dir>', 'other objects to check references and conflicts against')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
  .addOption(flavorOption('fsm'))
  .option('--mesh-name <name>', 'mesh name')
  .option('--mesh-namespace <ns>', 'mesh namespace')
  .action(async (o: { filename: string[]; clusterState?: string; output: string; flavor: FlavorName; meshName?: string; meshNamespace?: string }) => {
    const { formatJson, formatText, validateOffline } = await import('./offline.js');
    const results = validateOffline(o.filename, meshIdentity(o.flavor, o.meshName, o.meshNamespace), o.clusterState);
    process.stdout.write(o.output === 'json' ? formatJson(results) : formatText(results));
    process.exitCode = results.some((r) => !r.allowed) ? 1 : 0;
  });

program
  .command('explain')
  .description('what the mutating webhook would do to a pod created from each Pod or pod template (exit 1 if any would be denied)')
  .requiredOption('-f, --filename <path>', 'file or folder of manifests (repeatable)', collect)
  .option('--cluster-state <dir>', 'namespaces, MeshConfig and Services to decide against')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
  .addOption(flavorOption('fsm'))
  .option('--mesh-name <name>', 'mesh name')
  .option('--mesh-namespace <ns>', 'mesh namespace')
  .addOption(sidecarModeOption())
  .option('--sidecar-image <image>', 'sidecar image when the MeshConfig names none')
  .option('--init-container-image <image>', 'init container image when the MeshConfig names none')
  .action(async (o: { filename: string[]; clusterState?: string; output: string; flavor: FlavorName; meshName?: string; meshNamespace?: string; sidecarMode: SidecarModeFlag; sidecarImage?: string; initContainerImage?: string }) => {
    const { explain, formatExplainText } = await import('./explain.js');
    const results = explain(o.filename, meshIdentity(o.flavor, o.meshName, o.meshNamespace), { sidecarMode: o.sidecarMode, sidecarImage: o.sidecarImage, initContainerImage: o.initContainerImage }, o.clusterState);
    process.stdout.write(o.output === 'json' ? JSON.stringify(results, null, 2) + '\n' : formatExplainText(results));
    process.exitCode = results.some((r) => r.decision === 'deny') ? 1 : 0;
  });

program
  .command('certs')
  .description('write a CA and a serving certificate for the webhook Service')
  .requiredOption('--out <dir>', 'output folder (ca.crt, ca.key, tls.crt, tls.key)')
  .option('--dns <name>', 'extra DNS name in the certificate (repeatable)', collect, [])
  .option('--service-name <name>', 'Service name', SERVE_DEFAULTS.serviceName)
  .option('--namespace <ns>', 'Service namespace', 'fsm-system')
  .action(async (o: { out: string; dns: string[]; serviceName: string; namespace: string }) => {
    const { writeCerts } = await import('./certs.js');
    const names = await writeCerts(o.out, o.serviceName, o.namespace, o.dns);
    process.stdout.write(`wrote ${o.out}/ca.crt, tls.crt, tls.key for ${names.join(', ')}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const unusable = err instanceof InputError || err instanceof InvalidArgumentError;
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(unusable ? 2 : 1);
});
