#!/usr/bin/env node
// The command line: serve, validate, explain, audit, certs and version. Each command loads its own code when it runs, so the
// offline commands (and --help) never pay for the server, the metrics, the logger or the Kubernetes client.
// Exit codes: 0 clean, 1 denied (validate, explain), 2 unusable input or usage (a bad flag included), as kubectl and
// kubeconform do. Each command's options are built by small functions, so a new command or flag reuses them.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { InputError } from '../mesh/errors.js';
import { FLAVORS, isFlavorName, meshIdentity, type FlavorName, type MeshIdentity } from '../mesh/flavor.js';
import { SIDECAR_MODE_FLAGS, type SidecarModeFlag } from '../mesh/names.js';
import { DEFAULT_IMAGES } from '../injector/settings.js';
import { LISTEN_HOSTS, listenHost, SERVE_DEFAULTS, type ServeOptions } from '../server/options.js';
import { parseLevelVersion, POD_SECURITY_MODES, type PodSecurityDefaults, type PodSecurityMode } from '../injector/pod-security.js';

const EXIT_USAGE = 2;

/** The package's version (package.json sits two folders up from both src/cli/ and dist/cli/). */
export function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---- argument parsers --------------------------------------------------------------------------------------------

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
/** `enforce=baseline[:v1.28]`, comma-separated or repeated: the API server's Pod Security defaults, which a webhook cannot see. */
const podSecurityDefault = (v: string, prev: PodSecurityDefaults = {}): PodSecurityDefaults => {
  const out: Partial<Record<PodSecurityMode, ReturnType<typeof parseLevelVersion>>> = { ...prev };
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [mode = '', value = ''] = part.split('=', 2);
    const lv = parseLevelVersion(value);
    if (!(POD_SECURITY_MODES as readonly string[]).includes(mode) || !lv) throw new InvalidArgumentError(`${JSON.stringify(part)}: expected MODE=LEVEL[:VERSION], MODE enforce, warn or audit, LEVEL privileged, baseline or restricted, VERSION latest or v1.N (e.g. enforce=baseline:v1.28)`);
    out[mode as PodSecurityMode] = lv;
  }
  return out as PodSecurityDefaults;
};
const POD_SECURITY_DEFAULT_HELP = "the cluster's Pod Security defaults for namespaces without the labels, as set in the API server's admission configuration (which a webhook cannot see): MODE=LEVEL[:VERSION], e.g. enforce=baseline,warn=restricted (repeatable; default: privileged)";
const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds ≥ 0');
  return n;
};

// ---- option groups -----------------------------------------------------------------------------------------------

const flavorOption = (fallback: FlavorName): Option => new Option('--flavor <flavor>', 'mesh family').choices(Object.keys(FLAVORS)).default(fallback).argParser(flavor);
const sidecarModeOption = (): Option => new Option('--sidecar-mode <mode>', 'sidecar container mode').choices([...SIDECAR_MODE_FLAGS]).default(SERVE_DEFAULTS.sidecarMode);

/** The mesh the offline commands decide for. */
interface MeshFlags {
  flavor: FlavorName;
  meshName?: string;
  meshNamespace?: string;
}
function addMeshOptions(cmd: Command): Command {
  return cmd.addOption(flavorOption('fsm')).option('--mesh-name <name>', 'mesh name (default: fsm / osm)').option('--mesh-namespace <ns>', 'mesh namespace (default: fsm-system / osm-system)');
}
const meshOf = (o: MeshFlags): MeshIdentity => meshIdentity(o.flavor, o.meshName, o.meshNamespace);

/** Where the read-only commands find a live cluster. */
interface KubeconfigFlags {
  /** false: --no-kubeconfig */
  kubeconfig?: string | false;
  context?: string;
}
function addKubeconfigOptions(cmd: Command, help: string, offline = false): Command {
  cmd.option('--kubeconfig <file>', help).option('--context <name>', 'the kubeconfig context to use (default: its current-context)');
  return offline ? cmd.option('--no-kubeconfig', 'judge offline even when $KUBECONFIG is set') : cmd;
}

/** What the offline commands read. */
interface InputFlags extends KubeconfigFlags {
  filename?: string[];
  kustomize?: string[];
  clusterState?: string;
  namespace?: string;
  exclude?: string[];
  include?: string[];
  strict: boolean;
}
function addInputOptions(cmd: Command, stateHelp: string): Command {
  return addKubeconfigOptions(
    cmd
      .argument('[paths...]', 'files or folders of manifests, as -f')
      .option('-f, --filename <path>', 'file or folder of manifests, or - for standard input (repeatable)', collect)
      .option('-k, --kustomize <dir>', 'kustomization folder, rendered with `kubectl kustomize` (repeatable)', collect)
      .option('-n, --namespace <ns>', 'the namespace of namespaced objects that name none (default: default), as kubectl apply -n')
      .option('--exclude <glob>', 'paths not read when walking a folder: a name at any depth (chart, *.tpl) or a path (deploy/dev/**) (repeatable)', collect)
      .option('--include <glob>', 'the files read when walking a folder (repeatable; default: *.yaml, *.yml, *.json)', collect)
      .option('--cluster-state <dir>', stateHelp),
    'judge against the state of the cluster this kubeconfig points at (read-only: lists only), instead of --cluster-state; default: $KUBECONFIG when set',
    true,
  );
}

/**
 * Reads the sources (arguments, -f, -k) and the state (a folder, or the live cluster); nothing given at all is a
 * usage error.
 */
async function readInputs(paths: readonly string[], o: InputFlags) {
  const { readInput, readState } = await import('./input.js');
  const { liveKubeconfig } = await import('./kubeconfig.js');
  const filenames = [...paths, ...(o.filename ?? [])];
  const kustomizations = o.kustomize ?? [];
  if (filenames.length === 0 && kustomizations.length === 0) throw new InputError('give the manifests as arguments, with -f PATH, -f - (standard input) or -k DIR');
  const kubeconfig = liveKubeconfig(o);
  const given = readInput({ filenames, kustomizations, strict: o.strict, ...(o.exclude ? { exclude: o.exclude } : {}), ...(o.include ? { include: o.include } : {}) });
  const state = o.clusterState ? readState(o.clusterState) : undefined;
  if (kubeconfig?.from === '$KUBECONFIG') process.stderr.write(`mesh-admission: judging against the cluster of $KUBECONFIG${o.context ? ` (context ${o.context})` : ''}; --cluster-state DIR or --no-kubeconfig judge offline\n`);
  const live = kubeconfig ? await readLive(kubeconfig.files, o.context) : undefined;
  return { given, state, live, sources: [...filenames.map((f) => (f === '-' ? '<stdin>' : f)), ...kustomizations.map((k) => `kustomize ${k}`)] };
}

/** The live cluster's state; a refused or failed read is an unusable input (exit 2). */
async function readLive(kubeconfig: readonly string[], context: string | undefined) {
  const { readLiveState } = await import('../controllers/snapshot.js');
  const { KubeApiError } = await import('../kube/http.js');
  try {
    return await readLiveState(kubeconfig, context);
  } catch (err) {
    if (err instanceof KubeApiError) throw new InputError(`reading the cluster: ${err.message}`);
    throw err;
  }
}

/** How validate reports. */
interface ReportFlags {
  output: string;
  quiet: boolean;
  showSkipped: boolean;
  suppress?: string[];
}
const commaList = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
function addReportOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-o, --output <format>', 'text, json (one document), sarif (2.1.0), github (workflow annotations) or junit (XML)').choices(['text', 'json', 'sarif', 'github', 'junit']).default('text'))
    .option('-q, --quiet', 'print only what fails (denials, input errors, and warnings with --strict) and the summary', false)
    .option('--show-skipped', 'also list the objects of kinds this webhook does not validate, and the files and folders read past', false)
    .option('--suppress <rules>', 'silence these rule ids (comma-separated, repeatable): warnings, and unknown fields under --strict; per object: the annotation mesh-admission.io/suppress', commaList)
    .option('--strict', 'unknown fields deny, any warning (unverified ones included) fails the run (exit 1), files without objects are input errors', false);
}

/** What the injector is told beyond the MeshConfig. */
interface InjectorFlags {
  sidecarMode: SidecarModeFlag;
  sidecarImage?: string;
  initContainerImage?: string;
  podSecurityDefault?: PodSecurityDefaults;
  healthcheckImage?: string;
}
function addInjectorOptions(cmd: Command): Command {
  return cmd
    .addOption(sidecarModeOption())
    .option('--sidecar-image <image>', 'sidecar image when the MeshConfig names none')
    .option('--init-container-image <image>', 'init container image when the MeshConfig names none')
    .option('--pod-security-default <mode=level>', POD_SECURITY_DEFAULT_HELP, podSecurityDefault)
    .option('--healthcheck-image <image>', 'image of the healthcheck helper added for TCP and HTTPS probes (default: the flavor\'s)');
}
const podSecurityOf = (o: InjectorFlags): { podSecurityDefaults?: PodSecurityDefaults } => (o.podSecurityDefault ? { podSecurityDefaults: o.podSecurityDefault } : {});

// ---- commands ----------------------------------------------------------------------------------------------------

const program = new Command()
  .name('mesh-admission')
  .description('Admission webhooks for FSM / osm-edge service meshes: sidecar injection and policy validation')
  .version(`mesh-admission ${packageVersion()}`, '-V, --version')
  // usage errors must not exit 1, which means "denied": they are thrown and answered with 2 below
  .exitOverride()
  .showHelpAfterError('(add --help for the usage)');

program
  .command('serve')
  .description('run the webhook server (standalone with --cluster-state DIR, live with --kubeconfig or in a pod)')
  .option('--port <port>', 'HTTPS port of the webhooks', port, SERVE_DEFAULTS.port)
  .option('--metrics-port <port>', 'port of /metrics and /audit: HTTPS, callers checked with TokenReview and SubjectAccessReview (live mode); plain HTTP on 127.0.0.1 (standalone)', port, SERVE_DEFAULTS.metricsPort)
  .option('--health-port <port>', 'plain HTTP port of /healthz and /readyz (the kubelet\'s probes)', port, SERVE_DEFAULTS.healthPort)
  .option('--insecure-metrics', 'serve /metrics and /audit over plain HTTP without authentication on --host: anyone who reaches the port reads them (/audit names objects in every namespace)', false)
  .option('--host <addr>', `address to listen on (default: ${LISTEN_HOSTS.standalone} standalone, ${LISTEN_HOSTS.live} live)`)
  .option('--cluster-state <dir>', 'standalone mode: read the cluster view from this folder of manifests')
  .option('--kubeconfig <file>', 'live mode: watch the cluster this kubeconfig points at')
  .option('--certs-dir <dir>', 'where generated serving certificates are kept', SERVE_DEFAULTS.certsDir)
  .option('--tls-cert-file <file>', 'serving certificate (PEM), reloaded when it changes')
  .option('--tls-key-file <file>', 'serving key (PEM), reloaded when it changes')
  .option('--tls-ca-file <file>', 'live mode with --tls-cert-file: CA bundle to publish as the webhooks\' caBundle')
  .option('--secrets-dir <dir>', 'standalone mode: where bootstrap Secrets are written as YAML', SERVE_DEFAULTS.secretsDir)
  .addOption(flavorOption(SERVE_DEFAULTS.flavor))
  .option('--mesh-name <name>', 'mesh name (default: fsm / osm)')
  .option('--mesh-namespace <ns>', 'mesh control-plane namespace (default: in a pod, its own; else fsm-system / osm-system)')
  .addOption(sidecarModeOption())
  .option('--sidecar-image <image>', 'sidecar image (default: from the MeshConfig)')
  .option('--init-container-image <image>', 'init container image (default: from the MeshConfig)')
  .option('--pod-security-default <mode=level>', POD_SECURITY_DEFAULT_HELP, podSecurityDefault)
  .option('--healthcheck-image <image>', `image of the healthcheck helper added to pods whose TCP or HTTPS probes are rewritten (default: ${DEFAULT_IMAGES.fsm.healthcheck} / ${DEFAULT_IMAGES['osm-edge'].healthcheck})`)
  .option('--register-webhooks <url>', 'live mode: create/update the webhook configurations mesh-admission-dev pointing at this URL (deleted on shutdown)')
  .option('--keep-webhooks', 'with --register-webhooks: leave the configurations in place on shutdown', false)
  .option('--service-name <name>', 'Service the webhooks are reached through', SERVE_DEFAULTS.serviceName)
  .option('--tls-san <name>', 'extra DNS name or IP address in the self-managed serving certificate, for webhooks reached by URL rather than through the Service (repeatable)', collect, [])
  .option('--shutdown-delay-seconds <n>', 'after SIGTERM, keep answering this long (with Connection: close) before closing', seconds, SERVE_DEFAULTS.shutdownDelaySeconds)
  .option('--shutdown-grace-seconds <n>', 'then give in-flight requests this long to finish', seconds, SERVE_DEFAULTS.shutdownGraceSeconds)
  .option('--validation-fail-open', 'admit with a warning when validation cannot finish in time', false)
  .option('--audit-interval-seconds <n>', 'live mode: audit the cluster this often (jittered ±10 %; 0: never); results on /audit and as metrics', seconds, SERVE_DEFAULTS.auditIntervalSeconds)
  .option('--log-level <level>', 'pino log level', SERVE_DEFAULTS.logLevel)
  .action(async (o: Record<string, unknown>, cmd: Command) => {
    if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) throw new InputError('--tls-cert-file and --tls-key-file go together');
    if (o.keepWebhooks && o.registerWebhooks === undefined) throw new InputError('--keep-webhooks goes with --register-webhooks');
    const { inClusterAvailable, inClusterNamespace } = await import('../kube/in-cluster.js');
    const inCluster = o.kubeconfig === undefined && inClusterAvailable();
    const live = o.kubeconfig !== undefined || inCluster;
    // in a pod the install lives in the mesh's namespace: the pod's own, unless --mesh-namespace says otherwise
    const podNamespace = inCluster && o.meshNamespace === undefined ? inClusterNamespace() : undefined;
    const host = listenHost(typeof o.host === 'string' ? o.host : undefined, live);
    const defaultDirs = { certsDir: cmd.getOptionValueSource('certsDir') === 'default', secretsDir: cmd.getOptionValueSource('secretsDir') === 'default' };
    const opts: ServeOptions = {
      ...SERVE_DEFAULTS,
      ...(o as Partial<ServeOptions>),
      ...(podNamespace ? { meshNamespace: podNamespace } : {}),
      host,
      defaultDirs,
      sidecarMode: o.sidecarMode as SidecarModeFlag,
      flavor: o.flavor as FlavorName,
      ...(o.podSecurityDefault ? { podSecurityDefaults: o.podSecurityDefault as PodSecurityDefaults } : {}),
    };
    const { startServer } = await import('../server/run.js');
    // The handlers are in place before the server starts: a signal that comes as it starts (the line saying it serves
    // is already out) shuts it down once it is up, instead of killing it mid-answer. A second signal exits at once.
    const starting = startServer(opts);
    let signals = 0;
    const stop = (signal: string): void => {
      if (++signals > 1) process.exit(1);
      void starting.then(
        (server) => {
          server.logger.info({ signal }, 'signal received');
          return server.shutdown().then(() => process.exit(0));
        },
        () => undefined, // the start failed: its error ends the process
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    const server = await starting;
    // A failed watch or API call is retried where it happens; if one ever escapes as a rejection, log it rather than
    // let Node end the process (a webhook down means pods and policies cannot be created at all).
    process.on('unhandledRejection', (err) => server.logger.error({ err }, 'unhandled rejection'));
  });

addReportOptions(
  addMeshOptions(
    addInputOptions(
      program.command('validate').description('run the validating webhook offline over manifests (exit 0 admitted, 1 denied, 2 unreadable input or usage)'),
      'other objects to check references and conflicts against',
    ),
  ),
).action(async (paths: string[], o: InputFlags & MeshFlags & ReportFlags) => {
  const { given, state, live, sources } = await readInputs(paths, o);
  const { exitCode, judgeOffline } = await import('./offline.js');
  const { formatReport } = await import('./report.js');
  const report = judgeOffline(
    given,
    { mesh: meshOf(o), strict: o.strict, ...(live ? { cluster: live.view } : {}), ...(o.namespace !== undefined ? { namespace: o.namespace } : {}), ...(o.suppress ? { suppress: o.suppress } : {}) },
    state,
    sources,
  );
  process.stdout.write(formatReport(o.output as 'text', report, { quiet: o.quiet, showSkipped: o.showSkipped, version: packageVersion() }));
  for (const note of report.notes) process.stderr.write(`mesh-admission: ${note}\n`);
  process.exitCode = exitCode(report);
});

addInjectorOptions(
  addMeshOptions(
    addInputOptions(
      program.command('explain').description('what the mutating webhook would do to a pod created from each Pod or pod template (exit 1 if any would be denied)'),
      'namespaces, MeshConfig and Services to decide against',
    ),
  ),
)
  .addOption(new Option('-o, --output <format>', 'text, json, or yaml: the manifests with the injection applied (like istioctl kube-inject)').choices(['text', 'json', 'yaml']).default('text'))
  .option('--strict', 'a decision that could not be checked (a namespace not known) fails the run (exit 1)', false)
  .action(async (paths: string[], o: InputFlags & MeshFlags & InjectorFlags & { output: string }) => {
    const { given, state, live } = await readInputs(paths, { ...o, strict: false });
    const { explainDocuments, explainSummary, formatExplainText, formatExplainYaml } = await import('./explain.js');
    const minor = live?.kubernetesMinor;
    const injector = { sidecarMode: o.sidecarMode, sidecarImage: o.sidecarImage, initContainerImage: o.initContainerImage, healthcheckImage: o.healthcheckImage, ...podSecurityOf(o), ...(minor !== undefined ? { kubernetesMinor: minor } : {}) };
    const perDocument = explainDocuments(given, meshOf(o), injector, state, live?.view, o.namespace);
    const results = perDocument.filter((r) => r !== undefined);
    const problems = [...(state?.problems ?? []), ...given.problems];
    const summary = explainSummary(results);
    const writers: Record<string, () => void> = {
      text: () => process.stdout.write(`${formatExplainText(results)}${summary}\n`),
      json: () => process.stdout.write(JSON.stringify({ results, problems, summary }, null, 2) + '\n'),
      yaml: () => {
        process.stdout.write(formatExplainYaml(given, perDocument));
        // the YAML stays clean for a pipe: what a reader must know goes to stderr, with the summary
        const notable = results.filter((r) => r.decision === 'deny' || r.warnings.length || r.unverified);
        if (notable.length) process.stderr.write(`${formatExplainText(notable.map((r) => ({ ...r, added: undefined })))}${summary}\n`);
      },
    };
    writers[o.output]!();
    if (o.output !== 'json') for (const p of problems) process.stderr.write(`${p.source ? `${p.source}${p.line > 0 ? `:${p.line}` : ''}: ` : ''}error: ${p.message}\n`);
    const failed = results.some((r) => r.decision === 'deny') || (o.strict && results.some((r) => r.unverified));
    process.exitCode = problems.length ? EXIT_USAGE : failed ? 1 : 0;
  });

addInjectorOptions(
  addMeshOptions(
    addKubeconfigOptions(
      program
        .command('audit')
        .description('find what slipped past admission in a live cluster: objects the validator would deny or warn about now, pods whose injection differs from what the injector would do (exit 0 clean, 1 findings, 2 could not run)'),
      'the cluster to audit (read-only: lists only; see "Audit" in README.md for the ClusterRole); default: $KUBECONFIG, else ~/.kube/config',
    ),
  ),
)
  .option('-n, --namespace <ns>', 'audit one namespace (its objects and pods; cluster-scoped objects are left out)')
  .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
  .action(async (o: KubeconfigFlags & MeshFlags & InjectorFlags & { namespace?: string; output: 'text' | 'json' }) => {
    const { kubectlKubeconfig } = await import('./kubeconfig.js');
    const kubeconfig = kubectlKubeconfig(typeof o.kubeconfig === 'string' ? o.kubeconfig : undefined);
    if (!kubeconfig) throw new InputError('give the cluster to audit with --kubeconfig FILE (or set KUBECONFIG)');
    const { auditCommand } = await import('./audit.js');
    process.exitCode = await auditCommand(
      {
        kubeconfig: kubeconfig.files,
        ...(o.context !== undefined ? { context: o.context } : {}),
        ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
        output: o.output,
        mesh: meshOf(o),
        injector: { sidecarMode: o.sidecarMode, ...(o.sidecarImage ? { sidecarImage: o.sidecarImage } : {}), ...(o.initContainerImage ? { initContainerImage: o.initContainerImage } : {}), ...(o.healthcheckImage ? { healthcheckImage: o.healthcheckImage } : {}), ...podSecurityOf(o) },
      },
      process,
    );
  });

/** A DNS name (a lowercase RFC 1123 subdomain, or `*.` and one) or an IP address for the certificate. */
const subjectName = (v: string, prev: string[] = []): string[] => {
  const name = v.trim();
  const dns = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  if (isIP(name) === 0 && !(dns.test(name) && name.length <= 253))
    throw new InvalidArgumentError(`${JSON.stringify(v)} is neither an IP address nor a DNS name (a lowercase RFC 1123 subdomain, e.g. webhook.example.com or *.example.com)`);
  return [...prev, name];
};

program
  .command('certs')
  .description('write a CA and a serving certificate for the webhook Service')
  .requiredOption('--out <dir>', 'output folder (ca.crt, ca.key, tls.crt, tls.key)')
  .option('--dns <name>', 'extra DNS name or IP address in the certificate (repeatable)', subjectName, [])
  .option('--service-name <name>', 'Service name', SERVE_DEFAULTS.serviceName)
  .option('--namespace <ns>', 'Service namespace', 'fsm-system')
  .action(async (o: { out: string; dns: string[]; serviceName: string; namespace: string }) => {
    const { writeCerts } = await import('./certs.js');
    const names = await writeCerts(o.out, o.serviceName, o.namespace, o.dns);
    process.stdout.write(`wrote ${o.out}/ca.crt, ca.key, tls.crt, tls.key for ${names.join(', ')}\n`);
  });

program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`mesh-admission ${packageVersion()}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  // commander has already printed its message (and the help hint); --help and --version end here with exit code 0
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  const unusable = err instanceof InputError || err instanceof InvalidArgumentError;
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(unusable ? EXIT_USAGE : 1);
});
