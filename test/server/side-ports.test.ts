// The side ports: /healthz and /readyz open on their own port; /metrics and /audit behind a TokenReview and a
// SubjectAccessReview (live mode), cached briefly and boundedly; plain on loopback in standalone mode; open only when
// chosen. The reviews here are a fake that counts its calls (test/apiserver/security.test.ts asks the real ones).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServingCerts } from '../../src/certs/serving.js';
import type { AccessReview, Authentication, Authorization, ReviewedUser } from '../../src/controllers/access-review.js';
import { AccessFilter, bearerToken } from '../../src/server/metrics-auth.js';
import { Metrics } from '../../src/server/metrics.js';
import { createSidePorts, type SidePorts } from '../../src/server/side-ports.js';

/** Tokens → users, users → the paths they may get; every call recorded; `fail` makes the next calls throw. */
class FakeReview implements AccessReview {
  readonly calls: string[] = [];
  fail: string | undefined;
  constructor(
    private readonly tokens: Record<string, ReviewedUser>,
    private readonly grants: Record<string, readonly string[]>,
  ) {}
  async authenticate(token: string): Promise<Authentication> {
    this.calls.push(`TokenReview ${token}`);
    if (this.fail) throw new Error(this.fail);
    const user = this.tokens[token];
    return user ? { authenticated: true, user } : { authenticated: false, reason: 'token has expired' };
  }
  async authorize(user: ReviewedUser, verb: string, path: string): Promise<Authorization> {
    this.calls.push(`SubjectAccessReview ${user.username} ${verb} ${path}`);
    if (this.fail) throw new Error(this.fail);
    const allowed = (this.grants[user.username] ?? []).includes(path);
    return { allowed, reason: allowed ? 'RBAC: allowed by ClusterRoleBinding "scrape"' : '' };
  }
}

const reader: ReviewedUser = { username: 'system:serviceaccount:monitoring:prometheus', uid: 'u1', groups: ['system:serviceaccounts', 'system:authenticated'] };
const tenant: ReviewedUser = { username: 'system:serviceaccount:shop:default', groups: ['system:authenticated'] };
const req = (path: string, token?: string, method = 'GET'): IncomingMessage => ({ method, url: path, headers: token === undefined ? {} : { authorization: token } }) as unknown as IncomingMessage;

describe('the access filter', () => {
  const setup = (opts: { maxEntries?: number } = {}) => {
    let now = 1_000_000;
    const review = new FakeReview({ 'reader-token': reader, 'tenant-token': tenant }, { [reader.username]: ['/metrics', '/audit'] });
    const filter = new AccessFilter({ review, now: () => now, ...opts });
    return { review, filter, advance: (ms: number) => (now += ms) };
  };

  it('reads only a Bearer token', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    for (const bad of [undefined, '', 'Bearer', 'Basic dXNlcjpwYXNz', 'Bearer a b']) expect(bearerToken(bad), String(bad)).toBeUndefined();
  });

  it('401 without a token or with one the API server does not know; 403 without the grant; allowed with it', async () => {
    const { filter, review } = setup();
    expect(await filter.check(req('/metrics'))).toEqual({ allowed: false, status: 401, message: 'Unauthorized: a bearer token is required (Authorization: Bearer <token>)', headers: { 'WWW-Authenticate': 'Bearer realm="mesh-admission"' } });
    expect(await filter.check(req('/metrics', 'Basic x'))).toMatchObject({ allowed: false, status: 401 });
    expect(review.calls).toEqual([]);
    expect(await filter.check(req('/metrics', 'Bearer stolen'))).toEqual({ allowed: false, status: 401, message: 'Unauthorized: token has expired', headers: { 'WWW-Authenticate': 'Bearer realm="mesh-admission"' } });
    expect(await filter.check(req('/audit?x=1', 'Bearer tenant-token'))).toEqual({ allowed: false, status: 403, message: 'Forbidden: user "system:serviceaccount:shop:default" cannot get path "/audit"' });
    expect(await filter.check(req('/audit', 'Bearer reader-token'))).toEqual({ allowed: true, user: reader.username });
    expect(await filter.check(req('/metrics', 'Bearer reader-token', 'POST'))).toEqual({ allowed: false, status: 405, message: 'method POST not allowed: use GET', headers: { Allow: 'GET, HEAD' } });
    expect(review.calls).toEqual([
      'TokenReview stolen',
      'TokenReview tenant-token',
      `SubjectAccessReview ${tenant.username} get /audit`,
      'TokenReview reader-token',
      `SubjectAccessReview ${reader.username} get /audit`,
    ]);
  });

  it('repeated scrapes cost no API call: a token and an allowed decision for 60 s, a refusal for 10 s, per path', async () => {
    const { filter, review, advance } = setup();
    for (let i = 0; i < 5; i++) expect((await filter.check(req('/metrics', 'Bearer reader-token'))).allowed).toBe(true);
    expect(review.calls).toEqual(['TokenReview reader-token', `SubjectAccessReview ${reader.username} get /metrics`]);
    await filter.check(req('/audit', 'Bearer reader-token'));
    expect(review.calls.slice(2)).toEqual([`SubjectAccessReview ${reader.username} get /audit`]);
    for (let i = 0; i < 3; i++) expect((await filter.check(req('/metrics', 'Bearer tenant-token'))).allowed).toBe(false);
    expect(review.calls.slice(3)).toEqual(['TokenReview tenant-token', `SubjectAccessReview ${tenant.username} get /metrics`]);
    advance(10_001);
    // the refusal has expired (a grant takes effect quickly), the allowed answers have not
    await filter.check(req('/metrics', 'Bearer tenant-token'));
    await filter.check(req('/metrics', 'Bearer reader-token'));
    expect(review.calls.slice(5)).toEqual([`SubjectAccessReview ${tenant.username} get /metrics`]);
    advance(50_000);
    await filter.check(req('/metrics', 'Bearer reader-token'));
    expect(review.calls.slice(6)).toEqual(['TokenReview reader-token', `SubjectAccessReview ${reader.username} get /metrics`]);
  });

  it('an unknown token is asked again after 10 s; failures to ask are 500 and never remembered', async () => {
    const { filter, review, advance } = setup();
    await filter.check(req('/metrics', 'Bearer nobody'));
    await filter.check(req('/metrics', 'Bearer nobody'));
    advance(10_001);
    await filter.check(req('/metrics', 'Bearer nobody'));
    expect(review.calls).toEqual(['TokenReview nobody', 'TokenReview nobody']);
    review.fail = 'POST /apis/authentication.k8s.io/v1/tokenreviews: no answer within 10000 ms';
    expect(await filter.check(req('/metrics', 'Bearer reader-token'))).toEqual({
      allowed: false,
      status: 500,
      message: "the caller's access could not be checked with the API server: POST /apis/authentication.k8s.io/v1/tokenreviews: no answer within 10000 ms",
    });
    review.fail = undefined;
    expect(await filter.check(req('/metrics', 'Bearer reader-token'))).toEqual({ allowed: true, user: reader.username });
  });

  it('the caches are bounded: the least recently used entry goes', async () => {
    const { filter, review } = setup({ maxEntries: 2 });
    for (const t of ['reader-token', 'a', 'b', 'reader-token']) await filter.check(req('/metrics', `Bearer ${t}`));
    expect(review.calls.filter((c) => c.startsWith('TokenReview'))).toEqual(['TokenReview reader-token', 'TokenReview a', 'TokenReview b', 'TokenReview reader-token']);
  });
});

interface Answer {
  status: number;
  body: string;
  cert: X509Certificate | undefined;
}

function get(port: number, path: string, opts: { token?: string; tls: boolean }): Promise<Answer> {
  if (!opts.tls)
    return fetch(`http://127.0.0.1:${port}${path}`, { headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} }).then(async (r) => ({ status: r.status, body: await r.text(), cert: undefined }));
  return new Promise((resolve, reject) => {
    // a fresh connection per request (agent: false): each shows the certificate served now
    const r = request({ host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false, headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} }, (res) => {
      let body = '';
      const raw = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().raw;
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert: raw ? new X509Certificate(raw) : undefined }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('the side ports', () => {
  let open: SidePorts | undefined;
  afterEach(async () => {
    for (const s of [open?.health, open?.metrics]) if (s?.listening) await new Promise((r) => s.close(r));
    open = undefined;
  });

  const listen = async (side: SidePorts): Promise<{ health: number; metrics: number }> => {
    open = side;
    const port = (s: SidePorts['health'] | SidePorts['metrics'], host: string) => new Promise<number>((r) => s.listen(0, host, () => r((s.address() as AddressInfo).port)));
    return { health: await port(side.health, '127.0.0.1'), metrics: await port(side.metrics, side.metricsHost) };
  };
  const checks = { ready: () => ({ ready: true, reasons: [] }), audit: () => ({ ran: true as const, document: { findings: ['in every namespace'] } }) };
  const logger = pino({ level: 'silent' });

  it('live mode: /metrics and /audit over HTTPS with the serving certificate, for RBAC-allowed callers; the probes plain and open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'side-ports-'));
    const first = await ensureServingCerts({ dir: join(dir, 'a'), service: 'mesh-admission', namespace: 'fsm-system', standalone: true });
    const review = new FakeReview({ 'reader-token': reader, 'tenant-token': tenant }, { [reader.username]: ['/metrics', '/audit'] });
    const metrics = new Metrics();
    const side = createSidePorts({ metrics, checks, logger, host: '127.0.0.1', insecureMetrics: false, accessReview: review, tls: { cert: first.cert, key: first.key, notAfter: first.notAfter } });
    expect(side.access).toBe('rbac');
    const ports = await listen(side);

    const anonymous = await get(ports.metrics, '/audit', { tls: true });
    expect(anonymous).toMatchObject({ status: 401, body: JSON.stringify({ code: 401, error: 'Unauthorized: a bearer token is required (Authorization: Bearer <token>)' }) });
    expect(anonymous.cert?.fingerprint256).toBe(new X509Certificate(first.cert).fingerprint256);
    expect(await get(ports.metrics, '/audit', { tls: true, token: 'tenant-token' })).toMatchObject({ status: 403, body: JSON.stringify({ code: 403, error: 'Forbidden: user "system:serviceaccount:shop:default" cannot get path "/audit"' }) });
    expect(await get(ports.metrics, '/audit', { tls: true, token: 'reader-token' })).toMatchObject({ status: 200, body: JSON.stringify({ findings: ['in every namespace'] }) });
    const scraped = await get(ports.metrics, '/metrics', { tls: true, token: 'reader-token' });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain('# TYPE mesh_admission_requests_total counter');
    // plain HTTP is not answered on the secured port
    await expect(fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).rejects.toThrow();
    // each port serves its own paths only
    expect(await get(ports.metrics, '/readyz', { tls: true, token: 'tenant-token' })).toMatchObject({ status: 403 });
    expect(await get(ports.health, '/readyz', { tls: false })).toMatchObject({ status: 200, body: JSON.stringify({ status: 'ready', reasons: [] }) });
    expect(await get(ports.health, '/healthz', { tls: false })).toMatchObject({ status: 200 });
    expect(await get(ports.health, '/audit', { tls: false })).toMatchObject({ status: 404, body: JSON.stringify({ code: 404, error: 'no such path "/audit" on this port: try /healthz or /readyz' }) });

    // a renewed serving certificate is served on the metrics port too
    const renewed = await ensureServingCerts({ dir: join(dir, 'b'), service: 'mesh-admission', namespace: 'fsm-system', standalone: true });
    side.setSecureContext({ cert: renewed.cert, key: renewed.key });
    expect((await get(ports.metrics, '/metrics', { tls: true, token: 'reader-token' })).cert?.fingerprint256).toBe(new X509Certificate(renewed.cert).fingerprint256);
  });

  it('standalone mode (no API server): plain HTTP on the loopback address only, whatever --host says', async () => {
    const side = createSidePorts({ metrics: new Metrics(), checks, logger, host: '0.0.0.0', insecureMetrics: false, tls: { cert: '', key: '', notAfter: new Date() } });
    expect(side).toMatchObject({ access: 'loopback', metricsHost: '127.0.0.1' });
    const ports = await listen(side);
    expect((await get(ports.metrics, '/metrics', { tls: false })).status).toBe(200);
    expect(createSidePorts({ metrics: new Metrics(), checks, logger, host: '::1', insecureMetrics: false, tls: { cert: '', key: '', notAfter: new Date() } }).metricsHost).toBe('::1');
  });

  it('--insecure-metrics: plain HTTP on --host for anyone, live mode too', async () => {
    const review = new FakeReview({}, {});
    const side = createSidePorts({ metrics: new Metrics(), checks, logger, host: '127.0.0.1', insecureMetrics: true, accessReview: review, tls: { cert: '', key: '', notAfter: new Date() } });
    expect(side).toMatchObject({ access: 'open', metricsHost: '127.0.0.1' });
    const ports = await listen(side);
    expect(await get(ports.metrics, '/audit', { tls: false })).toMatchObject({ status: 200 });
    expect(review.calls).toEqual([]);
  });
});
