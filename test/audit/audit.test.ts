// The audit engine: existing objects judged as if created now (the same causes as a denial), and pods compared with
// what the injector would do now. Every finding asserted whole: severity, object, rule, field and message.
import { describe, expect, it } from 'vitest';
import { audit, auditSteps, meshNamespaces, type AuditInput, type Finding } from '../../src/audit/audit.js';
import { auditJson, formatAuditText } from '../../src/audit/report.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { loadStaticView } from '../../src/cluster/static.js';
import { bootstrapSecretName } from '../../src/mesh/names.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { validate } from '../../src/validator/validate.js';
import { applied, meshConfigObject, namespace, plan, pod, UUID, UUID2 } from '../injector/helpers.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { join } from 'node:path';

const mesh = meshIdentity('fsm');
const injector = { mesh, sidecarMode: 'classic' as const };
const NOW = Date.parse('2026-12-01T12:00:00Z');
const OLD = '2026-12-01T11:00:00Z';

const plugin = (name: string, priority = 7001): KubeObject => ({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name }, spec: { priority, pipyscript: 'pipy()' } });
const chain = (ns: string, name: string, plugins: string[]): KubeObject => ({
  apiVersion: 'plugin.flomesh.io/v1alpha1',
  kind: 'PluginChain',
  metadata: { name, namespace: ns },
  spec: { chains: [{ name: 'inbound-http', plugins }], selectors: { podSelector: { matchLabels: { app: 'web' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
});
const gtp = (ns: string, name: string, key: string): KubeObject => ({
  apiVersion: 'flomesh.io/v1alpha1',
  kind: 'GlobalTrafficPolicy',
  metadata: { name, namespace: ns },
  spec: { lbType: 'FailOver', targets: [{ clusterKey: key }] },
});
const serviceImport = (ns: string, name: string, key: string): KubeObject => ({
  apiVersion: 'flomesh.io/v1alpha1',
  kind: 'ServiceImport',
  metadata: { name, namespace: ns },
  spec: { type: 'ClusterSetIP', ports: [{ port: 80, protocol: 'TCP', endpoints: [{ clusterKey: key, target: { host: 'h', ip: '10.0.0.1', port: 80 } }] }] },
});

/** A pod as the API server stores it after injection with `uuid` (named, in `ns`, created an hour ago). */
function injectedPod(name: string, ns: string, uuid: string, extra: Parameters<typeof pod>[0] = {}): KubeObject {
  const p = pod(extra);
  const result = plan(p, { nsName: ns, uuid });
  const out = applied(p, result);
  out.metadata = { ...out.metadata, name, namespace: ns, creationTimestamp: OLD };
  return out;
}

function plainPod(name: string, ns: string, extra: Parameters<typeof pod>[0] = {}, status?: Record<string, unknown>): KubeObject {
  const p = pod(extra);
  p.metadata = { ...p.metadata, name, namespace: ns, creationTimestamp: OLD };
  if (status) p.status = status;
  return p;
}

function run(objects: KubeObject[], pods: KubeObject[], extra: Partial<AuditInput> = {}): ReturnType<typeof audit> {
  const view = new MemoryView(objects.map(placeManifest));
  return audit({ view, pods, now: NOW, bootstrapSecrets: new Set(), ...extra }, { mesh, injector });
}

const apps = namespace('apps');

describe('audit: policy objects', () => {
  it('reports what the validator would deny now, with the denial\'s rule, field and message', () => {
    const objects = [apps, serviceImport('apps', 'web', 'default/default/default/c1'), gtp('apps', 'web', 'default/default/default/c2'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'apps' }, spec: { ports: [{ port: 80 }] } }];
    const report = run(objects, []);
    const view = new MemoryView(objects.map(placeManifest));
    const denial = validate({ operation: 'CREATE', kind: { group: 'flomesh.io', kind: 'GlobalTrafficPolicy' }, object: gtp('apps', 'web', 'default/default/default/c2') }, view, mesh);
    expect(denial.allowed).toBe(false);
    expect(report.findings).toEqual(
      denial.errors.map((e): Finding => ({ severity: 'error', kind: 'GlobalTrafficPolicy', group: 'flomesh.io', namespace: 'apps', name: 'web', rule: e.rule, field: e.field, message: e.message })),
    );
    expect(report.findings[0]).toMatchObject({ rule: 'gtp-cluster-key-reference', field: 'spec.targets[0].clusterKey' });
  });

  it('reports dangling references as warnings, and leaves out placement notes', () => {
    const report = run([apps, plugin('a', 7777), plugin('b', 7777), chain('apps', 'c', ['a', 'b', 'gone'])], []);
    expect(report.findings.map((f) => [f.severity, `${f.kind} ${f.namespace}/${f.name}`, f.rule, f.field])).toEqual([
      ['warning', 'Plugin /a', 'plugin-priority-tie', 'spec.priority'],
      ['warning', 'Plugin /b', 'plugin-priority-tie', 'spec.priority'],
      ['warning', 'PluginChain apps/c', 'pluginchain-priority-tie', 'spec.chains[0].plugins[0]'],
      ['warning', 'PluginChain apps/c', 'pluginchain-priority-tie', 'spec.chains[0].plugins[1]'],
      ['warning', 'PluginChain apps/c', 'pluginchain-plugin-missing', 'spec.chains[0].plugins[2]'],
    ]);
    expect(report.findings.map((f) => f.message)).toEqual([
      '7777 on inbound-http equals plugin b (7777): the order between them is undefined',
      '7777 on inbound-http equals plugin a (7777): the order between them is undefined',
      'priority 7777 of Plugin a on inbound-http equals plugin b (7777): the order between them is undefined',
      'priority 7777 of Plugin b on inbound-http equals plugin a (7777): the order between them is undefined',
      'Plugin gone does not exist: proxies skip it until a Plugin of that name is created',
    ]);
    expect(report.findings.some((f) => f.rule === 'plugin-placement')).toBe(false);
    expect(report.objects).toBe(3);
  });

  it('where a mounted Plugin lands is a note of the validator, not a finding', () => {
    const objects = [apps, plugin('solo', 9000), chain('apps', 'c', ['solo'])];
    const view = new MemoryView(objects.map(placeManifest));
    const notes = validate({ operation: 'CREATE', kind: { group: 'plugin.flomesh.io', kind: 'Plugin' }, object: plugin('solo', 9000) }, view, mesh).warningDetails;
    expect(notes.map((w) => w.rule)).toEqual(['plugin-placement']);
    expect(run(objects, []).findings).toEqual([]);
  });

  it('--namespace: only that namespace\'s objects, no cluster-scoped ones', () => {
    const report = run([apps, namespace('other'), plugin('a', 7777), plugin('b', 7777), chain('apps', 'c', ['gone']), chain('other', 'd', ['gone'])], [], { namespace: 'other' });
    expect(report.findings.map((f) => `${f.kind} ${f.namespace}/${f.name}`)).toEqual(['PluginChain other/d']);
    expect(report.objects).toBe(1);
  });

  it('Services only in the mesh\'s namespaces (as the webhook entry)', () => {
    const svc = (ns: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: ns }, spec: { ports: [{ port: 80, appProtocol: 'bogus' }] } });
    const report = run([apps, namespace('kube-system', { monitored: false }), svc('apps'), svc('kube-system')], []);
    expect(new Set(report.findings.map((f) => f.namespace))).toEqual(new Set(['apps']));
    expect(report.findings.every((f) => f.severity === 'warning' && f.kind === 'Service')).toBe(true);
  });

  it('the example cluster state is clean', () => {
    const view = loadStaticView(join(REPO_ROOT, 'examples/cluster'));
    const report = audit({ view, pods: [], now: NOW, bootstrapSecrets: new Set() }, { mesh, injector });
    expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(report.objects).toBeGreaterThan(10);
  });
});

describe('audit: pods', () => {
  const secrets = (...pods: Array<[string, string]>): Set<string> => new Set(pods.map(([ns, uuid]) => `${ns}/${bootstrapSecretName(uuid)}`));

  it('an injected pod with its Secret and the current image: nothing to report', () => {
    const report = run([apps], [injectedPod('web-1', 'apps', UUID)], { bootstrapSecrets: secrets(['apps', UUID]) });
    expect(report).toEqual({ findings: [], objects: 0, pods: 1, notChecked: [] });
  });

  it('a pod without sidecar in an injection-enabled namespace', () => {
    const report = run([apps], [plainPod('web-1', 'apps')]);
    expect(report.findings).toEqual([
      {
        severity: 'warning',
        kind: 'Pod',
        group: '',
        namespace: 'apps',
        name: 'web-1',
        rule: 'pod-sidecar-missing',
        field: 'spec.containers',
        message: 'no sidecar, although injection is enabled for this pod: it was created before injection was enabled or while the injector was unavailable; recreate it (e.g. kubectl rollout restart of its workload)',
      },
    ]);
  });

  it('a sidecar whose bootstrap Secret is gone (after the grace period only)', () => {
    const p = injectedPod('web-1', 'apps', UUID);
    expect(run([apps], [p]).findings).toEqual([
      {
        severity: 'error',
        kind: 'Pod',
        group: '',
        namespace: 'apps',
        name: 'web-1',
        rule: 'pod-bootstrap-secret-missing',
        field: 'spec.volumes',
        message: `the sidecar's bootstrap Secret apps/${bootstrapSecretName(UUID)} does not exist: the sidecar cannot start or restart; recreate the pod (the injector then creates a new Secret)`,
      },
    ]);
    const young = { ...p, metadata: { ...p.metadata, creationTimestamp: new Date(NOW - 10_000).toISOString() } };
    expect(run([apps], [young]).findings).toEqual([]);
    // not listed: not checked, and said so
    const unlisted = run([apps], [p], { bootstrapSecrets: undefined, bootstrapSecretsNotListed: 'the server may not list Secrets' });
    expect(unlisted.findings).toEqual([]);
    expect(unlisted.notChecked).toEqual(['bootstrap Secrets (the server may not list Secrets)']);
  });

  it('a sidecar on another image than the injector uses now', () => {
    const p = injectedPod('web-1', 'apps', UUID);
    const meshConfig: KubeObject = { apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { sidecar: { sidecarImage: 'flomesh/pipy:1.6.0' } } };
    const report = run([apps, meshConfig], [p], { bootstrapSecrets: secrets(['apps', UUID]) });
    const index = ((p.spec as { containers: Array<{ name: string }> }).containers).findIndex((c) => c.name === 'sidecar');
    expect(report.findings).toEqual([
      {
        severity: 'warning',
        kind: 'Pod',
        group: '',
        namespace: 'apps',
        name: 'web-1',
        rule: 'pod-sidecar-image',
        field: `spec.containers[${index}].image`,
        message: 'sidecar image "flomesh/pipy:1.5.14" differs from the one the injector uses now, "flomesh/pipy:1.6.0": restart the pod to upgrade its proxy',
      },
    ]);
  });

  it('a pod the injector would refuse now, a sidecar in a namespace that disabled injection', () => {
    const bad = plainPod('bad', 'apps', { annotations: { 'flomesh.io/sidecar-injection': 'maybe' } });
    const disabled = namespace('off', { annotations: { 'flomesh.io/sidecar-injection': 'disabled' } });
    const leftover = injectedPod('old', 'off', UUID2);
    const report = run([apps, disabled], [bad, leftover], { bootstrapSecrets: secrets(['off', UUID2]) });
    expect(report.findings.map((f) => [f.severity, f.namespace, f.name, f.rule, f.field])).toEqual([
      ['error', 'apps', 'bad', 'pod-injection-denied', ''],
      ['warning', 'off', 'old', 'pod-sidecar-unexpected', expect.stringMatching(/^spec\.containers\[\d\]$/)],
    ]);
    expect(report.findings[0]!.message).toBe(
      'the injector would refuse this pod if it were created now: invalid value "maybe" for annotation "flomesh.io/sidecar-injection" on Pod apps/bad: expected enabled, yes, true, disabled, no or false',
    );
    expect(report.findings[1]!.message).toBe('the pod carries a sidecar, but the injector would not inject one now: flomesh.io/sidecar-injection is not enabled on the pod or namespace off');
  });

  it('leaves out finished pods, pods being deleted, mirror pods and namespaces outside the mesh', () => {
    const outside = namespace('outside', { monitored: false });
    const pods = [
      plainPod('done', 'apps', {}, { phase: 'Succeeded' }),
      plainPod('failed', 'apps', {}, { phase: 'Failed' }),
      plainPod('deleting', 'apps', { metadata: { deletionTimestamp: OLD } }),
      plainPod('mirror', 'apps', { annotations: { 'kubernetes.io/config.mirror': 'x' } }),
      plainPod('elsewhere', 'outside'),
      plainPod('system', 'kube-system'),
    ];
    const report = run([apps, outside, namespace('kube-system')], pods);
    expect(report).toMatchObject({ findings: [], pods: 0 });
    expect(meshNamespaces(new MemoryView([apps, outside, namespace('kube-system'), namespace('fsm-system')]), mesh)).toEqual(['apps']);
  });
});

describe('audit: namespaces whose Pod Security level refuses injected pods', () => {
  const PSA = 'pod-security.kubernetes.io/enforce';
  const WAYS = 'ways out: label namespace %s pod-security.kubernetes.io/enforce=privileged, use node-level interception (MeshConfig spec.traffic.interceptionMode: NodeLevel) or disable injection for namespace %s (annotation flomesh.io/sidecar-injection: disabled)';
  const refused = (ns: string, level: string, violations: string): Finding => ({
    severity: 'error',
    kind: 'Namespace',
    group: '',
    namespace: '',
    name: ns,
    rule: 'namespace-pod-security',
    field: 'metadata.labels',
    message: `pods injected here are refused: namespace ${ns} enforces Pod Security "${level}", which would refuse this pod once the sidecar is injected: ${violations}; container "fsm-init" sets up the traffic interception with iptables, which needs NET_ADMIN and root; ${WAYS.replaceAll('%s', ns)}`,
  });
  const BASELINE = 'non-default capabilities (container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add)';

  it('reports each monitored namespace whose enforce level refuses injected pods, and its pods that would be refused', () => {
    const objects = [
      namespace('base', { labels: { [PSA]: 'baseline' } }),
      namespace('open', { labels: { [PSA]: 'privileged' } }),
      namespace('off', { labels: { [PSA]: 'restricted' }, annotations: { 'flomesh.io/sidecar-injection': 'disabled' } }),
      namespace('outside', { labels: { [PSA]: 'restricted' }, monitored: false }),
    ];
    const report = run(objects, [plainPod('web-1', 'base')]);
    expect(report.findings).toEqual([
      refused('base', 'baseline:latest', BASELINE),
      {
        severity: 'error',
        kind: 'Pod',
        group: '',
        namespace: 'base',
        name: 'web-1',
        rule: 'pod-injection-denied',
        field: '',
        message: `the injector would refuse this pod if it were created now: Pod base/web-1: namespace base enforces Pod Security "baseline:latest", which would refuse this pod once the sidecar is injected: ${BASELINE}; container "fsm-init" sets up the traffic interception with iptables, which needs NET_ADMIN and root; ${WAYS.replaceAll('%s', 'base')}`,
      },
    ]);
    // -n audits that namespace only
    expect(run(objects, [], { namespace: 'open' }).findings).toEqual([]);
  });

  it('follows the cluster default for namespaces without the label, and stops once node-level interception adds no init container', () => {
    const objects = [namespace('apps')];
    const view = new MemoryView(objects.map(placeManifest));
    const strict = audit({ view, pods: [], now: NOW, bootstrapSecrets: new Set() }, { mesh, injector: { ...injector, podSecurityDefaults: { enforce: { level: 'baseline', version: 'latest' } } } });
    expect(strict.findings.map((f) => f.message)).toEqual([refused('apps', 'baseline:latest', BASELINE).message.replace('"baseline:latest",', '"baseline:latest" (the cluster default),')]);
    const nodeLevel = new MemoryView([...objects, meshConfigObject(mesh, { traffic: { interceptionMode: 'NodeLevel' } })].map(placeManifest));
    expect(audit({ view: nodeLevel, pods: [], now: NOW, bootstrapSecrets: new Set() }, { mesh, injector: { ...injector, podSecurityDefaults: { enforce: { level: 'restricted', version: 'latest' } } } }).findings).toEqual([]);
  });
});

describe('audit: steps and reports', () => {
  it('the stepwise run yields once per object, pod or mesh namespace and ends with the same report', () => {
    const objects = [apps, plugin('a'), chain('apps', 'c', ['gone'])];
    const pods = [plainPod('web-1', 'apps'), plainPod('web-2', 'apps')];
    const view = new MemoryView(objects.map(placeManifest));
    const steps = auditSteps({ view, pods, now: NOW, bootstrapSecrets: new Set() }, { mesh, injector });
    let yields = 0;
    let step = steps.next();
    while (!step.done) {
      yields++;
      step = steps.next();
    }
    expect(yields).toBe(2 + 2 + 1);
    expect(step.value).toEqual(audit({ view, pods, now: NOW, bootstrapSecrets: new Set() }, { mesh, injector }));
  });

  it('text groups findings by object and ends with the summary; JSON is bounded', () => {
    const report = run([apps, chain('apps', 'c', ['gone'])], [plainPod('web-1', 'apps')], { bootstrapSecrets: undefined });
    expect(formatAuditText(report)).toBe(
      [
        'PluginChain apps/c',
        '  warning spec.chains[0].plugins[0]: Plugin gone does not exist: proxies skip it until a Plugin of that name is created  [pluginchain-plugin-missing]',
        '',
        'Pod apps/web-1',
        '  warning spec.containers: no sidecar, although injection is enabled for this pod: it was created before injection was enabled or while the injector was unavailable; recreate it (e.g. kubectl rollout restart of its workload)  [pod-sidecar-missing]',
        '',
        '0 errors, 2 warnings in 1 policy object and 1 pod.',
        'Not checked: bootstrap Secrets (they could not be listed).',
        '',
      ].join('\n'),
    );
    const json = auditJson(report, 1);
    expect(json).toEqual({ summary: { errors: 0, warnings: 2, objects: 1, pods: 1, notChecked: ['bootstrap Secrets (they could not be listed)'] }, findings: [report.findings[0]], truncated: 1 });
    expect(auditJson(report)).toEqual({ summary: json.summary, findings: report.findings });
  });
});
