// `npm run bench`: the injector's per-pod cost, and the server's throughput and latency for /validate and
// /mutate-pod-creation over keep-alive TLS against a bare node:https "floor" server, all in one run on this machine.
// Results are printed and written to bench/RESULTS.md. Exits non-zero only when a request failed (a wrong answer or
// a transport error); a missed target is reported, not fatal. See bench/README.md.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { BootstrapIssuer } from '../src/certs/bootstrap-issuer.js';
import { createMeshCA } from '../src/certs/mesh-ca.js';
import { loadStaticView } from '../src/cluster/static.js';
import { buildBootstrapSecret } from '../src/injector/bootstrap.js';
import { injectPod, type InjectionPlan } from '../src/injector/inject.js';
import type { InjectorOptions } from '../src/injector/settings.js';
import { meshIdentity } from '../src/mesh/flavor.js';
import type { KubeObject } from '../src/mesh/objects.js';
import { SERVE_DEFAULTS } from '../src/server/options.js';
import { startServer } from '../src/server/run.js';
import { allow } from '../src/admission/response.js';
import type { AdmissionHandler } from '../src/admission/handler.js';
import { BENCH_DIR, bodyTemplate, CLUSTER, ROOT, FIXTURES, MUTATE_FIXTURE, PODS, readReview, runLoad, startFloor, VALIDATE_FIXTURES, waitForQuiet, type ServerSide } from './lib.js';
import type { LoadResult, LoadScenario } from './loadgen.js';
import { liveBench, type LivePoint } from './live.js';
import { scaleSection } from './scale.js';
import { certsSection } from './certs.js';
import { yamlSection } from './yaml.js';
import { apiserverSection } from './apiserver.js';

const CONCURRENCY = 16;
/** part C's paced point: about the pace a real API server admits pods at 16 in flight on this machine (part H) */
const LIVE_PACED_RATE = Number(process.env.BENCH_LIVE_PACED_RATE ?? 150);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
/** time spent measuring each pod in part A (after its warm-up) */
const PART_A_MS = Number(process.env.BENCH_PART_A_MS ?? 400);

const TARGETS = { validate: 0.5, mutate: 0.3, p99Ms: 25 } as const;

// ---------------------------------------------------------------------------------------------------------------
// Part A: the injector's per-pod cost.

interface PodCase {
  readonly label: string;
  readonly pod: KubeObject;
  readonly namespace: string;
}

interface PodTiming {
  readonly label: string;
  readonly action: string;
  readonly planUs: number;
  /** injectPod + certificate issuance + buildBootstrapSecret; only for pods that get a bootstrap Secret */
  readonly fullUs?: number;
}

function podCases(): PodCase[] {
  const cases: PodCase[] = [];
  for (const f of readdirSync(FIXTURES).filter((n) => /^pod-.*\.json$/.test(n)).sort()) {
    const review = readReview(f);
    const pod = review.request.object;
    if (pod) cases.push({ label: f, pod, namespace: review.request.namespace || pod.metadata?.namespace || 'default' });
  }
  for (const f of readdirSync(PODS).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const pod = parseYaml(readFileSync(join(PODS, f), 'utf8')) as KubeObject;
    cases.push({ label: `examples/pods/${f}`, pod, namespace: pod.metadata?.namespace || 'default' });
  }
  return cases;
}

/** Runs `fn` for `ms` after a warm-up of `ms / 2`; returns mean µs per call. */
async function timeLoop(ms: number, fn: () => unknown): Promise<number> {
  const run = async (budget: number): Promise<{ n: number; elapsed: number }> => {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < budget) {
      // batches of 16 between clock reads keep the clock out of the measurement
      for (let i = 0; i < 16; i++) {
        const r = fn();
        if (r instanceof Promise) await r;
      }
      n += 16;
      now = performance.now();
    }
    return { n, elapsed: now - start };
  };
  await run(ms / 2);
  const { n, elapsed } = await run(ms);
  return (elapsed * 1000) / n;
}

async function partA(): Promise<{ timings: PodTiming[]; planMean: number; planInjectedMean: number; fullMean: number }> {
  const view = loadStaticView(CLUSTER);
  const mesh = meshIdentity(SERVE_DEFAULTS.flavor);
  // the options startServer gives the mutate handler with the defaults of `serve`
  const injector: InjectorOptions = { mesh, sidecarMode: SERVE_DEFAULTS.sidecarMode, logLevel: SERVE_DEFAULTS.logLevel };
  const inject = (c: PodCase): InjectionPlan => injectPod({ pod: c.pod, namespace: c.namespace, uuid: randomUUID() }, view, injector);
  // ecPool: false — the key is generated on this thread, so the figure is the whole CPU cost of one certificate
  // (the server's pool only moves key generation to a worker thread).
  const issuer = new BootstrapIssuer(await createMeshCA(mesh.flavor, new Date()), { ecPool: false });

  const cases = podCases();
  // every pod through injectPod a while first, so the first pod timed does not pay for the JIT
  const warmUntil = performance.now() + PART_A_MS;
  while (performance.now() < warmUntil) for (const c of cases) inject(c);
  const timings: PodTiming[] = [];
  for (const c of cases) {
    const probe = inject(c);
    const planUs = await timeLoop(PART_A_MS, () => inject(c));
    let fullUs: number | undefined;
    if ((probe.action === 'inject' || probe.action === 'reidentify') && probe.secret) {
      fullUs = await timeLoop(PART_A_MS, async () => {
        const plan = inject(c) as Extract<InjectionPlan, { action: 'inject' | 'reidentify' }>;
        const s = plan.secret!;
        const cert = await issuer.issue({ commonName: s.commonName, keyType: s.keyType, ...(s.rsaBits ? { rsaBits: s.rsaBits } : {}), deadline: Date.now() + 10_000 });
        return buildBootstrapSecret({
          mesh,
          uuid: s.uuid,
          namespace: s.namespace,
          commonName: s.commonName,
          certificate: { caBundle: cert.caBundle, cert: cert.cert, key: cert.key },
          repoPort: s.repoPort,
          sidecar: { tlsMinProtocolVersion: s.tls.min, tlsMaxProtocolVersion: s.tls.max, cipherSuites: s.tls.cipherSuites ?? null, ecdhCurves: s.tls.ecdhCurves ?? null },
          probes: s.originalHealthProbes,
        });
      });
    }
    const action = probe.action === 'skip' || probe.action === 'deny' || probe.action === 'noop' ? `${probe.action} (${probe.reason})` : probe.action;
    timings.push({ label: c.label, action, planUs, ...(fullUs !== undefined ? { fullUs } : {}) });
  }
  await issuer.close();
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const injected = timings.filter((t) => t.fullUs !== undefined);
  return {
    timings,
    planMean: mean(timings.map((t) => t.planUs)),
    planInjectedMean: mean(injected.map((t) => t.planUs)),
    fullMean: mean(injected.map((t) => t.fullUs!)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Part B: the servers.

// ---------------------------------------------------------------------------------------------------------------
// Report.

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toString() : '–');

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

interface Section {
  readonly md: string;
  readonly errors: number;
}

/** Parts A and B: the injector's cost, and the standalone servers against a bare HTTPS floor. */
async function coreSection(): Promise<Section> {
  const quietA = await waitForQuiet('part A');
  console.log('Part A: injector per-pod cost …');
  const a = await partA();
  const partATable = table(
    ['pod', 'decision', 'injectPod µs', 'plan + certificate + Secret µs'],
    a.timings.map((t) => [t.label, t.action, f1(t.planUs), t.fullUs !== undefined ? f1(t.fullUs) : '–']),
  );
  console.log(partATable + '\n');
  console.log(`injectPod mean over all ${a.timings.length} pods: ${f1(a.planMean)} µs; over injected pods: ${f1(a.planInjectedMean)} µs; with certificate + Secret: ${f1(a.fullMean)} µs\n`);

  const quietB = await waitForQuiet('part B');
  console.log('Part B: servers …');
  const dir = mkdtempSync(join(ROOT, '.bench-'));
  const secretsDir = join(dir, 'secrets');
  const server = await startServer(
    { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: join(dir, 'certs'), secretsDir, clusterState: CLUSTER, logLevel: 'silent' },
    { logger: pino({ level: 'silent' }) },
  );
  // The same server with a handler that admits at once: what the HTTP layer (body reading, parsing,
  // deadline, metrics, logging call) costs by itself, to tell it apart from the validators' cost.
  const noop: AdmissionHandler = { webhook: 'validate', handle: (req) => ({ response: allow(req.uid), decision: 'allowed', reason: 'bench' }), timedOut: (req) => ({ response: allow(req.uid), decision: 'allowed', reason: 'bench' }) };
  const bare = await startServer(
    { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: join(dir, 'certs'), secretsDir, clusterState: CLUSTER, logLevel: 'silent' },
    { logger: pino({ level: 'silent' }), handlers: [noop] },
  );
  const ca = server.tls.ca ?? server.tls.cert;
  const floor = await startFloor(server.tls.cert, server.tls.key);
  const floorPort = (floor.address() as AddressInfo).port;

  const validateBodies = VALIDATE_FIXTURES.map(bodyTemplate);
  const podBodies = [bodyTemplate(MUTATE_FIXTURE)];
  const common = { ca, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: DURATION_MS };
  const scenarios: LoadScenario[] = [
    { ...common, name: 'floor (validate bodies)', port: floorPort, path: '/validate?timeout=10s', bodies: validateBodies, expectPatch: false },
    { ...common, name: 'no-op handler', port: bare.port, path: '/validate?timeout=10s', bodies: validateBodies, expectPatch: false },
    { ...common, name: 'validate', port: server.port, path: '/validate?timeout=10s', bodies: validateBodies, expectPatch: false },
    { ...common, name: 'floor (pod body)', port: floorPort, path: '/mutate-pod-creation?timeout=10s', bodies: podBodies, expectPatch: false },
    { ...common, name: 'mutate', port: server.port, path: '/mutate-pod-creation?timeout=10s', bodies: podBodies, expectPatch: true },
  ];
  const results = new Map<string, LoadResult & ServerSide>();
  let secretsWritten = 0;
  try {
    for (const s of scenarios) {
      const r = await runLoad(s);
      results.set(s.name, r);
      console.log(`  ${r.name.padEnd(24)} ${f0(r.throughput).padStart(6)} req/s  p50 ${f2(r.p50)} ms  p99 ${f2(r.p99)} ms  max ${f2(r.max)} ms  server ${f0(r.cpuUs / r.completed)} µs CPU/req  errors ${r.errors}`);
      for (const e of r.errorSamples) console.log(`    error: ${e}`);
    }
    try {
      secretsWritten = readdirSync(join(secretsDir, 'curl')).length;
    } catch {
      secretsWritten = 0;
    }
  } finally {
    await server.shutdown(1, 0);
    await bare.shutdown(1, 0);
    await new Promise<void>((r) => {
      floor.closeAllConnections();
      floor.close(() => r());
    });
    rmSync(dir, { recursive: true, force: true });
  }

  /** CPU used by neither the server nor the load generator during the window, in % of one core */
  const otherPct = (r: LoadResult & ServerSide): number => Math.max(0, (100 * (r.machineCpuUs - r.cpuUs - r.clientCpuUs)) / (r.seconds * 1e6));
  const noisy = [...results.values()].filter((r) => otherPct(r) > 20).map((r) => r.name);
  const quietNote =
    `Other processes used ${f0(quietA * 100)} % of the machine's cores just before part A and ${f0(quietB * 100)} % just before part B` +
    (noisy.length ? `; during ${noisy.join(', ')} they used over 20 % of a core (column "other processes CPU %"): **those numbers are disturbed, run again on a quiet machine**.` : '; nothing else ran during the measurements.');
  const get = (n: string): LoadResult & ServerSide => results.get(n)!;
  const floorV = get('floor (validate bodies)');
  const floorP = get('floor (pod body)');
  const validate = get('validate');
  const mutate = get('mutate');
  const vRatio = validate.throughput / floorV.throughput;
  const mRatio = mutate.throughput / floorP.throughput;
  const mRatioSmall = mutate.throughput / floorV.throughput;
  const rows = [
    [floorV, floorV],
    [get('no-op handler'), floorV],
    [validate, floorV],
    [floorP, floorP],
    [mutate, floorP],
  ].map(([r, base]) => [
    r!.name,
    f0(r!.throughput),
    f2(r!.throughput / base!.throughput),
    f2(r!.p50),
    f2(r!.p90),
    f2(r!.p99),
    f2(r!.max),
    f0(r!.cpuUs / r!.completed),
    f0(r!.clientCpuUs / r!.completed),
    f0((100 * r!.cpuUs) / (r!.seconds * 1e6)),
    f0(otherPct(r!)),
    String(r!.requests),
    String(r!.errors),
  ]);
  const partBTable = table(
    ['scenario', 'req/s', '× floor', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'server CPU µs/req', 'load gen CPU µs/req', 'server CPU %', 'other processes CPU %', 'timed requests', 'errors'],
    rows,
  );
  const mark = (ok: boolean): string => (ok ? '**met**' : '**MISSED**');
  const targets = [
    `- validate throughput ≥ ${TARGETS.validate} × floor: ${f2(vRatio)} × — ${mark(vRatio >= TARGETS.validate)}`,
    `- mutate throughput (certificate issued and Secret written per request) ≥ ${TARGETS.mutate} × floor: ${f2(mRatio)} × the same-body floor (${f2(mRatioSmall)} × the validate-body floor) — ${mark(mRatio >= TARGETS.mutate && mRatioSmall >= TARGETS.mutate)}`,
    `- validate p99 at ${CONCURRENCY} in flight < ${TARGETS.p99Ms} ms: ${f2(validate.p99)} ms — ${mark(validate.p99 < TARGETS.p99Ms)}`,
    `- mutate p99 at ${CONCURRENCY} in flight < ${TARGETS.p99Ms} ms: ${f2(mutate.p99)} ms — ${mark(mutate.p99 < TARGETS.p99Ms)}`,
  ];
  const totalErrors = [...results.values()].reduce((n, r) => n + r.errors, 0);
  console.log('\n' + partBTable + '\n\n' + targets.join('\n'));
  console.log(`\n${quietNote}`);
  console.log(`bootstrap Secrets written by the mutate scenario (warm-up included): ${secretsWritten}`);

  const md = `## Targets

${targets.join('\n')}

## Part A — injector, per pod (one thread, mean over ${PART_A_MS} ms of calls after warm-up)

${partATable}

Mean \`injectPod\` over all ${a.timings.length} pods: **${f1(a.planMean)} µs**; over the pods that get a sidecar:
**${f1(a.planInjectedMean)} µs**; \`injectPod\` + bootstrap certificate (ECDSA P-256 key generated inline, leaf signed
by a mesh CA from \`createMeshCA\`) + \`buildBootstrapSecret\`: **${f1(a.fullMean)} µs**.

## Part B — servers over keep-alive TLS, ${CONCURRENCY} requests in flight

${partBTable}

${WARMUP_MS / 1000} s warm-up then ${DURATION_MS / 1000} s measured per scenario. \`req/s\` counts answers completed in the
window; latencies are of requests that started and finished inside it. \`× floor\` compares with the floor run on the
same bodies (validate: \`egress-create-http.json\` and \`plugin-create.json\` alternately; mutate:
\`pod-create-from-replicaset-v1.json\`), each request with a fresh uid. The mutate scenario issued a certificate and
wrote a bootstrap Secret file for every request (${secretsWritten} Secrets, warm-up included, in a temporary directory
deleted afterwards). The \`no-op handler\` row is the real server's HTTP layer (the node:http listener, body reading, \`parseReview\`,
deadline, metrics, the logging call) with a handler that admits at once: the difference between it and \`validate\` is
what validation costs, the difference between it and the floor is what the HTTP layer costs. \`server CPU µs/req\` is
the server process's CPU time (all its threads, including the key-pool worker) in the window divided by the answers
completed in it; \`load gen CPU µs/req\` the same for the load generator; \`other processes CPU %\` is what the rest of
the machine used meanwhile (% of one core; should be near 0).

## Method

- Servers: the floor is a bare \`node:https\` server with the same ECDSA P-256 serving certificate that reads the body,
  \`JSON.parse\`s it and answers \`{"response":{"uid":…,"allowed":true}}\`; the real server is \`startServer\` with the
  defaults of \`serve\` (port 0, 127.0.0.1, certificates and Secrets in a temporary directory, cluster state from
  \`examples/cluster\`, a silent pino logger). Both run in the bench's main process, one under load at a time (the
  other is idle).
- Load generator: a separate Node process (\`bench/loadgen.ts\`, forked per scenario) so that it never shares an event
  loop with the server under test; the two processes share the machine's ${os.cpus().length} cores, as an API server
  and a webhook would on a small node. It keeps exactly ${CONCURRENCY} requests in flight through one
  \`https.Agent\` (keep-alive, maxSockets ${CONCURRENCY}) and checks every answer: HTTP 200, \`response.uid\` equal to
  the request's, \`allowed: true\`, and a patch for mutate. Any other answer or a transport error is an error and fails
  the run.
- Part A runs before the servers start, in the main process, with nothing else running.
`;
  return { md: `- ${quietNote}\n\n${md}`, errors: totalErrors };
}

/** Part C: live mode against the fake API server (bench/live.ts). */
async function liveSection(): Promise<Section> {
  await waitForQuiet('part C');
  console.log('Part C: live mode against the fake API server …');
  const r = await liveBench({ latencies: [0, 5], concurrencies: [1, CONCURRENCY], warmupMs: WARMUP_MS, durationMs: DURATION_MS, pacedRate: LIVE_PACED_RATE });
  const rows = r.points.map((p) => [
    `${p.latencyMs} ms`,
    `${p.concurrency}${p.ratePerSecond ? `, paced to ${p.ratePerSecond}/s` : ''}`,
    f0(p.load.throughput),
    f2(p.load.p50),
    f2(p.load.p99),
    f0(p.serverCpuPerPodUs),
    f2(p.apiRequestsPerPod),
    f2(p.secretCreatesPerPod),
    f2(p.handshakesPerPod),
    f0(p.secretDelay.p50 * 1000),
    f0(p.secretDelay.p99 * 1000),
    `${p.secrets}/${p.pods}`,
    String(p.load.errors),
  ]);
  const t = table(['API latency', 'in flight', 'pods/s', 'admission p50 ms', 'admission p99 ms', 'server CPU µs/pod', 'API requests/pod', 'Secret creates/pod', 'TLS handshakes/pod', 'Secret after pod p50 ms', 'p99 ms', 'Secrets/pods', 'errors'], rows);
  console.log(t);
  const at = (latencyMs: number, concurrency: number): LivePoint => r.points.find((p) => p.latencyMs === latencyMs && p.concurrency === concurrency && !p.ratePerSecond)!;
  const paced = r.points.find((p) => p.ratePerSecond);
  const busy = at(5, CONCURRENCY);
  const only = (latencyMs: number): LoadResult => r.admissionOnly.find((o) => o.latencyMs === latencyMs)!.load;
  const ri = r.reinvocation;
  const mark = (ok: boolean): string => (ok ? '**met**' : '**MISSED**');
  const targets = [
    `- server CPU per injected pod ≤ 1.5 ms (admission, certificate, Secret create, its API request) at ${CONCURRENCY} in flight, API latency 5 ms: ${f0(busy.serverCpuPerPodUs)} µs — ${mark(busy.serverCpuPerPodUs <= 1500)} (one at a time: ${f0(at(5, 1).serverCpuPerPodUs)} µs, nothing amortised)`,
    `- admission p50 independent of the API latency (one at a time, admission alone): ${f2(only(0).p50)} ms at 0 ms, ${f2(only(5).p50)} ms at 5 ms — ${mark(Math.abs(only(5).p50 - only(0).p50) < 0.25)}; with the Secret work of the previous pods beside it: ${f2(at(0, 1).load.p50)} / ${f2(at(5, 1).load.p50)} ms (the same CPU, not a wait)`,
    `- API requests per injected pod = 1: ${f2(busy.apiRequestsPerPod)} (all the server's requests but watches, Lease renewals and caBundle checks included) — ${mark(busy.apiRequestsPerPod < 1.05)}`,
    `- TLS handshakes to the API server per pod ≈ 0: ${f2(busy.handshakesPerPod)} (the load generator's own connections included) — ${mark(busy.handshakesPerPod < 0.1)}`,
    `- Secret within 1 s of its pod (p99): ${f0(busy.secretDelay.p99 * 1000)} ms — ${mark(busy.secretDelay.p99 < 1)}`,
  ];
  const pacedNote = paced
    ? `\n**Paced like a real API server.** The last row sends the pods at ${paced.ratePerSecond} a second, about the pace a real kube-apiserver admits them at ${CONCURRENCY} in flight on this machine (part H): ${f0(paced.serverCpuPerPodUs)} µs of server CPU per pod, against ${f0(busy.serverCpuPerPodUs)} µs flat out. At a low pace every pod wakes the process for its admission, its watch event and its Secret's answer separately, and each wake-up finds caches cold: part H's (a) compares with this row, not with the flat-out one. What remains between this row and part H's (a) is what the fake does not reproduce: a machine shared with kube-apiserver, etcd and kube-controller-manager, the server logging at info (silent here), and the real watch events (a stored pod with its managedFields, ~7.5 KiB).\n`
    : '';
  const md = `## Part C — live mode against the fake API server

${targets.join('\n')}

${t}
${pacedNote}
Each row: ${WARMUP_MS / 1000} s warm-up, then ${DURATION_MS / 1000} s measured. The fake API server runs in its own
process over HTTPS with the given latency added to every request (\`bench/fake-api-child.ts\`); the load generator plays
the API server's part: it sends \`${MUTATE_FIXTURE}\` to \`/mutate-pod-creation\`, then applies the patch and stores
the pod, as an API server does once admission is over (that store is not in the admission latency). The server, in
this process, sees the pod through its watch and creates the bootstrap Secret. \`server CPU µs/pod\` is this process's
CPU in the window over the pods admitted in it: admission, the watch event, the certificate and the Secret's create.
\`API requests/pod\` counts every request the server made during the run except watches; \`Secret after pod\` is the
time between the pod's create and its Secret's create as the API server saw them.

**Re-invocation.** A second call for a pod already injected (what \`reinvocationPolicy: IfNeeded\` would add for every
pod, since the ServiceAccount admission plugin changes every pod after the webhook) can only answer no-op; at
${CONCURRENCY} in flight it cost ${f0(ri.cpuUs / ri.completed)} µs of server CPU and a round trip of ${f2(ri.p50)} ms
(p50) / ${f2(ri.p99)} ms (p99), for nothing: the configuration says \`reinvocationPolicy: Never\`.
`;
  return { md, errors: r.points.reduce((n, p) => n + p.load.errors, 0) + r.admissionOnly.reduce((n, o) => n + o.load.errors, 0) + ri.errors };
}

/** Part D: how long the command line takes to start (the offline commands must not load the server). */
async function cliSection(): Promise<Section> {
  // a folder that is one consistent change (exit 0): the seed folders that hold variants of one object are refused
  const file = join(ROOT, 'examples', 'seeds', '003-plugin-iam');
  const time = (args: string[]): number => {
    const runs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), ...args], { cwd: ROOT, encoding: 'utf8' });
      if (r.status !== 0 && !args.includes('--help')) throw new Error(`mesh-admission ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
      runs.push(performance.now() - t);
    }
    return runs.sort((x, y) => x - y)[3]!;
  };
  const quiet = await waitForQuiet('part D');
  const rows = [
    ['`validate --help`', time(['validate', '--help'])],
    ['`validate -f examples/seeds/003-plugin-iam`', time(['validate', '-f', file])],
    ['`explain --help`', time(['explain', '--help'])],
  ] as const;
  const t = table(['command', 'wall time ms (median of 7)'], rows.map(([c, ms]) => [c, f0(ms)]));
  console.log(t);
  return {
    md: `## Part D — command-line start-up\n\nTarget: \`validate --help\` and \`validate -f\` of one file under 500 ms.\n\n${t}\n\nRun from \`dist/\` (built by \`npm ci\`), a new \`node\` process each time. Other processes used ${f0(quiet * 100)} % of the machine's cores just before.\n`,
    errors: 0,
  };
}

/** Part H: the live path through a real control plane (bench/apiserver.ts), when KUBEBUILDER_ASSETS is set. */
async function apiserverPart(): Promise<Section> {
  await waitForQuiet('part H');
  return apiserverSection();
}

/** Part F: what one per-pod certificate costs with each way of making it (bench/certs.ts). */
async function certsPart(): Promise<Section> {
  await waitForQuiet('part F');
  return certsSection();
}

const PARTS: Record<string, () => Promise<Section>> = { core: coreSection, live: liveSection, cli: cliSection, scale: scaleSection, certs: certsPart, yaml: yamlSection, apiserver: apiserverPart };

/** A section of RESULTS.md, between markers, so that a run of some parts keeps the others' last results. */
const sectionOf = (text: string, part: string): string | undefined => {
  const m = new RegExp(`<!-- part: ${part} -->\\n([\\s\\S]*?)<!-- end: ${part} -->`).exec(text);
  return m?.[1];
};

async function main(): Promise<void> {
  const started = new Date();
  const machine = {
    cpu: `${os.cpus()[0]?.model.trim() ?? 'unknown'} × ${os.cpus().length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
  console.log(`mesh-admission bench — ${started.toISOString()}\n${machine.cpu}, ${machine.memory}, node ${machine.node}, ${machine.platform}\n`);
  const wanted = (process.env.BENCH_PARTS ?? Object.keys(PARTS).join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  const unknown = wanted.filter((p) => !(p in PARTS));
  if (unknown.length) throw new Error(`BENCH_PARTS: unknown part(s) ${unknown.join(', ')}; known: ${Object.keys(PARTS).join(', ')}`);
  let previous = '';
  try {
    previous = readFileSync(join(BENCH_DIR, 'RESULTS.md'), 'utf8');
  } catch {
    previous = '';
  }
  let errors = 0;
  const sections: string[] = [];
  for (const part of Object.keys(PARTS)) {
    let body: string;
    if (wanted.includes(part)) {
      const r = await PARTS[part]!();
      errors += r.errors;
      body = `_Run ${started.toISOString()} on ${machine.cpu}, ${machine.memory} RAM, node ${machine.node}._\n\n${r.md}`;
    } else body = sectionOf(previous, part) ?? `_Not run yet: \`BENCH_PARTS=${part} npm run bench\`._\n`;
    sections.push(`<!-- part: ${part} -->\n${body.trimEnd()}\n<!-- end: ${part} -->`);
  }
  const md = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts); see bench/README.md for the method. Numbers are for the machine named in
each part only. \`BENCH_PARTS=core,live,cli\` runs some parts and keeps the others' last results.

- last run: ${started.toISOString()}, parts ${wanted.join(', ')}
- machine: ${machine.cpu}, ${machine.memory} RAM, ${machine.platform}
- node: ${machine.node}
- errors in this run: ${errors}${errors ? ' — **the run failed**' : ''}

${sections.join('\n\n')}
`;
  writeFileSync(join(BENCH_DIR, 'RESULTS.md'), md);
  console.log(`\nwrote ${join(BENCH_DIR, 'RESULTS.md')}`);
  if (errors > 0) {
    console.error(`${errors} request(s) failed`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
