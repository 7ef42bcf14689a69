// Part C of `npm run bench`: live mode against the fake API server (its own process, HTTPS, a latency added to every
// request), the way issue "Injection against a real API server" measures it: pods go through the webhook, the load
// generator then stores each admitted pod as an API server does, and the server creates its bootstrap Secret from the
// pod watch. Measured: admission latency (does it depend on the API server's latency?), the server's CPU per injected
// pod (admission + certificate + the Secret's API request), API requests and TLS handshakes per pod, and how long
// after its pod each Secret exists. Also the price of a re-invocation that can only be a no-op.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import pino from 'pino';
import { loadStaticView } from '../src/cluster/static.js';
import { injectPod } from '../src/injector/inject.js';
import { meshIdentity } from '../src/mesh/flavor.js';
import { SERVE_DEFAULTS } from '../src/server/options.js';
import { startServer, type RunningServer } from '../src/server/run.js';
import type { FakeApiCommand, FakeApiReady, FakeApiStart, FakeApiStats } from './fake-api-child.js';
import { BENCH_DIR, bodyTemplate, CLUSTER, MUTATE_FIXTURE, readReview, reviewTemplate, ROOT, runLoad, type ServerSide } from './lib.js';
import type { LoadResult, LoadScenario } from './loadgen.js';
import { percentile } from './loadgen.js';

export interface LivePoint {
  readonly latencyMs: number;
  readonly concurrency: number;
  /** paced to this many pods a second (the pace of a real API server) */
  readonly ratePerSecond?: number;
  readonly load: LoadResult & ServerSide;
  readonly pods: number;
  readonly secrets: number;
  /** the server's requests other than watches, per stored pod, during the run */
  readonly apiRequestsPerPod: number;
  readonly secretCreatesPerPod: number;
  readonly handshakesPerPod: number;
  /** seconds from the pod's create to its Secret's create, as the API server saw them */
  readonly secretDelay: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly serverCpuPerPodUs: number;
}

export interface LiveBenchResult {
  readonly points: LivePoint[];
  /** one request at a time, pods not stored (no Secret work beside): admission alone, per API latency */
  readonly admissionOnly: Array<{ readonly latencyMs: number; readonly load: LoadResult & ServerSide }>;
  /** a re-invocation of an already injected pod: what it costs the server per call */
  readonly reinvocation: LoadResult & ServerSide;
}

/** A name the live serving certificate covers: the API server calls the webhook through its Service. */
const SERVICE_NAME = 'mesh-admission.fsm-system.svc';

class FakeApi {
  private constructor(
    private readonly child: ChildProcess,
    readonly ready: FakeApiReady,
  ) {}

  static start(start: FakeApiStart): Promise<FakeApi> {
    const child = fork(join(BENCH_DIR, 'fake-api-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: FakeApiReady) => resolve(new FakeApi(child, m)));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`fake API server exited with ${code}`)));
      child.send(start);
    });
  }

  private ask<T>(cmd: FakeApiCommand): Promise<T> {
    return new Promise((resolve) => {
      this.child.once('message', (m: T) => resolve(m));
      this.child.send(cmd);
    });
  }

  stats(since: number): Promise<FakeApiStats> {
    return this.ask({ cmd: 'stats', since });
  }

  reset(): Promise<unknown> {
    return this.ask({ cmd: 'reset' });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ cmd: 'close' } satisfies FakeApiCommand);
    });
  }
}

/** The review of the fixture pod as it comes back on a re-invocation: already injected. */
function injectedReviewTemplate(): readonly [string, string] {
  const review = readReview(MUTATE_FIXTURE);
  const mesh = meshIdentity('fsm');
  const view = loadStaticView(CLUSTER);
  const plan = injectPod({ pod: review.request.object!, namespace: review.request.namespace!, uuid: '11111111-2222-4333-8444-555555555555' }, view, { mesh, sidecarMode: 'classic' });
  if (!('patch' in plan)) throw new Error('the fixture pod is not injected');
  review.request.object = fastJsonPatch.applyPatch(structuredClone(review.request.object!), plan.patch, false, false).newDocument;
  return reviewTemplate(review, 'the injected pod');
}

const quantiles = (xs: number[]): { p50: number; p99: number; max: number } => {
  const sorted = Float64Array.from(xs).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.length ? sorted[sorted.length - 1]! : NaN };
};

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function startLive(api: FakeApi, dir: string): Promise<RunningServer> {
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.ready.kubeconfigs.server);
  const server = await startServer(
    { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', kubeconfig, certsDir: join(dir, 'certs'), secretsDir: join(dir, 'secrets'), logLevel: 'silent' },
    { logger: pino({ level: 'silent' }) },
  );
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${server.healthPort}/readyz`)).status === 200, 60_000);
  return server;
}

export async function liveBench(opts: { latencies: readonly number[]; concurrencies: readonly number[]; warmupMs: number; durationMs: number; /** also a point at the last latency and concurrency, paced to this many pods a second */ pacedRate?: number }): Promise<LiveBenchResult> {
  const points: LivePoint[] = [];
  const admissionOnly: LiveBenchResult['admissionOnly'] = [];
  let reinvocation: (LoadResult & ServerSide) | undefined;
  for (const latencyMs of opts.latencies) {
    const api = await FakeApi.start({ latencyMs, state: [CLUSTER] });
    const dir = mkdtempSync(join(ROOT, '.bench-live-'));
    const server = await startLive(api, dir);
    try {
      const ca = server.tls.ca ?? server.tls.cert;
      admissionOnly.push({
        latencyMs,
        load: await runLoad({ name: `admission only, API latency ${latencyMs} ms`, port: server.port, path: '/mutate-pod-creation?timeout=10s', ca, servername: SERVICE_NAME, bodies: [bodyTemplate(MUTATE_FIXTURE)], concurrency: 1, warmupMs: opts.warmupMs, durationMs: opts.durationMs, expectPatch: true }),
      });
      const last = latencyMs === opts.latencies[opts.latencies.length - 1];
      const runs: Array<{ concurrency: number; ratePerSecond?: number }> = [
        ...opts.concurrencies.map((concurrency) => ({ concurrency })),
        ...(last && opts.pacedRate ? [{ concurrency: opts.concurrencies[opts.concurrencies.length - 1]!, ratePerSecond: opts.pacedRate }] : []),
      ];
      for (const { concurrency, ratePerSecond } of runs) {
        await api.reset();
        const since = Date.now();
        const scenario: LoadScenario = {
          name: `live, API latency ${latencyMs} ms, ${concurrency} in flight${ratePerSecond ? `, ${ratePerSecond} pods/s` : ''}`,
          ...(ratePerSecond ? { ratePerSecond } : {}),
          port: server.port,
          path: '/mutate-pod-creation?timeout=10s',
          ca,
          servername: SERVICE_NAME,
          bodies: [bodyTemplate(MUTATE_FIXTURE)],
          concurrency,
          warmupMs: opts.warmupMs,
          durationMs: opts.durationMs,
          expectPatch: true,
          storePods: { url: api.ready.url, ca: api.ready.ca, token: 'apiserver' },
        };
        const load = await runLoad(scenario);
        // every stored pod gets its Secret: wait for the last ones
        await waitUntil(async () => {
          const s = await api.stats(since);
          return s.secrets.length >= s.pods.length;
        }, 30_000);
        const stats = await api.stats(since);
        const secretAt = new Map(stats.secrets);
        const delays = stats.pods.map(([uuid, at]) => ((secretAt.get(uuid) ?? NaN) - at) / 1000).filter((d) => Number.isFinite(d));
        const serverRequests = Object.entries(stats.counts)
          .filter(([k]) => k.startsWith('server ') && !k.includes(' watch '))
          .reduce((n, [, v]) => n + v, 0);
        const secretCreates = Object.entries(stats.counts)
          .filter(([k]) => k === 'server create secrets')
          .reduce((n, [, v]) => n + v, 0);
        const pods = stats.pods.length;
        points.push({
          latencyMs,
          concurrency,
          ...(ratePerSecond ? { ratePerSecond } : {}),
          load,
          pods,
          secrets: stats.secrets.length,
          apiRequestsPerPod: serverRequests / pods,
          secretCreatesPerPod: secretCreates / pods,
          handshakesPerPod: stats.handshakes / pods,
          secretDelay: quantiles(delays),
          serverCpuPerPodUs: load.cpuUs / load.completed,
        });
      }
      if (latencyMs === opts.latencies[opts.latencies.length - 1]) {
        reinvocation = await runLoad({
          name: 're-invocation (already injected pod)',
          port: server.port,
          path: '/mutate-pod-creation?timeout=10s',
          ca,
          servername: SERVICE_NAME,
          bodies: [injectedReviewTemplate()],
          concurrency: opts.concurrencies[opts.concurrencies.length - 1]!,
          warmupMs: opts.warmupMs,
          durationMs: opts.durationMs,
          expectPatch: false,
        });
      }
    } finally {
      await server.shutdown(1, 0);
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { points, admissionOnly, reinvocation: reinvocation! };
}
