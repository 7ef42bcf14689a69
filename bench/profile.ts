// Profiling aid: the real server under one scenario's load, nothing else in the process.
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts validate|mutate|floor [seconds]
// `floor` profiles the bare node:https floor server instead (validate bodies). The load generator is forked as in
// bench/run.ts, so the profile written on exit is the server's alone.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { SERVE_DEFAULTS } from '../src/server/options.js';
import { startServer } from '../src/server/run.js';
import { bodyTemplate, CLUSTER, MUTATE_FIXTURE, ROOT, runLoad, startFloor, VALIDATE_FIXTURES } from './lib.js';

const which = process.argv[2] === 'mutate' || process.argv[2] === 'floor' ? process.argv[2] : 'validate';
const seconds = Number(process.argv[3] ?? 5);
const dir = mkdtempSync(join(ROOT, '.bench-profile-'));
const server = await startServer(
  { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: join(dir, 'certs'), secretsDir: process.env.BENCH_SECRETS_DIR || join(dir, 'secrets'), clusterState: CLUSTER, logLevel: 'silent' },
  { logger: pino({ level: 'silent' }) },
);
const floor = which === 'floor' ? await startFloor(server.tls.cert, server.tls.key) : undefined;
try {
  const r = await runLoad({
    name: which,
    port: floor ? (floor.address() as AddressInfo).port : server.port,
    path: which === 'mutate' ? '/mutate-pod-creation?timeout=10s' : '/validate?timeout=10s',
    ca: server.tls.ca ?? server.tls.cert,
    bodies: which === 'mutate' ? [bodyTemplate(MUTATE_FIXTURE)] : VALIDATE_FIXTURES.map(bodyTemplate),
    concurrency: 16,
    warmupMs: 1000,
    durationMs: seconds * 1000,
    expectPatch: which === 'mutate',
  });
  console.log(JSON.stringify(r));
} finally {
  floor?.closeAllConnections();
  floor?.close();
  await server.shutdown(1, 0);
  rmSync(dir, { recursive: true, force: true });
}
