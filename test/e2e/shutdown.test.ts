// SIGTERM: stop accepting, finish what is in flight, exit 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AdmissionHandler } from '../../src/admission/handler.js';
import { allow, deny } from '../../src/admission/response.js';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { startServer } from '../../src/server/run.js';
import { client } from '../support/https-client.js';
import { loadFixture, REPO_ROOT } from '../support/fixtures.js';

const slowHandler = (ms: number): AdmissionHandler => ({
  webhook: 'validate',
  handle: (req) => new Promise((resolve) => setTimeout(() => resolve({ response: allow(req.uid), decision: 'allowed', reason: 'slow' }), ms)),
  timedOut: (req) => ({ response: deny(req.uid, { code: 504, reason: 'Timeout', message: 'late' }), decision: 'denied', reason: 'timeout' }),
});

describe('graceful shutdown', () => {
  it('finishes an in-flight request, then refuses new connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-shutdown-'));
    const server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, host: '127.0.0.1', certsDir: dir }, { logger: pino({ level: 'silent' }), handlers: [slowHandler(400)] });
    const http = client(readFileSync(join(dir, 'ca.crt'), 'utf8'), server.port);
    const fx = loadFixture('plugin-create.json');
    const inFlight = http.post('/validate', fx.raw);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.inFlight()).toBe(1);
    const stopped = server.shutdown(5);
    // While it drains, readiness fails so the Service stops sending it new calls.
    const ready = await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', reasons: ['shutting down'] });
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect((res.json() as { response: { uid: string; allowed: boolean } }).response).toEqual({ uid: fx.review.request.uid, allowed: true });
    await stopped;
    http.close();
    const again = client(readFileSync(join(dir, 'ca.crt'), 'utf8'), server.port);
    await expect(again.post('/validate', fx.raw)).rejects.toThrow(/ECONNREFUSED/);
    again.close();
  });

  it('answers with the deadline reason when the handler is slower than ?timeout=', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-deadline-'));
    const server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, host: '127.0.0.1', certsDir: dir }, { logger: pino({ level: 'silent' }), handlers: [slowHandler(3000)] });
    const http = client(readFileSync(join(dir, 'ca.crt'), 'utf8'), server.port);
    const started = Date.now();
    const res = await http.post('/validate?timeout=1s', loadFixture('plugin-create.json').raw);
    expect(Date.now() - started).toBeLessThan(2500);
    expect((res.json() as { response: { allowed: boolean; status: { message: string } } }).response).toMatchObject({ allowed: false, status: { message: 'late' } });
    http.close();
    await server.shutdown(0);
  });

  it('the serve command exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-sigterm-'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--certs-dir', dir, '--cluster-state', join(REPO_ROOT, 'examples/cluster')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (out.includes('mesh-admission serving')) {
          clearInterval(t);
          resolve();
        }
      }, 50);
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out).toContain('"msg":"shut down"');
  });
});
