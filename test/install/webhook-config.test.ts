import { describe, expect, it } from 'vitest';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { KINDS, kindResources } from '../../src/mesh/kinds.js';
import { auditClusterRoleRules, auditClusterRoles, clusterRoleRules, meshNamespaceRoleRules } from '../../src/install/rbac.js';
import {
  caBundlePatch,
  defaultWebhookNames,
  encodeCaBundle,
  meshNamespaceSelector,
  mutatingWebhookConfiguration,
  policyRules,
  referenceRules,
  validatingWebhookConfiguration,
  warningRules,
  webhookConfigurations,
} from '../../src/install/webhook-config.js';
import type { Rule as RuleWithOperations } from '../../src/install/webhook-config.js';

const FSM = meshIdentity('fsm');
const OSM = meshIdentity('osm-edge');
const SERVICE = { service: { name: 'mesh-admission', namespace: 'fsm-system', port: 443 } } as const;
const CA = encodeCaBundle('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

const FSM_SELECTOR = {
  matchLabels: { 'flomesh.io/monitored-by': 'fsm' },
  matchExpressions: [
    { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'fsm-system'] },
    { key: 'flomesh.io/ignore', operator: 'DoesNotExist' },
  ],
};

describe('MutatingWebhookConfiguration', () => {
  it('is exactly the injection configuration the install applies for fsm', () => {
    expect(mutatingWebhookConfiguration(FSM, { target: SERVICE })).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'mesh-admission-fsm', labels: { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': 'fsm' } },
      webhooks: [
        {
          name: 'inject.flomesh.io',
          clientConfig: { service: { namespace: 'fsm-system', name: 'mesh-admission', path: '/mutate-pod-creation', port: 443 } },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
          namespaceSelector: FSM_SELECTOR,
          failurePolicy: 'Fail',
          matchPolicy: 'Equivalent',
          sideEffects: 'None',
          timeoutSeconds: 10,
          reinvocationPolicy: 'Never',
          admissionReviewVersions: ['v1', 'v1beta1'],
        },
      ],
    });
  });

  it('uses the osm-edge domain, mesh name and namespace', () => {
    const m = mutatingWebhookConfiguration(OSM, { target: { service: { name: 'mesh-admission', namespace: 'osm-system' } } });
    expect(m.metadata).toEqual({ name: 'mesh-admission-osm', labels: { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': 'osm' } });
    expect(m.webhooks[0]!.name).toBe('inject.openservicemesh.io');
    expect(m.webhooks[0]!.clientConfig).toEqual({ service: { namespace: 'osm-system', name: 'mesh-admission', path: '/mutate-pod-creation', port: 443 } });
    expect(m.webhooks[0]!.namespaceSelector).toEqual({
      matchLabels: { 'openservicemesh.io/monitored-by': 'osm' },
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'osm-system'] },
        { key: 'openservicemesh.io/ignore', operator: 'DoesNotExist' },
      ],
    });
  });

  it('follows a custom mesh name and namespace, without listing a namespace twice', () => {
    expect(meshNamespaceSelector(meshIdentity('fsm', 'blue', 'mesh-blue'))).toEqual({
      matchLabels: { 'flomesh.io/monitored-by': 'blue' },
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'mesh-blue'] },
        { key: 'flomesh.io/ignore', operator: 'DoesNotExist' },
      ],
    });
    expect(meshNamespaceSelector(meshIdentity('fsm', 'fsm', 'kube-system')).matchExpressions![0]!.values).toEqual(['kube-system', 'kube-public', 'kube-node-lease']);
  });

  it('url clientConfig appends the webhook path; caBundle only when given', () => {
    const m = mutatingWebhookConfiguration(FSM, { target: { url: 'https://127.0.0.1:9443/' }, caBundle: CA });
    expect(m.webhooks[0]!.clientConfig).toEqual({ url: 'https://127.0.0.1:9443/mutate-pod-creation', caBundle: CA });
    expect('caBundle' in mutatingWebhookConfiguration(FSM, { target: SERVICE }).webhooks[0]!.clientConfig).toBe(false);
    expect(mutatingWebhookConfiguration(FSM, { target: { service: { name: 's', namespace: 'n', port: 8443 } } }).webhooks[0]!.clientConfig.service!.port).toBe(8443);
  });

  it('names are configurable', () => {
    const m = mutatingWebhookConfiguration(FSM, { target: SERVICE, names: { mutatingConfiguration: 'fsm-injector', inject: 'sidecar.flomesh.io' } });
    expect(m.metadata.name).toBe('fsm-injector');
    expect(m.webhooks[0]!.name).toBe('sidecar.flomesh.io');
  });
});

function triples(rules: RuleWithOperations[]): string[] {
  return rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((p) => `${g}/${p}/${r.scope}`))).sort();
}

describe('ValidatingWebhookConfiguration', () => {
  const v = validatingWebhookConfiguration(FSM, { target: SERVICE, caBundle: CA });
  const [policy, services, references] = v.webhooks;

  it('has the policy entry, the Services entry and the references entry, labelled and named as the install and the caBundle patcher expect', () => {
    expect(v.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(v.kind).toBe('ValidatingWebhookConfiguration');
    expect(v.metadata).toEqual({ name: 'mesh-admission-fsm', labels: { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': 'fsm' } });
    expect(v.webhooks.map((w) => w.name)).toEqual(['validate.flomesh.io', 'validate-services.flomesh.io', 'validate-references.flomesh.io']);
    expect(validatingWebhookConfiguration(OSM, { target: SERVICE }).webhooks.map((w) => w.name)).toEqual([
      'validate.openservicemesh.io',
      'validate-services.openservicemesh.io',
      'validate-references.openservicemesh.io',
    ]);
  });

  it('policy entry: fail-closed, 5 s, dry-run aware, both review versions, no namespaceSelector', () => {
    expect(policy).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'NoneOnDryRun', timeoutSeconds: 5, matchPolicy: 'Equivalent', admissionReviewVersions: ['v1', 'v1beta1'] });
    expect(policy!.clientConfig).toEqual({ service: { namespace: 'fsm-system', name: 'mesh-admission', path: '/validate', port: 443 }, caBundle: CA });
    // cluster-scoped kinds are never matched by a namespaceSelector, and policies outside monitored namespaces count too
    expect(policy!.namespaceSelector).toBeUndefined();
    expect('reinvocationPolicy' in policy!).toBe(false);
  });

  it('policy entry: CREATE and UPDATE on every kind of the table except Service, in every group, with its scope', () => {
    const expected = KINDS.filter((k) => k.kind !== 'Service').flatMap((k) => k.groups.map((g) => `${g}/${k.plural}/${k.scope}`)).sort();
    expect(triples(policy!.rules)).toEqual(expected);
    for (const r of policy!.rules) {
      expect(r.operations).toEqual(['CREATE', 'UPDATE']);
      expect(r.apiVersions).toEqual(['*']);
      expect(r.apiGroups).toHaveLength(1);
      expect(r.scope).not.toBe('*');
    }
    // one rule per (group, scope), no group split further
    const keys = policy!.rules.map((r) => `${r.apiGroups[0]}/${r.scope}`);
    expect(new Set(keys).size).toBe(keys.length);
    const groups = new Set(KINDS.filter((k) => k.kind !== 'Service').flatMap((k) => k.groups));
    expect(new Set(policy!.rules.map((r) => r.apiGroups[0]))).toEqual(groups);
    expect(groups).toContain('policy.openservicemesh.io');
    expect(groups).toContain('flomesh.io');
    expect(triples(policy!.rules)).not.toContain('/services/Namespaced');
  });

  it('cluster-scoped kinds get their own Cluster-scoped rules', () => {
    const cluster = policy!.rules.filter((r) => r.scope === 'Cluster');
    expect(triples(cluster)).toEqual(['flomesh.io/clusters/Cluster', 'multicluster.flomesh.io/clusters/Cluster', 'plugin.flomesh.io/plugins/Cluster']);
    expect(policy!.rules.find((r) => r.apiGroups[0] === 'plugin.flomesh.io' && r.scope === 'Namespaced')!.resources).toEqual(['pluginchains', 'pluginconfigs']);
  });

  it('Services entry: fail-open, core services only (DELETE too, for reference warnings), monitored namespaces only', () => {
    expect(services).toEqual({
      name: 'validate-services.flomesh.io',
      clientConfig: { service: { namespace: 'fsm-system', name: 'mesh-admission', path: '/validate', port: 443 }, caBundle: CA },
      rules: [{ operations: ['CREATE', 'UPDATE', 'DELETE'], apiGroups: [''], apiVersions: ['*'], resources: ['services'], scope: 'Namespaced' }],
      namespaceSelector: FSM_SELECTOR,
      failurePolicy: 'Ignore',
      matchPolicy: 'Equivalent',
      sideEffects: 'NoneOnDryRun',
      timeoutSeconds: 5,
      admissionReviewVersions: ['v1', 'v1beta1'],
    });
    expect(warningRules()).toEqual(services!.rules);
    expect(policyRules()).toEqual(policy!.rules);
  });

  it('references entry: DELETE of the referenced policy kinds only, fail-open, no namespaceSelector', () => {
    expect(references).toEqual({
      name: 'validate-references.flomesh.io',
      clientConfig: { service: { namespace: 'fsm-system', name: 'mesh-admission', path: '/validate', port: 443 }, caBundle: CA },
      rules: [
        { operations: ['DELETE'], apiGroups: ['plugin.flomesh.io'], apiVersions: ['*'], resources: ['plugins'], scope: 'Cluster' },
        { operations: ['DELETE'], apiGroups: ['multicluster.flomesh.io'], apiVersions: ['*'], resources: ['serviceimports'], scope: 'Namespaced' },
        { operations: ['DELETE'], apiGroups: ['flomesh.io'], apiVersions: ['*'], resources: ['serviceimports'], scope: 'Namespaced' },
        { operations: ['DELETE'], apiGroups: ['multicluster.flomesh.io'], apiVersions: ['*'], resources: ['clusters'], scope: 'Cluster' },
        { operations: ['DELETE'], apiGroups: ['flomesh.io'], apiVersions: ['*'], resources: ['clusters'], scope: 'Cluster' },
        { operations: ['DELETE'], apiGroups: ['specs.smi-spec.io'], apiVersions: ['*'], resources: ['httproutegroups', 'tcproutes'], scope: 'Namespaced' },
      ],
      failurePolicy: 'Ignore',
      matchPolicy: 'Equivalent',
      sideEffects: 'None',
      timeoutSeconds: 5,
      admissionReviewVersions: ['v1', 'v1beta1'],
    });
    // the same kinds as the table's `referenced` flag (Services through their own entry)
    const flagged = KINDS.filter((k) => k.referenced && !k.warningsOnly).flatMap((k) => k.groups.map((g) => `${g}/${k.plural}/${k.scope}`)).sort();
    expect(triples(references!.rules)).toEqual(flagged);
    expect(referenceRules()).toEqual(references!.rules);
  });

  it('url clientConfig on both entries; names configurable', () => {
    const u = validatingWebhookConfiguration(FSM, { target: { url: 'https://dev.example:9443' }, names: { validatingConfiguration: 'x', validate: 'policies.flomesh.io' } });
    expect(u.metadata.name).toBe('x');
    expect(u.webhooks.map((w) => w.clientConfig)).toEqual([{ url: 'https://dev.example:9443/validate' }, { url: 'https://dev.example:9443/validate' }, { url: 'https://dev.example:9443/validate' }]);
    expect(u.webhooks.map((w) => w.name)).toEqual(['policies.flomesh.io', 'validate-services.flomesh.io', 'validate-references.flomesh.io']);
  });

  it('rules follow the table they are given', () => {
    const extra = [...KINDS, { kind: 'Thing', plural: 'things', groups: ['new.flomesh.io'], scope: 'Cluster' as const, validate: () => undefined }];
    expect(triples(policyRules(extra))).toContain('new.flomesh.io/things/Cluster');
  });
});

describe('webhookConfigurations, defaults, caBundle patch', () => {
  it('default names', () => {
    expect(defaultWebhookNames(FSM)).toEqual({
      mutatingConfiguration: 'mesh-admission-fsm',
      validatingConfiguration: 'mesh-admission-fsm',
      inject: 'inject.flomesh.io',
      validate: 'validate.flomesh.io',
      validateServices: 'validate-services.flomesh.io',
      validateReferences: 'validate-references.flomesh.io',
    });
  });

  it('builds both', () => {
    const { mutating, validating } = webhookConfigurations(FSM, { target: SERVICE });
    expect(mutating.kind).toBe('MutatingWebhookConfiguration');
    expect(validating.kind).toBe('ValidatingWebhookConfiguration');
  });

  it('caBundlePatch adds the bundle to each entry that lacks it, guarded by the entry name', () => {
    const v = validatingWebhookConfiguration(FSM, { target: SERVICE });
    expect(caBundlePatch(v, CA)).toEqual([
      { op: 'test', path: '/webhooks/0/name', value: 'validate.flomesh.io' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: CA },
      { op: 'test', path: '/webhooks/1/name', value: 'validate-services.flomesh.io' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: CA },
      { op: 'test', path: '/webhooks/2/name', value: 'validate-references.flomesh.io' },
      { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: CA },
    ]);
    expect(caBundlePatch(validatingWebhookConfiguration(FSM, { target: SERVICE, caBundle: CA }), CA)).toEqual([]);
    expect(Buffer.from(CA, 'base64').toString('utf8')).toContain('BEGIN CERTIFICATE');
  });
});

describe('RBAC rules', () => {
  const rules = clusterRoleRules(FSM);

  it('has no wildcard anywhere', () => {
    for (const r of [...rules, ...meshNamespaceRoleRules(FSM)]) {
      for (const s of [...r.apiGroups, ...r.resources, ...r.verbs, ...(r.resourceNames ?? [])]) expect(s).not.toContain('*');
    }
  });

  it('lists and watches every (group, plural) of the kind table, namespaces and pods; gets only namespaces', () => {
    const can = (group: string, resource: string, verb: string): boolean =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && !r.resourceNames);
    for (const k of kindResources()) {
      for (const verb of ['list', 'watch']) expect(can(k.group, k.resource, verb), `${verb} ${k.resource}.${k.group}`).toBe(true);
      expect(can(k.group, k.resource, 'get'), `get ${k.resource}.${k.group}`).toBe(false);
    }
    for (const res of ['namespaces', 'pods', 'services']) expect(can('', res, 'watch')).toBe(true);
    expect(can('', 'namespaces', 'get')).toBe(true);
    expect(can('', 'pods', 'get')).toBe(false);
    expect(kindResources()).toHaveLength(KINDS.reduce((n, k) => n + k.groups.length, 0));
    // read-only on everything but Secrets, Events, its own webhook configurations and the two reviews (which store nothing)
    const writers = rules.filter((r) => r.verbs.some((v) => !['get', 'list', 'watch'].includes(v)));
    expect(writers.map((r) => `${r.resources.join()}: ${r.verbs.join()}`)).toEqual([
      'secrets: create',
      'events: create',
      'mutatingwebhookconfigurations: patch',
      'validatingwebhookconfigurations: patch',
      'tokenreviews: create',
      'subjectaccessreviews: create',
    ]);
  });

  it('Secrets cluster-wide: create only; webhook configurations read-only, its own two patched by name', () => {
    expect(rules.filter((r) => r.resources.includes('secrets'))).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['create'] }]);
    expect(rules.filter((r) => r.apiGroups.includes('admissionregistration.k8s.io'))).toEqual([
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['mesh-admission-fsm'], verbs: ['patch'] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'], resourceNames: ['mesh-admission-fsm'], verbs: ['patch'] },
    ]);
    const renamed = clusterRoleRules(FSM, { mutatingConfiguration: 'a', validatingConfiguration: 'b' });
    expect(renamed.filter((r) => r.resourceNames).map((r) => r.resourceNames)).toEqual([['a'], ['b']]);
  });

  it('the mesh-namespace Role names the flavor’s Secrets and Lease', () => {
    expect(meshNamespaceRoleRules(FSM)).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['fsm-admission-tls'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['fsm-ca-bundle'], verbs: ['get'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['fsm-admission-leader'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    expect(meshNamespaceRoleRules(OSM).flatMap((r) => r.resourceNames ?? [])).toEqual(['osm-admission-tls', 'osm-ca-bundle', 'osm-admission-leader']);
  });
});


describe('the audit\'s read-only ClusterRoles', () => {
  it('list, and nothing else, on Namespaces, Pods, every (group, plural) of the kind table and the webhook configurations; Secrets in a separate role', () => {
    const rules = auditClusterRoleRules();
    expect(new Set(rules.flatMap((r) => r.verbs))).toEqual(new Set(['list']));
    const granted = new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`))));
    const wanted = ['/namespaces', '/pods', ...kindResources().map((r) => `${r.group}/${r.resource}`), 'admissionregistration.k8s.io/mutatingwebhookconfigurations', 'admissionregistration.k8s.io/validatingwebhookconfigurations'];
    expect([...granted].sort()).toEqual([...new Set(wanted)].sort());
    expect([...granted].some((g) => g.endsWith('/secrets'))).toBe(false);
    const [audit, secrets] = auditClusterRoles();
    expect(audit!.metadata.name).toBe('mesh-admission-audit');
    expect(secrets).toMatchObject({ metadata: { name: 'mesh-admission-audit-secrets' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] });
  });
});
