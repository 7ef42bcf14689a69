import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCaBundleFile, watchCaBundleFile } from '../../src/certs/ca-file.js';
import { issueCA } from '../../src/certs/issue.js';
import { LeafSigner } from '../../src/certs/signer.js';
import { waitFor } from '../support/fake-apiserver.js';

const now = Date.now();
const ca = (cn: string, from = now - 3600_000, to = now + 86_400_000) => issueCA(cn, { notBefore: new Date(from), notAfter: new Date(to) });
const CA1 = (await ca('one')).cert;
const CA2 = (await ca('two')).cert;

describe('CA bundle file (--tls-ca-file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ca-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps only CA certificates still valid', async () => {
    const expired = (await ca('expired', now - 10 * 86_400_000, now - 86_400_000)).cert;
    const issuer = await ca('issuer');
    const leaf = new LeafSigner(issuer).issue({ commonName: 'leaf', dnsNames: ['leaf'], notBefore: new Date(now - 1000), notAfter: new Date(now + 86_400_000) }).cert;
    const f = join(dir, 'ca.crt');
    writeFileSync(f, expired + CA1 + leaf + issuer.cert);
    expect(readCaBundleFile(f)).toBe(CA1 + issuer.cert);
    writeFileSync(f, expired + leaf);
    expect(() => readCaBundleFile(f)).toThrow(/no valid CA certificate/);
  });

  it('calls back when the file changes', async () => {
    const f = join(dir, 'watched.crt');
    writeFileSync(f, CA1);
    const seen: string[] = [];
    const stop = watchCaBundleFile(f, (pem) => seen.push(pem), undefined, 10);
    expect(seen).toEqual([CA1]);
    writeFileSync(f, CA1 + CA2);
    await waitFor(() => seen.length === 2, { timeoutMs: 10_000, what: 'reload' });
    expect(seen[1]).toBe(CA1 + CA2);
    stop();
  });
});
