import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyPool, KeyPoolClosedError, KeyPoolTimeoutError } from '../../src/certs/key-pool.js';
import { assertUsable } from './support.js';
import { issueCA } from '../../src/certs/issue.js';
import { LeafSigner } from '../../src/certs/signer.js';

const pools: KeyPool[] = [];
const pool = (opts: ConstructorParameters<typeof KeyPool>[0]): KeyPool => {
  const p = new KeyPool(opts);
  pools.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('KeyPool (RSA)', () => {
  it('fills to its target in the background and refills after takes', async () => {
    const p = pool({ bits: 2048, target: 3 });
    await p.ready();
    expect(p.stats()).toMatchObject({ kind: 'rsa', bits: 2048, available: 3, generating: 0, waiting: 0 });
    const k = p.take()!;
    assertUsable(k);
    expect(createPublicKey({ key: k.spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(p.stats().available + p.stats().generating).toBe(3);
    await p.ready(3);
    expect(p.stats().generated).toBeGreaterThanOrEqual(4);
  });

  it('take() returns undefined on an empty pool without blocking; takeWithin waits for the next key', async () => {
    const p = pool({ bits: 1024, target: 0 });
    expect(p.take()).toBeUndefined();
    expect(p.stats().misses).toBe(1);
    const k = await p.takeWithin(10_000);
    assertUsable(k);
    expect(p.stats()).toMatchObject({ available: 0, waiting: 0 });
  });

  it('takeWithin rejects with a clear error after its deadline', async () => {
    const p = pool({ bits: 16384, target: 0 }); // minutes per key: only the deadline can end this wait
    await expect(p.takeWithin(20)).rejects.toThrow(KeyPoolTimeoutError);
    await expect(p.takeWithin(1)).rejects.toThrow(/no RSA-16384 key became available within 1 ms/);
    expect(p.stats().waiting).toBe(0);
  });

  it('close() rejects waiters, stops the worker and refuses later takes', async () => {
    // An RSA-16384 key takes minutes: close() returning within the test's timeout shows it does not wait for it.
    const p = pool({ bits: 16384, target: 0 });
    const waiting = p.takeWithin(600_000).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await p.close();
    expect(p.stats().generated).toBe(0);
    expect(await waiting).toBeInstanceOf(KeyPoolClosedError);
    expect(() => p.take()).toThrow(KeyPoolClosedError);
    await expect(p.takeWithin(1)).rejects.toThrow(KeyPoolClosedError);
    await p.close(); // idempotent
  });

  it('validates its options', () => {
    expect(() => new KeyPool({ bits: 512 })).toThrow(/out of range/);
    expect(() => new KeyPool({ target: -1 })).toThrow(/target/);
  });
});

describe('KeyPool (EC)', () => {
  it('produces usable P-256 keys in batches and they sign leaves', async () => {
    const p = pool({ kind: 'ec', target: 256 });
    await p.ready();
    const keys = Array.from({ length: 10 }, () => p.take()!);
    for (const k of keys) {
      expect(k.kind).toBe('ec');
      assertUsable(k);
    }
    const ca = await issueCA('fsm-ca.flomesh.io', { notBefore: new Date('2025-01-01Z'), notAfter: new Date('2035-01-01Z') });
    const signer = new LeafSigner(ca);
    const issued = signer.issue({ commonName: 'a.sidecar.sa.ns.cluster.local', dnsNames: ['a.sidecar.sa.ns.cluster.local'], notBefore: new Date('2025-01-01Z'), notAfter: new Date('2035-01-01Z'), keyPair: keys[0] });
    const x = new X509Certificate(issued.cert);
    expect(x.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(issued.key))).toBe(true);
  });
});

describe('the key worker loads from TypeScript and from compiled JavaScript', () => {
  const ROOT = fileURLToPath(new URL('../..', import.meta.url));
  // Each child prints where its worker's entry file is and the kinds of the keys it got; execFileSync's timeout kills a
  // process kept alive by the worker (the worker is unref'd: the child must exit without close()).
  const script = (dir: string, ext: string): string =>
    [
      `import { KeyPool } from ${JSON.stringify(pathToFileURL(join(dir, `key-pool.${ext}`)).href)};`,
      `import { keyWorkerEntry } from ${JSON.stringify(pathToFileURL(join(dir, `key-worker.${ext}`)).href)};`,
      `const ec = new KeyPool({ kind: 'ec', target: 2 });`,
      `const rsa = new KeyPool({ bits: 1024, target: 0 });`,
      `const keys = [await ec.takeWithin(20000), await rsa.takeWithin(20000)];`,
      `const { script } = keyWorkerEntry();`,
      `console.log(typeof script === 'string' ? 'script' : script.pathname.split('/').pop(), keys.map((k) => k.kind + ':' + k.spki.length).join(' '));`,
    ].join('\n');

  it('from src/ under tsx (the parent\'s --input-type=module is not passed on to the worker)', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(join(ROOT, 'src/certs'), 'ts')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe('script ec:91 rsa:162');
  });

  it('from JavaScript compiled by tsc, as under dist/, with no loader at all', () => {
    const out = mkdtempSync(join(tmpdir(), 'key-pool-js-'));
    try {
      const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
      const args = ['--outDir', out, '--rootDir', join(ROOT, 'src'), '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck', '--strict'];
      execFileSync(process.execPath, [tsc, ...args, join(ROOT, 'src/certs/key-pool.ts'), join(ROOT, 'src/certs/key-worker-main.ts')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
      const printed = execFileSync(process.execPath, ['--input-type=module', '-e', script(join(out, 'certs'), 'js')], { cwd: out, encoding: 'utf8', timeout: 60_000 });
      expect(printed.trim()).toBe('key-worker-main.js ec:91 rsa:162');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
