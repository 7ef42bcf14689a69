// The mutating webhook end to end over real TLS: patches that apply, bootstrap Secrets written and verifiable against
// the mesh CA, nothing written on dryRun, no second injection on reinvocation.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import fastJsonPatch from 'fast-json-patch';
import pino from 'pino';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_DEFAULTS } from '../../src/server/options.js';
import { startServer, type RunningServer } from '../../src/server/run.js';
import { client } from '../support/https-client.js';
import { loadFixture, REPO_ROOT } from '../support/fixtures.js';

let server: RunningServer;
let http: ReturnType<typeof client>;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-admission-mutate-'));
  server = await startServer(
    { ...SERVE_DEFAULTS, port: 0, metricsPort: 0, healthPort: 0, host: '127.0.0.1', certsDir: join(dir, 'certs'), secretsDir: join(dir, 'secrets'), clusterState: join(REPO_ROOT, 'examples/cluster') },
    { logger: pino({ level: 'silent' }) },
  );
  http = client(readFileSync(join(dir, 'certs/ca.crt'), 'utf8'), server.port);
});

afterAll(async () => {
  http?.close();
  await server?.shutdown(1, 0);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  apiVersion: string;
  response: { uid: string; allowed: boolean; patch?: string; patchType?: string; warnings?: string[]; status?: { code: number; message: string } };
}

const patchOf = (a: Answer) => JSON.parse(Buffer.from(a.response.patch ?? '', 'base64').toString('utf8')) as fastJsonPatch.Operation[];
const secretsIn = (ns: string): string[] => (existsSync(join(dir, 'secrets', ns)) ? readdirSync(join(dir, 'secrets', ns)) : []);

describe('mutating webhook', () => {
  it('injects a ReplicaSet pod and writes its bootstrap Secret, signed by the mesh CA', async () => {
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const res = await http.post('/mutate-pod-creation?timeout=10s', fx.raw);
    const answer = res.json() as Answer;
    expect(answer.response).toMatchObject({ uid: fx.review.request.uid, allowed: true, patchType: 'JSONPatch' });
    const pod = fastJsonPatch.applyPatch(structuredClone(fx.review.request.object), patchOf(answer), true, false).newDocument as V1Pod;
    const uuid = pod.metadata?.labels?.['fsm-proxy-uuid'];
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['sidecar', 'curl']);
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['fsm-init']);
    // The projected service-account volume the API server added is kept, the bootstrap volume appended.
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual([...(fx.review.request.object as unknown as V1Pod).spec!.volumes!.map((v) => v.name), 'sidecar-bootstrap-config-volume']);

    const file = join(dir, 'secrets', 'curl', `sidecar-bootstrap-config-${uuid}.yaml`);
    const secret = parse(readFileSync(file, 'utf8')) as { metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(secret.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm', 'fsm-proxy-uuid': uuid });
    const text = (k: string) => Buffer.from(secret.data[k] ?? '', 'base64').toString('utf8');
    const leaf = new X509Certificate(text('repo_cert.pem'));
    const ca = new X509Certificate(readFileSync(join(dir, 'certs', 'mesh-ca.crt'), 'utf8'));
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subject).toBe(`CN=${uuid}.sidecar.curl.curl.cluster.local`);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(JSON.parse(text('bootstrap.yaml'))).toMatchObject({ RepoHost: 'fsm-controller.fsm-system.svc.cluster.local', RepoPort: 6060, NodeID: `${uuid}.sidecar.curl.curl.cluster.local` });
    expect(text('cacert.pem')).toContain('BEGIN CERTIFICATE');
  });

  it('a second admission of the injected pod is a no-op', async () => {
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const first = (await http.post('/mutate-pod-creation', fx.raw)).json() as Answer;
    const injected = fastJsonPatch.applyPatch(structuredClone(fx.review.request.object), patchOf(first), true, false).newDocument;
    const before = secretsIn('curl').length;
    const again = (await http.post('/mutate-pod-creation', { ...fx.review, request: { ...fx.review.request, uid: 'again', object: injected } })).json() as Answer;
    expect(again.response).toEqual({ uid: 'again', allowed: true });
    expect(secretsIn('curl').length).toBe(before);
  });

  it('dryRun: the same kind of patch, but no Secret written', async () => {
    const fx = loadFixture('pod-create-dryrun-v1.json');
    expect(fx.review.request.dryRun).toBe(true);
    const answer = (await http.post('/mutate-pod-creation', fx.raw)).json() as Answer;
    expect(answer.response.allowed).toBe(true);
    const ops = patchOf(answer);
    expect(ops.map((o) => o.path)).toContain('/spec/initContainers');
    const uuid = (ops.find((o) => o.path === '/metadata/labels/fsm-proxy-uuid') as { value: string }).value;
    expect(secretsIn('httpbin')).not.toContain(`sidecar-bootstrap-config-${uuid}.yaml`);
  });

  it('rewrites the probes of the probes fixture and honours its exclusion annotation', async () => {
    const fx = loadFixture('pod-create-probes-annotations-v1.json');
    const answer = (await http.post('/mutate-pod-creation', fx.raw)).json() as Answer;
    const pod = fastJsonPatch.applyPatch(structuredClone(fx.review.request.object), patchOf(answer), true, false).newDocument as V1Pod;
    const app = pod.spec?.containers.find((c) => c.name !== 'sidecar' && c.name !== 'fsm-healthcheck');
    expect(app?.livenessProbe?.httpGet?.port).toBe(15901);
    expect(app?.readinessProbe?.httpGet?.port).toBe(15904);
    expect(pod.spec?.initContainers?.[0]?.args?.[1]).toContain('-A FSM_PROXY_OUTBOUND -p tcp --match multiport --dports 6379,5432 -j RETURN');
  });

  it('answers a v1beta1 pod in v1beta1 and leaves an unmonitored namespace alone', async () => {
    const fx = loadFixture('pod-create-v1beta1.json');
    const answer = (await http.post('/mutate-pod-creation', fx.raw)).json() as Answer;
    expect(answer.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(answer.response.uid).toBe(fx.review.request.uid);
    expect(answer.response.patch).toBeUndefined();
    // The pod did not ask for injection itself, so the skip is logged and counted but not a warning.
    expect(answer.response).toEqual({ uid: fx.review.request.uid, allowed: true });
  });

  it('denies an invalid annotation with the uid and the reason, writing nothing', async () => {
    const fx = loadFixture('pod-create-from-replicaset-v1.json');
    const obj = structuredClone(fx.review.request.object) as { metadata: { annotations?: Record<string, string> } };
    obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), 'flomesh.io/inbound-port-exclusion-list': '80,99999' };
    const before = secretsIn('curl').length;
    const answer = (await http.post('/mutate-pod-creation', { ...fx.review, request: { ...fx.review.request, object: obj } })).json() as Answer;
    expect(answer.response).toMatchObject({ uid: fx.review.request.uid, allowed: false, status: { code: 400 } });
    expect(answer.response.status?.message).toMatch(/^Invalid port value '99999' specified for annotation 'flomesh.io\/inbound-port-exclusion-list' on Pod curl\/curl-/);
    expect(secretsIn('curl').length).toBe(before);
  });

  it('counts injections by result and reason', async () => {
    const res = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/mesh_injection_total\{result="injected",reason="classic"\} [1-9]/);
    expect(text).toMatch(/mesh_injection_total\{result="skipped",reason="not-monitored"\} [1-9]/);
    expect(text).toMatch(/mesh_injection_total\{result="denied",reason="invalid-annotation"\} [1-9]/);
    expect(text).toMatch(/mesh_certificate_expiry_timestamp_seconds\{cert="mesh-ca"\} \d+/);
  });
});
