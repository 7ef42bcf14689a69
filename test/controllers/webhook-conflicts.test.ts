// The conflict watcher over the fake API server: every webhook configuration followed read-only; each change to the
// set of conflicts reported once (an error line per new or changed conflict, an info line per one gone, the onChange
// hook), a change that leaves the set as it is reported not at all, namespaces joining the mesh picked up by the
// re-check, and the caBundle never kept.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { slimConfiguration, WebhookConflictWatcher } from '../../src/controllers/webhook-conflicts.js';
import { KubeHttp } from '../../src/kube/http.js';
import { webhookConfigurations } from '../../src/install/webhook-config.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import type { WebhookConflict } from '../../src/mesh/webhook-conflicts.js';
import { FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';

const mesh = meshIdentity('fsm');
const ADM = 'admissionregistration.k8s.io/v1';
const OWN = { mutating: 'mesh-admission-fsm', validating: 'mesh-admission-fsm', service: { name: 'mesh-admission', namespace: 'fsm-system' } };
const ns = (name: string, monitored = true): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...(monitored ? { 'flomesh.io/monitored-by': 'fsm' } : {}) } } });

const injectorConfig = (): Obj => ({
  apiVersion: ADM,
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: 'fsm-webhook-fsm', labels: { app: 'fsm-injector' } },
  webhooks: [
    {
      name: 'fsm-inject.k8s.io',
      clientConfig: { service: { name: 'fsm-injector', namespace: 'fsm-system', path: '/mutate-pod-creation', port: 9090 }, caBundle: Buffer.from('-----BEGIN CERTIFICATE-----').toString('base64') },
      namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } },
      rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['v1'], resources: ['pods'] }],
      sideEffects: 'NoneOnDryRun',
      admissionReviewVersions: ['v1'],
    },
  ],
});
const validatorConfig = (): Obj => ({
  apiVersion: ADM,
  kind: 'ValidatingWebhookConfiguration',
  metadata: { name: 'fsm-validator-mesh-fsm' },
  webhooks: [{ name: 'fsm-validator.k8s.io', clientConfig: { service: { name: 'fsm-validator', namespace: 'fsm-system' } }, rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['policy.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['egresses'] }], sideEffects: 'None', admissionReviewVersions: ['v1'] }],
});

describe('WebhookConflictWatcher', () => {
  let api: FakeApiServer;
  let http: KubeHttp;
  let watcher: WebhookConflictWatcher | undefined;

  afterEach(async () => {
    await watcher?.stop();
    http?.close();
    await api?.close();
  });

  async function start(namespaces: KubeObject[], opts: { viewReady?: () => boolean } = {}) {
    api = await FakeApiServer.start();
    // this server's own configurations, as installed (another injector conflicts only with an injecting server)
    const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: 'fsm-system' } } });
    api.addObject(mutating as unknown as Obj);
    api.addObject(validating as unknown as Obj);
    http = new KubeHttp(api.kubeConfig());
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string }), cb()) });
    const changes: Array<readonly WebhookConflict[]> = [];
    watcher = new WebhookConflictWatcher({ http, logger: pino({ level: 'info' }, sink), mesh, own: OWN, namespaces: () => namespaces, viewReady: opts.viewReady ?? (() => true), onChange: (c) => changes.push(c), recheckMs: 20 });
    watcher.start();
    const messages = (level: number) => lines.filter((l) => l.level === level).map((l) => l.msg);
    return { lines, changes, errors: () => messages(50), infos: () => messages(30) };
  }

  it('reports each change once: a new conflict, a namespace joining, a change that alters nothing, a removal', async () => {
    const namespaces = [ns('apps'), ns('plain', false)];
    const { changes, errors, infos } = await start(namespaces);
    api.addObject(injectorConfig());
    await waitFor(() => changes.length === 1, { what: 'the conflict' });
    expect(changes[0]!.map((c) => [c.configuration, c.kind, c.namespaces])).toEqual([['fsm-webhook-fsm', 'mesh-injector', ['apps']]]);
    expect(errors()).toEqual([`conflicting webhook: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${changes[0]![0]!.message}`]);

    // a namespace joins the mesh: found by the re-check, said again with the namespaces it now covers
    namespaces.push(ns('web'));
    await waitFor(() => changes.length === 2, { what: 'the namespace to be picked up' });
    expect(changes[1]![0]!.namespaces).toEqual(['apps', 'web']);
    expect(errors()).toHaveLength(2);

    // an edit that changes no conflict (a label), then one that adds a validator: only the second is reported
    api.modifyObject(ADM, 'MutatingWebhookConfiguration', undefined, 'fsm-webhook-fsm', (o) => void ((o.metadata as { labels: Record<string, string> }).labels.extra = 'x'));
    await waitFor(() => watcher!.configurations()?.mutating.find((c) => c.metadata?.name === 'fsm-webhook-fsm')?.metadata?.labels?.extra === 'x', { what: 'the edit to be seen' });
    api.addObject(validatorConfig());
    await waitFor(() => changes.length === 3, { what: 'the validator' });
    expect(changes[2]!.map((c) => c.configuration)).toEqual(['fsm-webhook-fsm', 'fsm-validator-mesh-fsm']);
    expect(errors()).toHaveLength(3);
    expect(errors()[2]).toMatch(/^conflicting webhook: ValidatingWebhookConfiguration fsm-validator-mesh-fsm \(fsm-validator\.k8s\.io\): also validates Egress/);
    expect(infos().filter((m) => m.startsWith('conflicting webhook gone'))).toEqual([]);

    api.deleteObject(ADM, 'MutatingWebhookConfiguration', undefined, 'fsm-webhook-fsm');
    await waitFor(() => changes.length === 4, { what: 'the removal' });
    expect(changes[3]!.map((c) => c.configuration)).toEqual(['fsm-validator-mesh-fsm']);
    expect(infos().filter((m) => m.startsWith('conflicting webhook gone'))).toEqual(['conflicting webhook gone: MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io)']);
    expect(errors()).toHaveLength(3);
    // read-only: lists and watches, nothing else
    expect(new Set(api.requestsFor().filter((r) => r.resource?.endsWith('webhookconfigurations')).map((r) => r.verb))).toEqual(new Set(['list', 'watch']));
  });

  it('judges nothing until the view holds the cluster; then tells which mutators a namespace\'s pods meet', async () => {
    let synced = false;
    const { changes } = await start([ns('apps')], { viewReady: () => synced });
    api.addObject(injectorConfig());
    await waitFor(() => watcher!.hasListed() && watcher!.configurations()?.mutating.length === 2, { what: 'the configuration listed' });
    expect(watcher!.podMutators(ns('apps'))).toMatchObject([{ configuration: 'fsm-webhook-fsm', meshInjector: true, calledBefore: true }]);
    expect(watcher!.podMutators(ns('plain', false))).toEqual([]);
    expect(changes).toEqual([]);
    expect(watcher!.conflicts()).toEqual([]);
    synced = true;
    await waitFor(() => changes.length === 1, { what: 'the first judgement' });
  });

  it('keeps no caBundle', () => {
    const slim = slimConfiguration(injectorConfig() as KubeObject) as { webhooks: Array<{ clientConfig: Record<string, unknown> }> };
    expect(slim.webhooks[0]!.clientConfig).toEqual({ service: { name: 'fsm-injector', namespace: 'fsm-system', path: '/mutate-pod-creation', port: 9090 } });
  });
});
