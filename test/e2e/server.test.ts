// The whole server over real TLS: a client that trusts only the generated CA, every fixture, and hostile input.
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { startServer, type RunningServer } from '../../src/server/run.js';
import { client } from '../support/https-client.js';
import { fixtureFiles, loadFixture, REPO_ROOT, webhookPathFor } from '../support/fixtures.js';

let server: RunningServer;
let http: ReturnType<typeof client>;
let ca: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-e2e-'));
  server = await startServer(
    { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: join(dir, 'certs'), secretsDir: join(dir, 'secrets'), clusterState: join(REPO_ROOT, 'examples/cluster') },
    { logger: pino({ level: 'silent' }) },
  );
  ca = readFileSync(join(dir, 'certs/ca.crt'), 'utf8');
  http = client(ca, server.port);
});

afterAll(async () => {
  http?.close();
  await server?.shutdown(1, 0);
});

interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patch?: string; patchType?: string; warnings?: string[]; status?: { code: number; reason: string; message: string; details?: { causes: Array<{ reason: string; field: string; message: string }> } } };
}

const DENIED: Record<string, string[]> = {
  'plugin-create-priority-70000.json': ['spec.priority: Invalid value: 70000: must be an integer between 0 and 65535'],
  'plugin-create-dryrun-priority-70000.json': ['spec.priority: Invalid value: 70000: must be an integer between 0 and 65535'],
};

describe('every captured AdmissionReview', () => {
  for (const file of fixtureFiles()) {
    it(`${file}: answered in its own apiVersion with its uid`, async () => {
      const fx = loadFixture(file);
      const res = await http.post(`${webhookPathFor(file)}?timeout=10s`, fx.raw);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const answer = res.json() as Answer;
      expect(answer.apiVersion).toBe(fx.review.apiVersion);
      expect(answer.kind).toBe('AdmissionReview');
      expect(answer.response.uid).toBe(fx.review.request.uid);
      const denied = DENIED[file];
      if (denied) {
        expect(answer.response.allowed).toBe(false);
        expect(answer.response.status?.code).toBe(422);
        expect(answer.response.status?.reason).toBe('Invalid');
        expect(answer.response.status?.details?.causes.map((c) => `${c.field}: ${c.message}`)).toEqual(denied);
        // metav1.StatusCause's JSON key for the type is "reason": a "type" key is dropped by the API server's decoder
        expect(answer.response.status?.details?.causes.map((c) => Object.keys(c).sort())).toEqual(denied.map(() => ['field', 'message', 'reason']));
        expect(answer.response.status?.message).toBe(`Plugin "deny-a" is invalid: ${denied.join('; ')}`);
      } else {
        expect(answer.response, JSON.stringify(answer.response)).toMatchObject({ allowed: true });
        expect(answer.response.status).toBeUndefined();
      }
    });
  }

  it('answers a v1beta1 review in v1beta1', async () => {
    const fx = loadFixture('pod-create-v1beta1.json');
    expect(fx.review.apiVersion).toBe('admission.k8s.io/v1beta1');
    const answer = (await http.post('/mutate-pod-creation', fx.raw)).json() as Answer;
    expect(answer.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(answer.response.uid).toBe(fx.review.request.uid);
  });

  it('gives a dry-run request the same answer as the real one', async () => {
    const real = (await http.post('/validate', loadFixture('plugin-create-priority-70000.json').raw)).json() as Answer;
    const dry = (await http.post('/validate', loadFixture('plugin-create-dryrun-priority-70000.json').raw)).json() as Answer;
    expect({ ...dry.response, uid: '' }).toEqual({ ...real.response, uid: '' });
  });

  it('admits a kind it does not know, with a warning', async () => {
    const fx = loadFixture('plugin-create.json');
    fx.review.request.kind = { group: 'example.com', kind: 'Widget' } as never;
    const answer = (await http.post('/validate', fx.review)).json() as Answer;
    expect(answer.response.allowed).toBe(true);
    expect(answer.response.warnings).toEqual(['Widget.example.com is not a kind this webhook validates; admitted without checks']);
  });
});

describe('HTTP contract', () => {
  const valid = () => loadFixture('plugin-create.json').raw;

  it('404 with a JSON body on any other path', async () => {
    const res = await http.post('/nope', valid());
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ code: 404 });
  });

  it('405 for methods other than POST on the webhook paths', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await http.send(method, '/validate');
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('POST');
    }
    expect((await http.send('GET', '/mutate-pod-creation')).status).toBe(405);
  });

  it('415 unless the body is JSON; charset parameters are fine', async () => {
    expect((await http.post('/validate', valid(), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await http.post('/validate', valid(), { 'content-type': 'application/yaml' })).status).toBe(415);
    expect((await http.post('/validate', valid(), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('400 for an empty body', async () => {
    const res = await http.post('/validate', '');
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ code: 400, error: 'empty request body: expected an AdmissionReview' });
  });

  it('400 with a one-line reason for truncated JSON, wrong types and non-reviews', async () => {
    const raw = valid();
    const cases: Array<[string, string]> = [
      [raw.slice(0, raw.length / 2), 'malformed JSON'],
      ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"x"}', 'AdmissionReview has no request object'],
      ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}', 'AdmissionReview request has no uid'],
      ['{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', 'AdmissionReview has no request object'],
      ['{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"u"}}', 'unsupported AdmissionReview apiVersion'],
      ['{"apiVersion":"v1","kind":"Pod"}', 'body is not an AdmissionReview'],
      ['[1,2,3]', 'body is not an AdmissionReview object'],
      ['null', 'body is not an AdmissionReview object'],
      ['"AdmissionReview"', 'body is not an AdmissionReview object'],
    ];
    for (const [body, reason] of cases) {
      const res = await http.post('/validate', body);
      expect(res.status, body.slice(0, 60)).toBe(400);
      const err = (res.json() as { error: string }).error;
      expect(err).toContain(reason);
      expect(err).not.toContain('\n');
    }
  });

  it('413 for a 9 MiB body, and the server keeps answering', async () => {
    const body = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big","object":{"data":"${'x'.repeat(9 * 1024 * 1024)}"}}}`;
    const res = await http.post('/validate', body).catch((err: Error) => ({ status: -1, text: err.message }));
    expect(res.status).toBe(413);
    expect((await http.post('/validate', valid())).status).toBe(200);
  });

  it('accepts a body of just under 7 MiB (object + oldObject of 3 MiB each)', async () => {
    const fx = loadFixture('plugin-update.json');
    const big = 'y'.repeat(3 * 1024 * 1024);
    (fx.review.request.object as { metadata: { annotations: Record<string, string> } }).metadata.annotations.big = big;
    (fx.review.request.oldObject as { metadata: { annotations: Record<string, string> } }).metadata.annotations.big = big;
    const res = await http.post('/validate', fx.review);
    expect(res.status).toBe(200);
    expect((res.json() as Answer).response.uid).toBe(fx.review.request.uid);
  });

  it('rejects absurdly deep nesting without a stack overflow', async () => {
    const depth = 200_000;
    const body = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","object":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const res = await http.post('/validate', body);
    expect(res.status).toBe(400);
    expect((res.json() as { error: string }).error).toBe('rejected body: JSON nesting deeper than 256 levels');
  });

  it('treats __proto__ keys as data: no prototype pollution, an answer with the uid', async () => {
    const fx = loadFixture('plugin-create.json');
    const body = fx.raw.replace('"spec":', '"__proto__":{"polluted":"yes","allowed":true},"constructor":{"prototype":{"polluted":"yes"}},"spec":');
    const res = await http.post('/validate', body);
    expect(res.status).toBe(200);
    expect((res.json() as Answer).response.uid).toBe(fx.review.request.uid);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const hostile = '{"__proto__":{"kind":"AdmissionReview"},"apiVersion":"admission.k8s.io/v1","request":{"uid":"p"}}';
    expect((await http.post('/validate', hostile)).status).toBe(400);
  });

  it('denies, with the uid, a request whose object is missing on CREATE', async () => {
    const body = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'no-object', kind: { group: 'plugin.flomesh.io', version: 'v1alpha1', kind: 'Plugin' }, operation: 'CREATE', object: null } };
    const answer = (await http.post('/validate', body)).json() as Answer;
    expect(answer.response).toMatchObject({ uid: 'no-object', allowed: false, status: { code: 400, message: 'request.object is missing for CREATE' } });
  });

  it('answers objects of the wrong shape with causes, not a crash', async () => {
    const fx = loadFixture('plugin-create.json');
    const obj = fx.review.request.object as Record<string, unknown>;
    for (const spec of [null, 'string', 42, [1, 2], { priority: { nested: true }, pipyscript: ['a'] }]) {
      obj.spec = spec;
      const res = await http.post('/validate', fx.review);
      expect(res.status).toBe(200);
      const answer = res.json() as Answer;
      expect(answer.response.uid).toBe(fx.review.request.uid);
      expect(answer.response.allowed).toBe(false);
    }
  });

  it('is still healthy after all of the above', async () => {
    const res = await http.post('/validate?timeout=5s', valid());
    expect(res.status).toBe(200);
    expect((res.json() as Answer).response.allowed).toBe(true);
  });
});

describe('TLS', () => {
  it('serves a certificate for localhost and 127.0.0.1 signed by the generated CA', async () => {
    const local = client(ca, server.port, 'localhost');
    expect((await local.post('/validate', loadFixture('plugin-create.json').raw)).status).toBe(200);
    local.close();
  });

  it('is refused by a client that does not trust the CA', async () => {
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: server.port, servername: 'localhost' }, () => {
        s.end();
        resolve(undefined);
      });
      s.on('error', resolve);
    });
    expect(err?.message).toMatch(/self[- ]signed|unable to (get|verify)/i);
  });

  it('offers an ECDSA P-256 leaf', async () => {
    const cert = await new Promise<{ asn1Curve?: string; pubkey?: Buffer; bits?: number }>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' }, () => {
        const c = s.getPeerCertificate() as unknown as { asn1Curve?: string; bits?: number };
        s.end();
        resolve(c);
      });
      s.on('error', reject);
    });
    expect(cert.asn1Curve).toBe('prime256v1');
  });
});

describe('health and metrics port', () => {
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${path === '/healthz' || path === '/readyz' ? server.healthPort : server.metricsPort}${path}`);
    return { status: res.status, text: await res.text() };
  };

  it('/healthz and /readyz answer 200 once the state is loaded', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: 'ready', reasons: [] });
  });

  it('/metrics exports the metrics README.md lists', async () => {
    const { status, text } = await get('/metrics');
    expect(status).toBe(200);
    for (const name of ['mesh_admission_requests_total', 'mesh_admission_duration_seconds', 'mesh_injection_total', 'mesh_validation_denials_total', 'mesh_certificate_expiry_timestamp_seconds', 'mesh_informer_last_event_age_seconds', 'mesh_informer_synced_since_timestamp_seconds', 'mesh_bootstrap_secrets_total', 'mesh_bootstrap_secret_failures_total', 'mesh_bootstrap_secret_seconds'])
      expect(text).toContain(`# TYPE ${name} `);
    expect(text).toMatch(/mesh_admission_requests_total\{webhook="validate",kind="Plugin",operation="CREATE",allowed="false",dry_run="true"\} [1-9]/);
    expect(text).toMatch(/mesh_validation_denials_total\{kind="Plugin",rule="plugin-priority-range"\} [1-9]/);
    expect(text).toMatch(/mesh_certificate_expiry_timestamp_seconds\{cert="serving"\} \d+/);
  });

  it('404 elsewhere', async () => {
    expect((await get('/nope')).status).toBe(404);
  });

  it('the probes and the metrics each on their own port; standalone serves /metrics plain on loopback (no API server to ask)', async () => {
    expect(server.metricsAccess).toBe('loopback');
    expect(server.healthPort).not.toBe(server.metricsPort);
    expect((await fetch(`http://127.0.0.1:${server.healthPort}/metrics`)).status).toBe(404);
    expect(await (await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`)).json()).toEqual({ code: 404, error: 'no such path "/readyz" on this port: try /metrics or /audit' });
  });
});
