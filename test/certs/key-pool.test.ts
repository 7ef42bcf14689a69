import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateEcKey, KeyPool, KeyPoolClosedError, KeyPoolTimeoutError, p256FromSec1, type EncodedKeyPair } from '../../src/certs/key-pool.js';
import { LeafSigner, selfSignedCa } from '../../src/certs/signer.js';

const pools: KeyPool[] = [];
const pool = (opts: ConstructorParameters<typeof KeyPool>[0]): KeyPool => {
  const p = new KeyPool(opts);
  pools.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function assertUsable(k: EncodedKeyPair): void {
  const pub = createPublicKey({ key: k.spki, format: 'der', type: 'spki' });
  const priv = createPrivateKey(k.privateKeyPem);
  expect(pub.asymmetricKeyType).toBe(k.kind);
  expect(priv.asymmetricKeyType).toBe(k.kind);
  const msg = Buffer.from('pool');
  expect(verify('sha256', msg, pub, sign('sha256', msg, priv))).toBe(true);
  expect(k.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
}

describe('generateEcKey', () => {
  it('returns a usable P-256 pair encoded as SPKI DER + PKCS#8 PEM', () => {
    const k = generateEcKey();
    expect(k.kind).toBe('ec');
    assertUsable(k);
    expect(createPublicKey({ key: k.spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('re-encodes SEC1 exactly as node encodes SPKI and the same private key', () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const k = p256FromSec1(privateKey.export({ type: 'sec1', format: 'der' }));
      expect(k.spki.equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
      expect(createPrivateKey(k.privateKeyPem).export({ type: 'pkcs8', format: 'der' }).equals(privateKey.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
    }
  });
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
    const ca = selfSignedCa({ commonName: 'fsm-ca.flomesh.io', notBefore: new Date('2025-01-01Z'), notAfter: new Date('2035-01-01Z') });
    const signer = new LeafSigner(ca);
    const issued = signer.issue({ commonName: 'a.sidecar.sa.ns.cluster.local', dnsNames: ['a.sidecar.sa.ns.cluster.local'], notBefore: new Date('2025-01-01Z'), notAfter: new Date('2035-01-01Z'), keyPair: keys[0] });
    const x = new X509Certificate(issued.cert);
    expect(x.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(issued.key))).toBe(true);
  });
});

describe('KeyPool worker lifecycle', () => {
  it('does not keep the process alive without close() (worker is unref\'d), from TypeScript via tsx with --input-type=module', () => {
    const mod = fileURLToPath(new URL('../../src/certs/key-pool.ts', import.meta.url));
    const script = `import { KeyPool } from ${JSON.stringify(mod)}; const p = new KeyPool({ bits: 1024, target: 2 }); const k = await p.takeWithin(20000); console.log(k.kind);`;
    // execFileSync's timeout kills a process kept alive by the worker (and the test then fails)
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe('rsa');
  });
});
