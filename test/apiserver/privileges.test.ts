// Least privilege from the real authorizer, and the serving CA rotated under load. The API server writes an audit
// entry for every request of the install's ServiceAccount. The server starts from a serving Secret whose CA is near
// the end of its life: within its first minutes it renews the leaf, adds a new CA to the published bundle, then
// serves a leaf signed by the new CA, all while pods are created; not one admission fails. Meanwhile it is made to
// use every permission it has (a quota refusal writes an Event, a pod in a namespace its cache has not seen yet is
// admitted after a live read, a scrape of /metrics has its caller reviewed). Then every request it made was allowed,
// and every verb the generated roles grant was used by some request.
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issueCA, issueLeaf } from '../../src/certs/issue.js';
import { serviceDnsNames } from '../../src/certs/serving.js';
import { clusterRoleRules, meshNamespaceRoleRules } from '../../src/install/rbac.js';
import { servingSecretName } from '../../src/mesh/names.js';
import { client } from '../support/https-client.js';
import { describeApiServer, plainPod, podLoad, TestCluster, waitFor, type AuditEvent, type ServerProcess } from './harness.js';

const SERVER_USER = 'system:serviceaccount:fsm-system:mesh-admission';
let cluster: TestCluster;
let server: ServerProcess;
let oldCa: string;

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const serverEvents = (): AuditEvent[] => cluster.cp.auditEvents().filter((e) => e.user.username === SERVER_USER);

/** The certificate the server presents on a new TLS connection. */
function servedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(new X509Certificate(raw));
    });
    socket.once('error', reject);
  });
}

describeApiServer('least privilege and a serving CA rotated under load', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ allGroups: true, auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [SERVER_USER] }, { level: 'None' }] } });
    await cluster.meshNamespace('apps');
    await cluster.meshNamespace('quota');
    await cluster.admin.create({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'no-secrets', namespace: 'quota' }, spec: { hard: { 'count/secrets': '0' } } });
    // the serving Secret as another replica would have left it, its CA at 60 % of a 330 s life: past 2/3 in 20 s,
    // and within 2 check periods (2 min) of its end soon after, when the next CA must take over
    const now = Date.now();
    const ca = await issueCA('mesh-admission.fsm-system-ca-old', { notBefore: new Date(now - 200_000), notAfter: new Date(now + 130_000) });
    const names = serviceDnsNames('mesh-admission', 'fsm-system', false);
    const leaf = await issueLeaf(ca, { commonName: 'mesh-admission.fsm-system.svc', dnsNames: names.dns, ips: ['127.0.0.1'], usage: 'server', notBefore: new Date(now - 200_000), notAfter: new Date(now + 130_000) });
    oldCa = ca.cert;
    await cluster.admin.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: servingSecretName(cluster.mesh), namespace: 'fsm-system' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(leaf.cert), 'tls.key': b64(leaf.key), 'ca.crt': b64(ca.cert), 'ca-signing.crt': b64(ca.cert), 'ca-signing.key': b64(ca.key) },
    });
    server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('rotates the serving CA under load without one failed admission', async () => {
    const first = await servedCertificate(server.port);
    expect(first.checkIssued(new X509Certificate(oldCa))).toBe(true);
    let stop!: () => void;
    const load = podLoad(cluster.admin, 'apps', 4, new Promise<void>((r) => (stop = r)), plainPod('apps', ''), 100);
    // a leaf from a CA other than the old one: both rotation steps are done
    const rotated = await waitFor(
      async () => {
        const c = await servedCertificate(server.port);
        return c.checkIssued(new X509Certificate(oldCa)) ? undefined : c;
      },
      { timeoutMs: 170_000, intervalMs: 1000, what: 'a leaf signed by the new CA' },
    );
    // more admissions with the new leaf, over new connections too
    await waitFor(() => server.logs().filter((l) => String(l.msg).startsWith('CA rotated')).length > 0, { what: 'the rotation logged' });
    const settleUntil = Date.now() + 5000;
    await waitFor(() => Date.now() >= settleUntil, { timeoutMs: 10_000, intervalMs: 100, what: '5 s more load' });
    stop();
    const { created, failures } = await load;
    expect(failures).toEqual([]);
    expect(created.length).toBeGreaterThan(100);
    expect(rotated.fingerprint256).not.toBe(first.fingerprint256);
    // the metrics port serves the renewed certificate too, and answers a scrape (a TokenReview and a SubjectAccessReview)
    expect((await servedCertificate(server.metricsPort)).fingerprint256).toBe((await servedCertificate(server.port)).fingerprint256);
    expect(await server.metrics()).toContain('# TYPE mesh_certificate_expiry_timestamp_seconds gauge');
    const log = server.logs().map((l) => String(l.msg));
    expect(log.filter((m) => m.startsWith('CA rotation started'))).toHaveLength(1);
    // the published bundle holds the old CA (leaves it signed are still valid) and the new one
    const config = await cluster.admin.get('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/mesh-admission-fsm');
    const bundle = Buffer.from((config!.webhooks as Array<{ clientConfig: { caBundle: string } }>)[0]!.clientConfig.caBundle, 'base64').toString();
    expect(bundle).toContain(oldCa.trim().split('\n')[1]);
    expect(rotated.checkIssued(new X509Certificate(bundle.slice(bundle.indexOf('-----BEGIN', 10))))).toBe(true);
  });

  it('uses every permission it is granted and is refused nothing', async () => {
    // a quota refusal: the Warning Event
    await cluster.admin.create(plainPod('quota', 'refused'));
    await waitFor(async () => (await cluster.admin.list('/api/v1/namespaces/quota/events')).some((e) => e.reason === 'BootstrapSecretFailed'), { what: 'the Warning Event' });
    // a pod in a namespace the cache does not hold is decided after a live read of the namespace (through the API
    // server, the namespace's own watch event nearly always arrives first; here the review is sent directly)
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'direct-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'not-seen-yet', operation: 'CREATE', userInfo: { username: 'test' }, object: plainPod('not-seen-yet', 'p'), dryRun: false } };
    const config = await cluster.admin.get('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/mesh-admission-fsm');
    const trust = Buffer.from((config!.webhooks as Array<{ clientConfig: { caBundle: string } }>)[0]!.clientConfig.caBundle, 'base64').toString();
    const http = client(trust, server.port);
    const answer = await http.post('/mutate-pod-creation', review);
    http.close();
    expect(answer.status).toBe(200);
    expect((answer.json() as { response: { uid: string; allowed: boolean } }).response).toMatchObject({ uid: 'direct-1', allowed: true });
    await waitFor(() => serverEvents().some((e) => e.verb === 'get' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === 'not-seen-yet'), { what: 'the live read of the namespace' });

    const events = serverEvents();
    // the authorizer allowed everything; the only 403s are the quota's (an admission plugin, after authorization)
    const refused = events.filter((e) => e.annotations?.['authorization.k8s.io/decision'] !== 'allow');
    expect(refused.map((e) => `${e.verb} ${e.requestURI} ${e.responseStatus?.code}`)).toEqual([]);
    expect(new Set(events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.objectRef?.resource} in ${e.objectRef?.namespace}`))).toEqual(new Set(['create secrets in quota']));
    const used = new Set(events.map((e) => `${e.objectRef?.apiGroup ?? ''}|${e.objectRef?.resource ?? ''}|${e.verb}|${e.objectRef?.name ?? ''}`));
    const isUsed = (group: string, resource: string, verb: string, name: string | undefined): boolean =>
      [...used].some((u) => {
        const [g, r, v, n] = u.split('|');
        return g === group && r === resource && v === verb && (name === undefined || n === name);
      });
    const unused: string[] = [];
    for (const rule of [...clusterRoleRules(cluster.mesh), ...meshNamespaceRoleRules(cluster.mesh)])
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs ?? [])
            for (const name of rule.resourceNames ?? [undefined])
              if (!isUsed(group, resource, verb, name)) unused.push(`${verb} ${group}/${resource}${name ? `/${name}` : ''}`);
    expect(unused).toEqual([]);
  });
});
