// Shared by bench/run.ts and bench/profile.ts: fixture bodies, the floor server and the forked load generator.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../src/mesh/objects.js';
import type { LoadResult, LoadScenario, WindowMark } from './loadgen.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, '..');
export const FIXTURES = process.env.MESH_ADMISSION_FIXTURES ?? join(ROOT, 'test', 'fixtures', 'admission');
export const CLUSTER = join(ROOT, 'examples', 'cluster');
export const PODS = join(ROOT, 'examples', 'pods');

export const VALIDATE_FIXTURES = ['egress-create-http.json', 'plugin-create.json'] as const;
export const MUTATE_FIXTURE = 'pod-create-from-replicaset-v1.json';

export interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; namespace?: string; object?: KubeObject } & Record<string, unknown>;
}

export const readReview = (name: string): Review => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Review;

/** The floor: node:https, the same certificate, reads and parses the body, answers a fixed allowed review. */
export function startFloor(cert: string, key: string): Promise<HttpsServer> {
  const server = createHttpsServer({ cert, key, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let uid = '';
      let apiVersion = 'admission.k8s.io/v1';
      try {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
        uid = review.request.uid;
        apiVersion = review.apiVersion;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const body = JSON.stringify({ apiVersion, kind: 'AdmissionReview', response: { uid, allowed: true } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  server.keepAliveTimeout = 95_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** A fixture as the API server sends it (compact JSON), split around request.uid. */
export function bodyTemplate(name: string): [string, string] {
  return reviewTemplate(readReview(name), name);
}

/** A review as compact JSON, split around request.uid (each request then gets its own). */
export function reviewTemplate(review: Review, name = 'review'): [string, string] {
  const marker = `@@UID-${randomUUID()}@@`;
  review.request.uid = marker;
  const [before, after, ...rest] = JSON.stringify(review).split(marker);
  if (before === undefined || after === undefined || rest.length > 0) throw new Error(`${name}: cannot template request.uid`);
  return [before, after];
}

/** What the server process itself spent during a scenario's window. */
export interface ServerSide {
  /** CPU time (user + system, µs, all threads of this process) between the load generator's window marks */
  readonly cpuUs: number;
  /** CPU time (µs) the whole machine spent busy (all processes, all cores) in the same window */
  readonly machineCpuUs: number;
}

/** Busy CPU time of the whole machine so far, µs (os.cpus() counts in ms). */
export function machineBusyUs(): number {
  return os.cpus().reduce((n, c) => n + (c.times.user + c.times.nice + c.times.sys + c.times.irq) * 1000, 0);
}

/** Share of the machine's cores busy over the next `ms` (0..1): something else running spoils the numbers. */
export async function machineBusyShare(ms = 1000): Promise<number> {
  const before = machineBusyUs();
  const self = process.cpuUsage();
  await new Promise((r) => setTimeout(r, ms));
  const mine = process.cpuUsage(self);
  return Math.max(0, machineBusyUs() - before - mine.user - mine.system) / (ms * 1000 * os.cpus().length);
}

/** how long to wait for other work on the machine to stop before measuring */
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT_S ?? 30);
const QUIET_SHARE = 0.15;

/** Waits (up to BENCH_QUIET_WAIT_S) until the rest of the machine uses under 15 % of its cores; returns the last share. */
export async function waitForQuiet(what: string): Promise<number> {
  const until = Date.now() + QUIET_WAIT_S * 1000;
  let share = await machineBusyShare();
  while (share >= QUIET_SHARE && Date.now() < until) {
    console.log(`  the machine is busy (${Math.round(share * 100)} % of its cores used by other processes); waiting before ${what} …`);
    share = await machineBusyShare(2000);
  }
  return share;
}

/**
 * Runs one scenario in a forked load generator. The server under test lives in this process: its CPU clock is read
 * when the child says the measurement window opens and closes.
 */
export function runLoad(scenario: LoadScenario): Promise<LoadResult & ServerSide> {
  return new Promise((resolve, reject) => {
    const child = fork(join(BENCH_DIR, 'loadgen.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    let cpuStart: NodeJS.CpuUsage | undefined;
    let cpuUs = NaN;
    let machineStart = 0;
    let machineCpuUs = NaN;
    child.on('message', (msg: { ok?: boolean; result?: LoadResult; error?: string } & Partial<WindowMark>) => {
      if (msg.mark === 'start') {
        cpuStart = process.cpuUsage();
        machineStart = machineBusyUs();
      } else if (msg.mark === 'end' && cpuStart) {
        const used = process.cpuUsage(cpuStart);
        cpuUs = used.user + used.system;
        machineCpuUs = machineBusyUs() - machineStart;
      } else {
        settled = true;
        if (msg.ok && msg.result) resolve({ ...msg.result, cpuUs, machineCpuUs });
        else reject(new Error(`load generator failed: ${msg.error}`));
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`load generator exited with ${code} before reporting`));
    });
    child.send(scenario);
  });
}
