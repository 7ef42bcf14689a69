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
import { waitFor } from '../support/fake-apiserver.js';
import { client } from '../support/https-client.js';
import { loadFixture, REPO_ROOT } from '../support/fixtures.js';

/** A handler that answers only when the test says so: the test controls what is in flight, not the clock. */
function gatedHandler(): { handler: AdmissionHandler; release: () => void } {
  const waiting: Array<() => void> = [];
  let open = false;
  const handler: AdmissionHandler = {
    webhook: 'validate',
    handle: (req) =>
      new Promise((resolve) => {
        const answer = (): void => resolve({ response: allow(req.uid), decision: 'allowed', reason: 'released' });
        if (open) answer();
        else waiting.push(answer);
      }),
    timedOut: (req) => ({ response: deny(req.uid, { code: 504, reason: 'Timeout', message: 'late' }), decision: 'denied', reason: 'timeout' }),
  };
  return { handler, release: () => ((open = true), waiting.splice(0).forEach((a) => a())) };
}

describe('graceful shutdown', () => {
  it('finishes an in-flight request, then refuses new connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-shutdown-'));
    const gate = gatedHandler();
    const server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: dir }, { logger: pino({ level: 'silent' }), handlers: [gate.handler] });
    const http = client(readFileSync(join(dir, 'ca.crt'), 'utf8'), server.port);
    const fx = loadFixture('plugin-create.json');
    const inFlight = http.post('/validate', fx.raw);
    await waitFor(() => server.inFlight() === 1, { what: 'the request to reach the handler' });
    const stopped = server.shutdown(30, 0);
    // While it drains, readiness fails so the Service stops sending it new calls.
    const ready = await fetch(`http://127.0.0.1:${server.healthPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', reasons: ['shutting down'] });
    gate.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect((res.json() as { response: { uid: string; allowed: boolean } }).response).toEqual({ uid: fx.review.request.uid, allowed: true });
    await stopped;
    http.close();
    const again = client(readFileSync(join(dir, 'ca.crt'), 'utf8'), server.port);
    await expect(again.post('/validate', fx.raw)).rejects.toThrow(/ECONNREFUSED/);
    again.close();
  });

  it('under load on many keep-alive connections: every request that reaches it is answered, from SIGTERM on with Connection: close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-drain-'));
    const gate = gatedHandler();
    const server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: dir }, { logger: pino({ level: 'silent' }), handlers: [gate.handler] });
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const fx = loadFixture('plugin-create.json');
    const CLIENTS = 16;
    const clients = Array.from({ length: CLIENTS }, () => client(ca, server.port));
    const answers: Array<{ close: boolean; sentAfterSigterm: boolean }> = [];
    const failures: string[] = [];
    let sigterm = false;
    // Each client (an API server connection pool) keeps a request in flight on its keep-alive connection. Once the
    // server has told it to close (the endpoint is going away), half of the clients send three more requests on new
    // connections, as an API server does until the endpoint update reaches it; then they stop.
    const loops = clients.map(async (c, i) => {
      let extra = i % 2 === 0 ? 3 : 0;
      for (;;) {
        const sentAfterSigterm = sigterm;
        try {
          const res = await c.post('/validate', fx.raw);
          expect(res.status).toBe(200);
          expect((res.json() as { response: { uid: string } }).response.uid).toBe(fx.review.request.uid);
          const close = res.headers.connection === 'close';
          answers.push({ close, sentAfterSigterm });
          if (sigterm && close && extra-- === 0) return;
        } catch (err) {
          failures.push((err as NodeJS.ErrnoException).code ?? String(err));
          return;
        }
      }
    });
    // 16 requests held in flight by the handler when shutdown begins
    await waitFor(() => server.inFlight() === CLIENTS, { what: 'every client to have a request in flight' });
    sigterm = true;
    const stopped = server.shutdown(30, 0.5);
    gate.release();
    await Promise.all(loops);
    await stopped;
    expect(failures).toEqual([]);
    // the 16 requests in flight at SIGTERM, then the 24 sent during the delay on new connections: all answered, and
    // every answer told the client to close its connection
    expect(answers).toHaveLength(CLIENTS + (CLIENTS / 2) * 3);
    expect(answers.filter((a) => a.sentAfterSigterm)).toHaveLength((CLIENTS / 2) * 3);
    expect(answers.filter((a) => !a.close)).toEqual([]);
    // once stopped, a new connection is refused: nothing is accepted and left unanswered
    const late = client(ca, server.port);
    await expect(late.post('/validate', fx.raw)).rejects.toThrow(/ECONNREFUSED/);
    late.close();
    clients.forEach((c) => c.close());
  });

  it('answers with the deadline reason when the handler is slower than ?timeout=', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-deadline-'));
    // The handler never answers: only the deadline taken from ?timeout= can produce this answer.
    const server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: dir }, { logger: pino({ level: 'silent' }), handlers: [gatedHandler().handler] });
    const http = client(readFileSync(join(dir, 'ca.crt'), 'utf8'), server.port);
    const res = await http.post('/validate?timeout=1s', loadFixture('plugin-create.json').raw);
    expect((res.json() as { response: { allowed: boolean; status: { message: string } } }).response).toMatchObject({ allowed: false, status: { message: 'late' } });
    http.close();
    await server.shutdown(0, 0);
  });

  it('the serve command exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-sigterm-'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--metrics-port', '0', '--health-port', '0', '--host', '127.0.0.1', '--certs-dir', dir, '--shutdown-delay-seconds', '0.2', '--cluster-state', join(REPO_ROOT, 'examples/cluster')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    let exited = false;
    child.once('exit', () => (exited = true));
    await waitFor(() => out.includes('mesh-admission serving') || exited, { timeoutMs: 30_000, what: 'the server to start' });
    expect(exited, out).toBe(false);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out).toContain('"msg":"shut down"');
  });
});
