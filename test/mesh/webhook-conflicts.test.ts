// Which other webhooks the API server calls alongside this server's: label selectors as the API server evaluates them,
// the mesh's own injector and validator (as FSM and osm-edge write their configurations), a third party's pod
// mutator, a leftover of an earlier install, and what is not a conflict.
import { describe, expect, it } from 'vitest';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { selectorMatches } from '../../src/mesh/label-selector.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { conflictLine, podMutatorsFor, webhookConflicts, type OwnWebhooks } from '../../src/mesh/webhook-conflicts.js';

const fsm = meshIdentity('fsm');
const osm = meshIdentity('osm-edge');
const OWN: OwnWebhooks = { mutating: 'mesh-admission-fsm', validating: 'mesh-admission-fsm', service: { name: 'mesh-admission', namespace: 'fsm-system' } };

const ns = (name: string, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } });
const meshed = (name: string, mesh = 'fsm'): KubeObject => ns(name, { 'flomesh.io/monitored-by': mesh });

/** The injector's own MutatingWebhookConfiguration, as fsm-injector writes it (name, labels, selector, rules). */
function meshInjector(prefix = 'fsm', domain = 'flomesh.io', mesh = 'fsm', extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: `${prefix}-webhook-${mesh}`, labels: { 'app.kubernetes.io/name': domain, 'app.kubernetes.io/instance': mesh, app: `${prefix}-injector`, [`${domain}/reconcile`]: 'true' } },
    webhooks: [
      {
        name: `${prefix}-inject.k8s.io`,
        clientConfig: { service: { name: `${prefix}-injector`, namespace: `${prefix}-system`, path: '/mutate-pod-creation', port: 9090 } },
        failurePolicy: 'Fail',
        namespaceSelector: {
          matchLabels: { [`${domain}/monitored-by`]: mesh },
          matchExpressions: [
            { key: `${domain}/ignore`, operator: 'DoesNotExist' },
            { key: 'name', operator: 'NotIn', values: [`${prefix}-system`] },
            { key: 'control-plane', operator: 'DoesNotExist' },
          ],
        },
        rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['v1'], resources: ['pods'] }],
        ...extra,
      },
    ],
  };
}

const mutating = (name: string, webhook: Record<string, unknown>): KubeObject => ({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name }, webhooks: [webhook] });
const validating = (name: string, webhooks: Array<Record<string, unknown>>): KubeObject => ({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name }, webhooks });
/** This server's own injection configuration, as installed. */
const OWN_MUTATING = mutating('mesh-admission-fsm', { name: 'inject.flomesh.io', clientConfig: { service: { name: 'mesh-admission', namespace: 'fsm-system' } }, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } } });

describe('label selectors as the API server evaluates them', () => {
  it('matches all when absent or empty, ANDs every term, and NotIn/DoesNotExist match a missing key', () => {
    const labels = { a: '1', b: '2' };
    expect(selectorMatches(undefined, labels)).toBe(true);
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '1' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '1', b: '3' } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['0', '1'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'In', values: ['1'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'NotIn', values: ['1'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'b', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'b', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(selectorMatches({ matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'DoesNotExist' }] }, labels)).toBe(false);
  });

  it('a selector the API server could not have stored matches nothing', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['0'] }] }, { a: '1' })).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, { a: '1' })).toBe(false);
    expect(selectorMatches('a=1', { a: '1' })).toBe(false);
    expect(selectorMatches({ matchLabels: 'a' }, { a: '1' })).toBe(false);
  });
});

describe('the webhooks the API server calls for a pod', () => {
  it('finds the mesh\'s own injector for a meshed namespace, before this server\'s (FSM names sort first), failing closed', () => {
    const found = podMutatorsFor(fsm, OWN, [meshInjector()], meshed('apps').metadata!.labels);
    expect(found).toEqual([{ configuration: 'fsm-webhook-fsm', webhook: 'fsm-inject.k8s.io', index: 0, meshInjector: true, leftover: false, calledBefore: true, failClosed: true }]);
    // not for a namespace of another mesh, nor one the mesh ignores
    expect(podMutatorsFor(fsm, OWN, [meshInjector()], meshed('apps', 'other').metadata!.labels)).toEqual([]);
    expect(podMutatorsFor(fsm, OWN, [meshInjector()], ns('apps', { 'flomesh.io/monitored-by': 'fsm', 'flomesh.io/ignore': 'true' }).metadata!.labels)).toEqual([]);
  });

  it('osm-edge\'s injector sorts after this server\'s configuration', () => {
    const own = { ...OWN, mutating: 'mesh-admission-osm', validating: 'mesh-admission-osm' };
    const found = podMutatorsFor(osm, own, [meshInjector('osm', 'openservicemesh.io', 'osm')], ns('apps', { 'openservicemesh.io/monitored-by': 'osm' }).metadata!.labels);
    expect(found).toMatchObject([{ configuration: 'osm-webhook-osm', meshInjector: true, calledBefore: false, failClosed: true }]);
  });

  it('skips this server\'s own configuration, rules that are not pod CREATE, and generic engines matching every resource', () => {
    const labels = meshed('apps').metadata!.labels;
    const configs = [
      mutating('mesh-admission-fsm', { name: 'inject.flomesh.io', rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }),
      mutating('pod-updates', { name: 'u.example.com', rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }),
      mutating('exec', { name: 'e.example.com', rules: [{ operations: ['CONNECT'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/exec'] }] }),
      mutating('policy-engine', { name: 'p.example.com', rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }] }),
      mutating('cluster-scoped', { name: 'c.example.com', rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Cluster' }] }),
    ];
    expect(podMutatorsFor(fsm, OWN, configs, labels)).toEqual([]);
  });
});

describe('webhook conflicts', () => {
  const namespaces = [meshed('apps'), meshed('web'), ns('kube-system', { 'flomesh.io/monitored-by': 'fsm' }), ns('fsm-system', { 'flomesh.io/monitored-by': 'fsm' }), ns('plain')];

  it('reports the mesh\'s own injector as an error, naming the mesh\'s namespaces it is called for and what to do', () => {
    const [c, ...rest] = webhookConflicts(fsm, OWN, { mutating: [OWN_MUTATING, meshInjector()], validating: [] }, namespaces);
    expect(rest).toEqual([]);
    expect(c).toEqual({
      configurationKind: 'MutatingWebhookConfiguration',
      configuration: 'fsm-webhook-fsm',
      webhook: 'fsm-inject.k8s.io',
      index: 0,
      kind: 'mesh-injector',
      severity: 'error',
      calledBefore: true,
      namespaces: ['apps', 'web'],
      kinds: [],
      message:
        'the mesh\'s own sidecar injector, called before mesh-admission-fsm for pod CREATE in apps, web: pods are injected by it, and this server adds nothing to them; run one injector per mesh: scale fsm-injector to zero and delete this configuration (README: "Replacing the mesh\'s own webhooks")',
    });
    expect(conflictLine(c!)).toBe(`MutatingWebhookConfiguration fsm-webhook-fsm (fsm-inject.k8s.io): ${c!.message}`);
  });

  it('says what happens when the mesh\'s injector comes after this server (osm-edge), with either failure policy', () => {
    const own = { ...OWN, mutating: 'mesh-admission-osm', validating: 'mesh-admission-osm' };
    const osmNs = [ns('apps', { 'openservicemesh.io/monitored-by': 'osm' })];
    const ownOsm = { ...OWN_MUTATING, metadata: { name: 'mesh-admission-osm' } };
    const [closed] = webhookConflicts(osm, own, { mutating: [ownOsm, meshInjector('osm', 'openservicemesh.io', 'osm')], validating: [] }, osmNs);
    expect(closed!.message).toBe(
      'the mesh\'s own sidecar injector, called after mesh-admission-osm for pod CREATE in apps: it would refuse pods this server injected, so this server leaves them to it; run one injector per mesh: scale osm-injector to zero and delete this configuration (README: "Replacing the mesh\'s own webhooks")',
    );
    const [open] = webhookConflicts(osm, own, { mutating: [ownOsm, meshInjector('osm', 'openservicemesh.io', 'osm', { failurePolicy: 'Ignore' })], validating: [] }, osmNs);
    expect(open!.message).toContain('its failurePolicy is Ignore, so it cannot refuse the pods this server injects, but it may inject them again');
  });

  it('reports no injector conflict while no namespace is in the mesh, or when this server does not inject', () => {
    expect(webhookConflicts(fsm, OWN, { mutating: [OWN_MUTATING, meshInjector()], validating: [] }, [ns('plain')])).toEqual([]);
    // an install that only validates (its injection webhook dropped): the mesh's injector is the one injector
    expect(webhookConflicts(fsm, OWN, { mutating: [meshInjector()], validating: [] }, namespaces)).toEqual([]);
  });

  it('reports another pod mutator as a warning, and a configuration pointing at this server\'s Service as a leftover', () => {
    const vault = mutating('vault-agent-injector-cfg', { name: 'vault.hashicorp.com', rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] });
    const leftover = mutating('mesh-admission', { name: 'inject.flomesh.io', clientConfig: { service: { name: 'mesh-admission', namespace: 'fsm-system', path: '/mutate-pod-creation' } }, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } } });
    const found = webhookConflicts(fsm, OWN, { mutating: [OWN_MUTATING, vault, leftover], validating: [] }, namespaces);
    expect(found.map((c) => [c.configuration, c.kind, c.severity, c.calledBefore, c.namespaces])).toEqual([
      ['mesh-admission', 'leftover', 'error', true, ['apps', 'web']],
      ['vault-agent-injector-cfg', 'pod-mutator', 'warning', false, ['apps', 'web']],
    ]);
    expect(found[0]!.message).toBe('points at this server\'s own Service under another name (a configuration left by an earlier install?) and is called for pod CREATE in apps, web: delete it');
    expect(found[1]!.message).toBe('also mutates pods (pod CREATE in apps, web), called after mesh-admission-fsm: what it adds is not seen by the injector (no probe rewrite or port exclusion for it); check that its changes work with the sidecar');
  });

  it('reports other validators of the kind table\'s kinds (the mesh\'s own by name), not of Services or of every group', () => {
    const fsmValidator = validating('fsm-validator-mesh-fsm', [
      {
        name: 'fsm-validator.k8s.io',
        namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } },
        rules: [
          { operations: ['CREATE', 'UPDATE'], apiGroups: ['policy.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['ingressbackends', 'egresses', 'egressgateways'] },
          { operations: ['CREATE', 'UPDATE'], apiGroups: ['plugin.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['plugins', 'pluginchains', 'pluginconfigs'] },
        ],
      },
    ]);
    const multicluster = validating('flomesh-validating-webhook-configuration', [
      { name: 'vglobaltrafficpolicy.v1alpha1.kb.flomesh.io', failurePolicy: 'Ignore', rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['multicluster.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['globaltrafficpolicies'] }] },
      { name: 'vgateway.example.com', rules: [{ operations: ['CREATE'], apiGroups: ['gateway.networking.k8s.io'], apiVersions: ['v1'], resources: ['gateways'] }] },
    ]);
    const services = validating('svc-check', [{ name: 's.example.com', rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['services'] }] }]);
    const engine = validating('gatekeeper', [{ name: 'g.example.com', rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }] }]);
    const ownValidator = validating('mesh-admission-fsm', [{ name: 'validate.flomesh.io', rules: [{ operations: ['CREATE'], apiGroups: ['policy.flomesh.io'], apiVersions: ['*'], resources: ['egresses'] }] }]);
    // another mesh's install of this server validates with its own mesh's view: not a conflict
    const otherInstall = { ...validating('mesh-admission-blue', [{ name: 'validate.flomesh.io', rules: [{ operations: ['CREATE'], apiGroups: ['policy.flomesh.io'], apiVersions: ['*'], resources: ['egresses'] }] }]), metadata: { name: 'mesh-admission-blue', labels: { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': 'blue' } } };
    const found = webhookConflicts(fsm, OWN, { mutating: [], validating: [fsmValidator, multicluster, services, engine, ownValidator, otherInstall] }, [meshed('apps')]);
    expect(found.map((c) => [c.configuration, c.webhook, c.kind, c.severity, c.kinds])).toEqual([
      ['flomesh-validating-webhook-configuration', 'vglobaltrafficpolicy.v1alpha1.kb.flomesh.io', 'validator', 'warning', ['GlobalTrafficPolicy']],
      ['fsm-validator-mesh-fsm', 'fsm-validator.k8s.io', 'validator', 'warning', ['Plugin', 'PluginChain', 'PluginConfig', 'Egress', 'IngressBackend', 'EgressGateway']],
    ]);
    expect(found[1]!.message).toBe(
      'also validates Plugin, PluginChain, PluginConfig, Egress and 2 more: an object must satisfy both validators; it is the mesh\'s own validator, which its controller re-creates when it starts: delete it after each restart of fsm-controller (README: "Replacing the mesh\'s own webhooks")',
    );
    expect(found[0]!.message).toBe('also validates GlobalTrafficPolicy: an object must satisfy both validators; remove it unless its checks are wanted in addition to this server\'s');
  });

  it('a validator kept out of the mesh\'s namespaces by its namespaceSelector counts for the cluster-scoped kinds only', () => {
    // another mesh's validator: its selector picks that mesh's namespaces, but a Plugin is cluster-scoped
    const blueValidator = validating('fsm-validator-mesh-blue', [
      { name: 'fsm-validator.k8s.io', namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'blue' } }, rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['plugin.flomesh.io', 'policy.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['plugins', 'pluginchains', 'egresses'] }] },
    ]);
    expect(webhookConflicts(fsm, OWN, { mutating: [], validating: [blueValidator] }, [meshed('apps')]).map((c) => c.kinds)).toEqual([['Plugin']]);
    // one that reaches the mesh's own namespace (the MeshConfig lives there) counts for its namespaced kinds too
    const home = validating('home', [{ name: 'h.example.com', namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'fsm-system' } }, rules: [{ operations: ['UPDATE'], apiGroups: ['config.flomesh.io'], apiVersions: ['*'], resources: ['meshconfigs'] }] }]);
    expect(webhookConflicts(fsm, OWN, { mutating: [], validating: [home] }, [ns('fsm-system')]).map((c) => c.kinds)).toEqual([['MeshConfig']]);
  });
});
