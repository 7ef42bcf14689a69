// Standalone serving certificates under --certs-dir: generated once, reused while valid, renewed at 2/3 of the leaf's
// life (keeping the CA, so clients that trust it keep working), regenerated when unusable.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureServingCerts, serviceDnsNames } from '../../src/certs/serving.js';

const DAY = 24 * 3600 * 1000;
const base = { service: 'mesh-admission', namespace: 'fsm-system', standalone: true };

describe('standalone serving certificates', () => {
  it('covers the Service names and loopback in standalone mode', () => {
    expect(serviceDnsNames('svc', 'ns', true)).toEqual({ dns: ['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local', 'localhost'], ips: ['127.0.0.1', '::1'] });
    expect(serviceDnsNames('svc', 'ns', false).ips).toEqual([]);
  });

  it('generates once and reuses while the leaf has more than a third of its life left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'serving-'));
    const now = new Date('2026-11-21T00:00:00Z');
    const first = await ensureServingCerts({ ...base, dir, now });
    expect(first.reused).toBe(false);
    const leaf = new X509Certificate(first.cert);
    expect(leaf.subjectAltName).toBe('DNS:mesh-admission, DNS:mesh-admission.fsm-system, DNS:mesh-admission.fsm-system.svc, DNS:mesh-admission.fsm-system.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const again = await ensureServingCerts({ ...base, dir, now: new Date(now.getTime() + 200 * DAY) });
    expect(again).toMatchObject({ reused: true, cert: first.cert, ca: first.ca });
  });

  it('renews the leaf past 2/3 of its life and keeps the CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'serving-'));
    const now = new Date('2026-11-21T00:00:00Z');
    const first = await ensureServingCerts({ ...base, dir, now });
    const later = await ensureServingCerts({ ...base, dir, now: new Date(now.getTime() + 250 * DAY) });
    expect(later.reused).toBe(false);
    expect(later.cert).not.toBe(first.cert);
    expect(later.ca).toBe(first.ca);
    expect(new X509Certificate(later.cert).verify(new X509Certificate(first.ca).publicKey)).toBe(true);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(later.cert);
  });

  it('renews when a name is missing, and regenerates unusable files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'serving-'));
    const first = await ensureServingCerts({ ...base, dir });
    const renamed = await ensureServingCerts({ ...base, dir, service: 'other' });
    expect(renamed.reused).toBe(false);
    expect(new X509Certificate(renamed.cert).subjectAltName).toContain('DNS:other.fsm-system.svc');
    writeFileSync(join(dir, 'tls.key'), 'not a key');
    const repaired = await ensureServingCerts({ ...base, dir, service: 'other' });
    expect(repaired.reused).toBe(false);
    expect(repaired.ca).toBe(first.ca);
  });
});
