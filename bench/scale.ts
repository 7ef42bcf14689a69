// Part E of `npm run bench`: what an admission decision costs as the server's cluster view grows (issue "Admission at
// cluster scale"). The state of size N comes from bench/scale-state.ts; the server runs from dist/ in a CHILD process
// (so its RSS is its own), standalone (`serve --cluster-state DIR`) for every N and live (`serve --kubeconfig`,
// against the fake API server in a process of its own) for the smallest and largest N. The load generator is a third
// process (bench/loadgen.ts): latencies and throughput are measured there; the server's CPU is not measured here.
// Also `mesh-admission validate -f` over a generated folder of 500 and 5,000 objects. See bench/README.md.
import { spawn, spawnSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { FakeApiReady, FakeApiStart } from './fake-api-child.js';
import { BENCH_DIR, machineBusyShare, ROOT, runLoad } from './lib.js';
import type { LoadResult, LoadScenario } from './loadgen.js';
import { requestTemplate, scaleRequests, scaleSize, scaleState, scaleStateOfSize, writeStateFolder, writeStateJson, type ScaleRequest } from './scale-state.js';

// ---------------------------------------------------------------------------------------------------------------
// Knobs

const envList = (name: string, fallback: string): number[] =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: "${s}" is not an integer ≥ 0`);
      return n;
    });
const envNumber = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: must be a number ≥ 0`);
  return v;
};

/** the sizes measured standalone */
const NS = [...new Set(envList('BENCH_SCALE_NS', '0,1000,3000,10000'))].sort((a, b) => a - b);
/** measured time per request kind, one at a time (after BENCH_SCALE_WARMUP_MS) */
const DURATION_MS = envNumber('BENCH_SCALE_MS', 2000);
const WARMUP_MS = envNumber('BENCH_SCALE_WARMUP_MS', 300);
/** the throughput run (Egress, 16 in flight) */
const LOAD_MS = envNumber('BENCH_SCALE_LOAD_MS', 3000);
const LOAD_WARMUP_MS = envNumber('BENCH_SCALE_LOAD_WARMUP_MS', 1000);
const CONCURRENCY = 16;
/** files the standalone state is spread over */
const STATE_FILES = envNumber('BENCH_SCALE_FILES', 200);
/** the sizes measured live: by default the smallest and the largest standalone size */
const LIVE_NS = [...new Set(envList('BENCH_SCALE_LIVE_NS', NS.length ? `${NS[0]},${NS[NS.length - 1]}` : ''))].sort((a, b) => a - b);
/** `validate -f` inputs as objects:files */
const CLI_INPUTS = (process.env.BENCH_SCALE_CLI ?? '500:20,5000:200')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((s) => {
    const [objects, files] = s.split(':').map(Number);
    if (!Number.isInteger(objects) || !Number.isInteger(files) || objects! < 1 || files! < 1) throw new Error(`BENCH_SCALE_CLI: "${s}" is not objects:files`);
    return { objects: objects!, files: files! };
  })
  .sort((a, b) => a.objects - b.objects);
/** the state whose `validate -f` time is the command's fixed cost */
const FIXED_N = 10;
const CLI_RUNS = Math.max(1, Math.round(envNumber('BENCH_SCALE_CLI_RUNS', 3)));
const QUIET_WAIT_S = envNumber('BENCH_QUIET_WAIT_S', 30);

/** The issue's targets. */
const TARGETS = { n: 10_000, p50Ms: 1, p99Ms: 5, throughputRatio: 0.8, readyS: 3, rssMb: 200, cliObjects: 5000, cliFiles: 200, cliS: 2, linearity: 1.5 } as const;

/** the server and CLI measured: dist/ (built from this tree by `npm run build`), or another build's dist folder */
const DIST = process.env.BENCH_SCALE_DIST ? resolve(process.env.BENCH_SCALE_DIST) : join(ROOT, 'dist');
const MAIN = join(DIST, 'cli', 'main.js');
/** A name the live serving certificate covers: the API server calls the webhook through its Service. */
const SERVICE_NAME = 'mesh-admission.fsm-system.svc';
const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const mark = (ok: boolean): string => (ok ? '**met**' : '**MISSED**');
const table = (header: string[], rows: string[][]): string =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

// ---------------------------------------------------------------------------------------------------------------
// The server in a child process

interface ServerChild {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  /** spawn → /readyz 200, seconds */
  readonly readyS: number;
  readonly tail: string[];
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;
/** Never leave a server behind, whatever happens to the bench. */
function track(proc: ChildProcess): void {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function httpStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Starts `mesh-admission serve …` from dist/; resolves once /readyz answers 200. */
async function startServerChild(args: readonly string[], what: string, timeoutMs = 180_000): Promise<ServerChild> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--metrics-port', '0', '--health-port', '0', '--host', '127.0.0.1', '--log-level', 'info', '--shutdown-delay-seconds', '0', '--shutdown-grace-seconds', '2', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
    if (tail.length > 30) tail.shift();
  };
  // stdout is read to the end (one JSON line per admission): a full pipe would block the server
  const ports = new Promise<{ port: number; metricsPort: number; healthPort: number }>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let entry: { msg?: string; port?: number; metricsPort?: number; healthPort?: number; level?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        keep(line);
        return;
      }
      if (entry.msg === 'mesh-admission serving' && typeof entry.port === 'number' && typeof entry.metricsPort === 'number' && typeof entry.healthPort === 'number')
        resolve({ port: entry.port, metricsPort: entry.metricsPort, healthPort: entry.healthPort });
      else if ((entry.level ?? 0) >= 40 || entry.msg !== 'admission') keep(line);
    });
    createInterface({ input: proc.stderr! }).on('line', keep);
    proc.once('exit', (code, signal) => reject(new Error(`${what}: the server exited (${code ?? signal}) before serving:\n${tail.join('\n')}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const { port, metricsPort, healthPort } = await Promise.race([
      ports,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not serving after ${timeoutMs / 1000} s:\n${tail.join('\n')}`)), timeoutMs))),
    ]);
    const until = t0 + timeoutMs;
    for (;;) {
      if ((await httpStatus(`http://127.0.0.1:${healthPort}/readyz`)) === 200) break;
      if (proc.exitCode !== null) throw new Error(`${what}: the server exited (${proc.exitCode}) before ready:\n${tail.join('\n')}`);
      if (performance.now() > until) throw new Error(`${what}: not ready after ${timeoutMs / 1000} s:\n${tail.join('\n')}`);
      await sleep(10);
    }
    return { proc, port, metricsPort, readyS: (performance.now() - t0) / 1000, tail };
  } catch (err) {
    await stopChild(proc);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM (the server drains and exits 0), SIGKILL after 15 s. */
async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Clock ticks per second of /proc/<pid>/stat (Linux); undefined elsewhere. */
const CLK_TCK = ((): number | undefined => {
  if (process.platform !== 'linux') return undefined;
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU time (user + system, all threads) a process has used so far, µs; NaN where /proc is not available. */
function processCpuUs(pid: number | undefined): number {
  if (pid === undefined || CLK_TCK === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is the first, utime the 12th, stime the 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * One scenario, with the server's CPU read from /proc around it: the load generator's window marks reach this
 * process, not the server's, so the CPU is taken over the whole scenario (warm-up included) and divided by every
 * answer it got (timed or not). The server is otherwise idle, so this is its CPU per request.
 */
async function load(server: ServerChild, scenario: LoadScenario): Promise<Measured> {
  const before = processCpuUs(server.proc.pid);
  const r = await runLoad(scenario);
  const cpuUs = processCpuUs(server.proc.pid) - before;
  return { ...r, serverCpuUsPerReq: cpuUs / (r.requests + r.unmeasured + r.errors) };
}

type Measured = LoadResult & { readonly serverCpuUsPerReq: number };

interface Memory {
  readonly rssMb: number;
  readonly heapUsedMb: number;
}

async function memoryOf(metricsPort: number): Promise<Memory> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const metric = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) / MB : NaN;
  };
  return { rssMb: metric('process_resident_memory_bytes'), heapUsedMb: metric('nodejs_heap_size_used_bytes') };
}

// ---------------------------------------------------------------------------------------------------------------
// The fake API server in its own process (bench/fake-api-child.ts)

interface FakeApi {
  readonly ready: FakeApiReady;
  close(): Promise<void>;
}

function startFakeApi(start: FakeApiStart): Promise<FakeApi> {
  const child = fork(join(BENCH_DIR, 'fake-api-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child);
  return new Promise((resolve, reject) => {
    child.once('message', (ready: FakeApiReady) =>
      resolve({
        ready,
        close: () =>
          new Promise<void>((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.send({ cmd: 'close' });
          }),
      }),
    );
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`fake API server exited with ${code}`)));
    child.send(start);
  });
}

/** The CA of the live serving certificate, from its Secret (`ca.crt`), read as the API server's own client would. */
function servingCaFromApi(api: FakeApiReady): Promise<string> {
  const url = new URL(`${api.url}/api/v1/namespaces/fsm-system/secrets/fsm-admission-tls`);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: url.hostname, port: url.port, path: url.pathname, ca: api.ca, headers: { authorization: 'Bearer apiserver' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`reading the serving Secret: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
        const ca = (JSON.parse(body) as { data?: Record<string, string> }).data?.['ca.crt'];
        if (!ca) return reject(new Error('the serving Secret has no ca.crt'));
        resolve(Buffer.from(ca, 'base64').toString('utf8'));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring one server

interface ModePoint {
  readonly n: number;
  readonly objects: number;
  readonly readyS: number;
  readonly memReady: Memory;
  readonly memAfter: Memory;
  /** one at a time, by request label */
  readonly single: Map<string, Measured>;
  /** Egress validation, CONCURRENCY in flight */
  readonly busy?: Measured;
  readonly errors: number;
  /** share of the machine's cores other processes used just before the server started (0..1) */
  readonly othersBefore: number;
}

/** set when the section runs (reads the pod fixture) */
let REQUESTS: ScaleRequest[] = [];

function report(r: Measured): void {
  console.log(`    ${r.name.padEnd(44)} ${f0(r.throughput).padStart(6)} req/s  p50 ${f2(r.p50)} ms  p99 ${f2(r.p99)} ms  max ${f2(r.max)} ms  server ${f0(r.serverCpuUsPerReq)} µs CPU/req  errors ${r.errors}`);
  for (const e of r.errorSamples) console.log(`      error: ${e}`);
}

async function measure(
  server: ServerChild,
  opts: { n: number; objects: number; ca: string; servername?: string; requests: readonly ScaleRequest[]; busy: boolean; mode: string; othersBefore: number },
): Promise<ModePoint> {
  const memReady = await memoryOf(server.metricsPort);
  console.log(`    ready in ${f2(server.readyS)} s, RSS ${f1(memReady.rssMb)} MB, heap used ${f1(memReady.heapUsedMb)} MB`);
  const base = { port: server.port, ca: opts.ca, ...(opts.servername ? { servername: opts.servername } : {}) };
  const single = new Map<string, Measured>();
  let errors = 0;
  for (const r of opts.requests) {
    const scenario: LoadScenario = {
      ...base,
      name: `${opts.mode} N=${opts.n} ${r.label}`,
      path: `${r.path}?timeout=10s`,
      bodies: [requestTemplate(r)],
      concurrency: 1,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
      expectPatch: r.path === '/mutate-pod-creation',
    };
    const res = await load(server, scenario);
    report(res);
    single.set(r.label, res);
    errors += res.errors;
  }
  let busy: Measured | undefined;
  if (opts.busy) {
    const egress = opts.requests.find((r) => r.label === 'Egress')!;
    busy = await load(server, {
      ...base,
      name: `${opts.mode} N=${opts.n} Egress, ${CONCURRENCY} in flight`,
      path: `${egress.path}?timeout=10s`,
      bodies: [requestTemplate(egress)],
      concurrency: CONCURRENCY,
      warmupMs: LOAD_WARMUP_MS,
      durationMs: LOAD_MS,
      expectPatch: false,
    });
    report(busy);
    errors += busy.errors;
  }
  const memAfter = await memoryOf(server.metricsPort);
  console.log(`    after the load: RSS ${f1(memAfter.rssMb)} MB, heap used ${f1(memAfter.heapUsedMb)} MB`);
  return { n: opts.n, objects: opts.objects, readyS: server.readyS, memReady, memAfter, single, ...(busy ? { busy } : {}), errors, othersBefore: opts.othersBefore };
}

// ---------------------------------------------------------------------------------------------------------------
// The modes

async function waitForQuiet(what: string): Promise<number> {
  const until = Date.now() + QUIET_WAIT_S * 1000;
  let share = await machineBusyShare();
  while (share >= 0.15 && Date.now() < until) {
    console.log(`  the machine is busy (${Math.round(share * 100)} % of its cores used by other processes); waiting before ${what} …`);
    share = await machineBusyShare(2000);
  }
  return share;
}

async function standalone(work: string): Promise<{ points: ModePoint[]; primeS: number }> {
  const certsDir = join(work, 'certs');
  const ca = (): string => readFileSync(join(certsDir, 'ca.crt'), 'utf8');
  // A first start, not measured: it generates the serving CA and certificate and the mesh CA into certsDir, which
  // every measured start then reuses (as a restarted server does), so time to ready is the view's and the process's.
  const primeDir = join(work, 'prime');
  writeStateFolder(scaleState(0), primeDir, 1);
  const tPrime = performance.now();
  const prime = await startServerChild(['--cluster-state', primeDir, '--certs-dir', certsDir, '--secrets-dir', join(work, 'secrets-prime')], 'priming start');
  await stopChild(prime.proc);
  const primeS = (performance.now() - tPrime) / 1000;
  console.log(`  priming start (certificates generated): ${f2(primeS)} s`);

  const points: ModePoint[] = [];
  for (const n of NS) {
    const stateDir = join(work, `state-${n}`);
    const t = performance.now();
    const objects = scaleState(n);
    writeStateFolder(objects, stateDir, STATE_FILES);
    console.log(`  standalone N=${n}: ${objects.length.toLocaleString('en-US')} objects in ${Math.min(STATE_FILES, objects.length)} files (generated and written in ${f1((performance.now() - t) / 1000)} s)`);
    const othersBefore = await waitForQuiet(`standalone N=${n}`);
    const server = await startServerChild(['--cluster-state', stateDir, '--certs-dir', certsDir, '--secrets-dir', join(work, `secrets-${n}`)], `standalone N=${n}`);
    try {
      points.push(await measure(server, { n, objects: objects.length, ca: ca(), requests: REQUESTS, busy: true, mode: 'standalone', othersBefore }));
    } finally {
      await stopChild(server.proc);
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(join(work, `secrets-${n}`), { recursive: true, force: true });
    }
  }
  return { points, primeS };
}

async function live(work: string): Promise<ModePoint[]> {
  const points: ModePoint[] = [];
  for (const n of LIVE_NS) {
    const objects = scaleState(n);
    const objectsFile = join(work, `live-${n}.json`);
    writeStateJson(objects, objectsFile);
    console.log(`  live N=${n}: ${objects.length.toLocaleString('en-US')} objects in the fake API server`);
    const t = performance.now();
    const api = await startFakeApi({ latencyMs: 0, state: [], objectsFile });
    console.log(`    fake API server up in ${f1((performance.now() - t) / 1000)} s`);
    try {
      const kubeconfig = join(work, `kubeconfig-${n}`);
      writeFileSync(kubeconfig, api.ready.kubeconfigs.server);
      const othersBefore = await waitForQuiet(`live N=${n}`);
      // --insecure-metrics: the bench reads the server's RSS from /metrics without a token (the fake API server has no TokenReview)
      const server = await startServerChild(['--kubeconfig', kubeconfig, '--insecure-metrics', '--certs-dir', join(work, `live-certs-${n}`), '--secrets-dir', join(work, `live-secrets-${n}`)], `live N=${n}`);
      try {
        const ca = await servingCaFromApi(api.ready);
        points.push(await measure(server, { n, objects: objects.length, ca, servername: SERVICE_NAME, requests: REQUESTS, busy: false, mode: 'live', othersBefore }));
      } finally {
        await stopChild(server.proc);
      }
    } finally {
      await api.close();
      rmSync(objectsFile, { force: true });
    }
  }
  return points;
}

interface CliPoint {
  readonly objects: number;
  readonly files: number;
  readonly n: number;
  readonly medianMs: number;
  readonly runsMs: number[];
  readonly exit: number | null;
}

function timeValidate(dir: string): { medianMs: number; runsMs: number[]; exit: number | null; stderr: string } {
  const runsMs: number[] = [];
  let exit: number | null = 0;
  let stderr = '';
  for (let i = 0; i < CLI_RUNS; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [MAIN, 'validate', '-f', dir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 64 * MB });
    runsMs.push(performance.now() - t);
    if (r.status !== 0) {
      exit = r.status;
      stderr = (r.stderr ?? '').slice(0, 500);
    }
  }
  const sorted = [...runsMs].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)]!, runsMs, exit, stderr };
}

async function cli(work: string): Promise<{ fixed: CliPoint; points: CliPoint[]; errors: number; othersBefore: number }> {
  const othersBefore = await waitForQuiet('validate -f');
  let errors = 0;
  const run = (objects: ReturnType<typeof scaleState>, files: number, n: number, label: string): CliPoint => {
    const dir = join(work, `cli-${objects.length}`);
    writeStateFolder(objects, dir, files);
    const r = timeValidate(dir);
    rmSync(dir, { recursive: true, force: true });
    console.log(`  validate -f ${label}: median ${f0(r.medianMs)} ms (runs ${r.runsMs.map(f0).join(', ')}), exit ${r.exit}`);
    // every generated object is admissible: exit 1 (a denial) or 2 means the state or the command is broken
    if (r.exit !== 0) {
      errors++;
      console.log(`    validate -f exited ${r.exit}: ${r.stderr}`);
    }
    return { objects: objects.length, files, n, medianMs: r.medianMs, runsMs: r.runsMs, exit: r.exit };
  };
  // the fixed cost: a state with one object of every generated kind (N = 10, one file): node start-up, module
  // loading (the RE2 engine included), the MeshConfig
  const fixed = run(scaleState(FIXED_N), 1, FIXED_N, `${scaleSize(FIXED_N)} objects in 1 file (fixed cost)`);
  const points = CLI_INPUTS.map(({ objects, files }) => {
    const s = scaleStateOfSize(objects);
    return run(s.objects, files, s.n, `${objects} objects in ${files} files`);
  });
  return { fixed, points, errors, othersBefore };
}

// ---------------------------------------------------------------------------------------------------------------
// The section

/** The git commit the measured dist was built from, when it is a git checkout or an export with a BUILD-COMMIT file. */
function serverBuild(): string {
  const root = join(DIST, '..');
  try {
    const line = readFileSync(join(root, 'BUILD-COMMIT'), 'utf8').trim().split('\n')[0] ?? '';
    return ` (built from ${/^[0-9a-f]{40}$/.test(line) ? `commit ${line.slice(0, 12)}` : line.slice(0, 120)})`;
  } catch {
    const r = spawnSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' });
    if (r.status !== 0) return '';
    const dirty = spawnSync('git', ['-C', root, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout.trim();
    return ` (commit ${r.stdout.trim()}${dirty ? ', with uncommitted changes under src/' : ''})`;
  }
}

export async function scaleSection(): Promise<{ md: string; errors: number }> {
  console.log('Part E: admission at cluster scale …');
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build it first (npm run build)`);
  REQUESTS = scaleRequests();
  const work = mkdtempSync(join(ROOT, '.bench-scale-'));
  let sa: Awaited<ReturnType<typeof standalone>>;
  let lv: ModePoint[];
  let cl: Awaited<ReturnType<typeof cli>>;
  try {
    sa = await standalone(work);
    lv = await live(work);
    cl = await cli(work);
  } finally {
    await Promise.all([...children].map((c) => stopChild(c)));
    rmSync(work, { recursive: true, force: true });
  }
  const errors = sa.points.reduce((e, p) => e + p.errors, 0) + lv.reduce((e, p) => e + p.errors, 0) + cl.errors;

  // ---- targets, at N = 10,000 (or the largest N run), against the smallest N (N = 0 by default) ----
  const at = (points: readonly ModePoint[], n: number): ModePoint | undefined => points.find((p) => p.n === n) ?? points[points.length - 1];
  const tN = NS.includes(TARGETS.n) ? TARGETS.n : NS[NS.length - 1]!;
  const nNote = tN === TARGETS.n ? '' : ` (N = ${TARGETS.n.toLocaleString('en-US')} was not run: at N = ${tN.toLocaleString('en-US')})`;
  const top = at(sa.points, tN)!;
  const bottom = sa.points[0]!;
  const liveTop = lv.length ? at(lv, LIVE_NS.includes(TARGETS.n) ? TARGETS.n : LIVE_NS[LIVE_NS.length - 1]!) : undefined;
  const validations = REQUESTS.filter((r) => r.path === '/validate').map((r) => r.label);
  const worst = (p: ModePoint, q: 'p50' | 'p99'): { label: string; ms: number } =>
    validations.map((label) => ({ label, ms: p.single.get(label)![q] })).reduce((a, b) => (b.ms > a.ms ? b : a));
  const over = (p: ModePoint, q: 'p50' | 'p99', limit: number): string[] => validations.filter((l) => !(p.single.get(l)![q] <= limit));
  const kindLine = (p: ModePoint, mode: string): string => {
    const w50 = worst(p, 'p50');
    const w99 = worst(p, 'p99');
    const missed = [...new Set([...over(p, 'p50', TARGETS.p50Ms), ...over(p, 'p99', TARGETS.p99Ms)])];
    return `- ${mode}, N = ${p.n.toLocaleString('en-US')}: every kind's validation p50 ≤ ${TARGETS.p50Ms} ms and p99 ≤ ${TARGETS.p99Ms} ms one at a time: worst p50 ${f2(w50.ms)} ms (${w50.label}), worst p99 ${f2(w99.ms)} ms (${w99.label}) — ${mark(missed.length === 0)}${missed.length ? ` (over: ${missed.join(', ')})` : ''}`;
  };
  const busyRatio = top.busy && bottom.busy ? top.busy.throughput / bottom.busy.throughput : NaN;
  const pod = 'Pod (mutate)';
  const podRatio = top.single.get(pod)!.throughput / bottom.single.get(pod)!.throughput;
  const rssLine = (p: ModePoint, ref: ModePoint | undefined, mode: string): string =>
    `${mode} after ready ${f0(p.memReady.rssMb)} MB — ${mark(p.memReady.rssMb <= TARGETS.rssMb)}, after the load ${f0(p.memAfter.rssMb)} MB — ${mark(p.memAfter.rssMb <= TARGETS.rssMb)}` +
    (ref && ref !== p ? ` (N = ${ref.n.toLocaleString('en-US')}: ${f0(ref.memReady.rssMb)} / ${f0(ref.memAfter.rssMb)} MB)` : '');
  const bigCli = cl.points.find((p) => p.objects === TARGETS.cliObjects && p.files === TARGETS.cliFiles) ?? cl.points[cl.points.length - 1];
  const perObject = (p: CliPoint): number => (p.medianMs - cl.fixed.medianMs) / (p.objects - cl.fixed.objects);
  const smallCli = cl.points[0];
  const linear = bigCli && smallCli && bigCli !== smallCli ? perObject(bigCli) / perObject(smallCli) : NaN;
  const vsBottom = `the N = ${bottom.n.toLocaleString('en-US')} view's`;
  const targets = [
    kindLine(top, 'standalone') + nNote,
    ...(liveTop ? [kindLine(liveTop, 'live')] : []),
    `- standalone, N = ${tN.toLocaleString('en-US')}: Egress validation throughput at ${CONCURRENCY} in flight ≥ ${TARGETS.throughputRatio} × ${vsBottom}: ${f0(top.busy?.throughput ?? NaN)} vs ${f0(bottom.busy?.throughput ?? NaN)} req/s = ${f2(busyRatio)} × (server CPU ${f0(top.busy?.serverCpuUsPerReq ?? NaN)} vs ${f0(bottom.busy?.serverCpuUsPerReq ?? NaN)} µs/req) — ${mark(busyRatio >= TARGETS.throughputRatio)}`,
    `- standalone, N = ${tN.toLocaleString('en-US')}: pod mutation unaffected by N (throughput one at a time ≥ ${TARGETS.throughputRatio} × ${vsBottom}): ${f0(top.single.get(pod)!.throughput)} vs ${f0(bottom.single.get(pod)!.throughput)} req/s = ${f2(podRatio)} ×, p50 ${f2(top.single.get(pod)!.p50)} vs ${f2(bottom.single.get(pod)!.p50)} ms, server CPU ${f0(top.single.get(pod)!.serverCpuUsPerReq)} vs ${f0(bottom.single.get(pod)!.serverCpuUsPerReq)} µs/req — ${mark(podRatio >= TARGETS.throughputRatio)}`,
    `- time to ready ≤ ${TARGETS.readyS} s at N = ${tN.toLocaleString('en-US')}: standalone ${f2(top.readyS)} s — ${mark(top.readyS <= TARGETS.readyS)}${liveTop ? `; live (N = ${liveTop.n.toLocaleString('en-US')}) ${f2(liveTop.readyS)} s — ${mark(liveTop.readyS <= TARGETS.readyS)}` : ''}`,
    `- RSS ≤ ${TARGETS.rssMb} MB with the N = ${tN.toLocaleString('en-US')} state: ${rssLine(top, bottom, 'standalone')}${liveTop ? `; ${rssLine(liveTop, lv[0], `live (N = ${liveTop.n.toLocaleString('en-US')})`)}` : ''}`,
    ...(bigCli
      ? [
          `- \`validate -f\` on ${bigCli.objects.toLocaleString('en-US')} objects in ${bigCli.files} files ≤ ${TARGETS.cliS} s: ${f2(bigCli.medianMs / 1000)} s — ${mark(bigCli.medianMs <= TARGETS.cliS * 1000 && bigCli.exit === 0)}`,
          ...(smallCli && smallCli !== bigCli
            ? [
                `- \`validate -f\` linear in its input (time per object above the fixed cost of ${f0(cl.fixed.medianMs)} ms at ${bigCli.objects.toLocaleString('en-US')} objects ≤ ${TARGETS.linearity} × at ${smallCli.objects.toLocaleString('en-US')}): ${f2(perObject(bigCli) * 1000)} vs ${f2(perObject(smallCli) * 1000)} µs/object = ${f2(linear)} × — ${mark(linear <= TARGETS.linearity)}`,
              ]
            : []),
        ]
      : []),
  ];
  console.log('\n' + targets.join('\n'));

  // ---- tables ----
  const summary = (points: readonly ModePoint[], withBusy: boolean): string =>
    table(
      ['N', 'objects', 'time to ready s', 'RSS ready MB', 'RSS after load MB', 'heap used after load MB', ...(withBusy ? [`Egress req/s at ${CONCURRENCY} in flight`, `× N = ${points[0]?.n ?? 0}`] : []), 'other processes before, % of cores', 'errors'],
      points.map((p) => [
        p.n.toLocaleString('en-US'),
        p.objects.toLocaleString('en-US'),
        f2(p.readyS),
        f0(p.memReady.rssMb),
        f0(p.memAfter.rssMb),
        f0(p.memAfter.heapUsedMb),
        ...(withBusy ? [f0(p.busy?.throughput ?? NaN), f2((p.busy?.throughput ?? NaN) / (points[0]?.busy?.throughput ?? NaN))] : []),
        f0(p.othersBefore * 100),
        String(p.errors),
      ]),
    );
  const latencies = (points: readonly ModePoint[]): string =>
    table(
      ['request (one at a time)', ...points.map((p) => `N = ${p.n.toLocaleString('en-US')}: p50 / p99 ms (server CPU µs/req)`)],
      [
        ...REQUESTS.map((r) => [r.label, ...points.map((p) => cell(p.single.get(r.label)!))]),
        ...(points.some((p) => p.busy) ? [[`Egress, ${CONCURRENCY} in flight`, ...points.map((p) => (p.busy ? cell(p.busy) : '–'))]] : []),
      ],
    );
  const cell = (r: Measured): string => `${f2(r.p50)} / ${f2(r.p99)} (${f0(r.serverCpuUsPerReq)})`;
  const cliTable = table(
    ['input', 'files', 'state N', `wall ms (median of ${CLI_RUNS})`, 'µs per object above the fixed cost', 'exit'],
    [cl.fixed, ...cl.points].map((p) => [
      `${p.objects.toLocaleString('en-US')} objects${p === cl.fixed ? ' (fixed cost)' : ''}`,
      String(p.files),
      p.n.toLocaleString('en-US'),
      f0(p.medianMs),
      p === cl.fixed ? '–' : f1(perObject(p) * 1000),
      String(p.exit),
    ]),
  );
  const requestList = REQUESTS.map((r) => `- **${r.label}** (\`${r.path}\`): ${r.touches}`).join('\n');
  const md = `## Part E — admission at cluster scale

Targets (issue "Admission at cluster scale"), at N = ${TARGETS.n.toLocaleString('en-US')}${nNote}:

${targets.join('\n')}

### Standalone: \`serve --cluster-state DIR\` (state in ${STATE_FILES} YAML files), the server in a child process

${summary(sa.points, true)}

${latencies(sa.points)}

### Live: \`serve --kubeconfig\` against the fake API server holding the state

${lv.length ? `${summary(lv, false)}\n\n${latencies(lv)}` : '_not run_'}

### \`mesh-admission validate -f DIR\` (from dist/, a new process each run, every object admitted: exit 0)

${cliTable}

### Method

- The state of size N (\`bench/scale-state.ts\`, deterministic): the example cluster's MeshConfig, \`fsm-system\`, the
  \`fsm-controller\` Service and Clusters cluster-1..3, then max(N, 1) Namespaces, N Services, N Egresses, N/10 each of
  Plugins, PluginChains, ServiceImports, IngressBackends, HTTPRouteGroups and TrafficTargets (N = 10,000:
  ${scaleSize(10_000).toLocaleString('en-US')} objects). Every generated object is admitted by the validators (port numbers are drawn from pools
  by protocol class, so the same numbers recur across Egresses and Services without a server-first conflict); the
  \`validate -f\` rows check it (exit 0).
- The requests: CREATE of a new object of each kind (admission.k8s.io/v1), each answered \`allowed: true\` at every N
  (an answer that is not is an error), and the pod fixture \`pod-create-from-replicaset-v1.json\` in a generated
  namespace:
${requestList.replace(/^/gm, '  ')}
- Server measured: ${DIST === join(ROOT, 'dist') ? '`dist/` of this tree (`npm run build`)' : `\`BENCH_SCALE_DIST\`=${DIST.startsWith(ROOT) ? DIST.slice(ROOT.length + 1) : DIST}`}${serverBuild()}.
- The server: \`node dist/cli/main.js serve … --log-level info\` in a child process (its stdout read to the end); time to
  ready is spawn → \`/readyz\` 200 (a first, unmeasured start generated the certificates that every measured start
  reuses); RSS and heap are the server's own \`process_resident_memory_bytes\` and \`nodejs_heap_size_used_bytes\` from
  \`/metrics\`, after ready and after the load. Standalone mutation writes each bootstrap Secret file at admission.
- Load: \`bench/loadgen.ts\` in its own process over keep-alive TLS; per request ${WARMUP_MS} ms warm-up then
  ${DURATION_MS / 1000} s measured, one request in flight; the throughput run ${LOAD_WARMUP_MS} ms + ${LOAD_MS / 1000} s with
  ${CONCURRENCY} in flight. Server CPU per request: the child's user + system time from \`/proc/<pid>/stat\` over the
  whole scenario (warm-up included; 10 ms ticks) divided by every answer it gave in it.
- Numbers taken while other processes used the machine (column "other processes before"; this is a 2-core machine
  shared with the load generator) are disturbed, latencies most; the server CPU per request much less.
- Live: the fake API server (\`bench/fake-api-child.ts\`, HTTPS, no added latency) holds the same state; the server lists
  and watches it (\`--kubeconfig\`, token \`server\`) and is called through the name its serving certificate covers
  (\`${SERVICE_NAME}\`), its CA read from the Secret \`fsm-system/fsm-admission-tls\`.
- \`validate -f\`: the state of N = ${FIXED_N} (one object of every generated kind, one file) gives the fixed cost (node
  start-up, module loading, the RE2 engine); the inputs are states of exactly that many objects spread over that many
  files; "linear" compares the time per object above that fixed cost. Other processes used
  ${f0(cl.othersBefore * 100)} % of the cores just before.
- Knobs: \`BENCH_SCALE_NS\` (${NS.join(',')}), \`BENCH_SCALE_LIVE_NS\` (${LIVE_NS.join(',')}), \`BENCH_SCALE_MS\` (${DURATION_MS}),
  \`BENCH_SCALE_WARMUP_MS\` (${WARMUP_MS}), \`BENCH_SCALE_LOAD_MS\` (${LOAD_MS}), \`BENCH_SCALE_LOAD_WARMUP_MS\` (${LOAD_WARMUP_MS}),
  \`BENCH_SCALE_FILES\` (${STATE_FILES}), \`BENCH_SCALE_CLI\` (${CLI_INPUTS.map((c) => `${c.objects}:${c.files}`).join(',')}), \`BENCH_SCALE_CLI_RUNS\` (${CLI_RUNS}); values of this run.
`;
  return { md, errors };
}
