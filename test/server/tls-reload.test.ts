// --tls-cert-file/--tls-key-file: a changed pair is swapped in without restart; a half-written pair is ignored.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ensureServingCerts } from '../../src/certs/serving.js';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { startServer } from '../../src/server/run.js';
import { waitFor } from '../support/fake-apiserver.js';

function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

describe('serving certificate from files', () => {
  it('reloads a changed pair without restart and ignores a broken one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tls-reload-'));
    const a = await ensureServingCerts({ dir: join(dir, 'a'), service: 'mesh-admission', namespace: 'fsm-system', standalone: true });
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeFileSync(certFile, a.cert);
    writeFileSync(keyFile, a.key);
    const logs: Array<{ msg?: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg?: string }) });
    const server = await startServer({ ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: join(dir, 'certs'), tlsCertFile: certFile, tlsKeyFile: keyFile }, { logger });
    try {
      expect(await servedFingerprint(server.port, a.ca)).toBe(new X509Certificate(a.cert).fingerprint256);
      // A new leaf from the same CA: clients keep trusting it, the server serves it after the next poll.
      const b = await ensureServingCerts({ dir: join(dir, 'a'), service: 'mesh-admission', namespace: 'fsm-system', standalone: true, extraDns: ['renewed.example.com'] });
      writeFileSync(keyFile, 'half written');
      await waitFor(() => logs.some((l) => l.msg === 'serving certificate not reloaded'), { timeoutMs: 15_000, what: 'the broken pair to be tried' });
      expect(await servedFingerprint(server.port, a.ca)).toBe(new X509Certificate(a.cert).fingerprint256);
      writeFileSync(certFile, b.cert);
      writeFileSync(keyFile, b.key);
      const expected = new X509Certificate(b.cert).fingerprint256;
      await waitFor(async () => ((await servedFingerprint(server.port, a.ca)) === expected) || undefined, { timeoutMs: 10_000 });
    } finally {
      await server.shutdown(0, 0);
    }
  });
});
