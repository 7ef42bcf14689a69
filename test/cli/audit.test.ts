// `mesh-admission audit` against the in-process fake API server, which enforces exactly the documented read-only
// ClusterRole and records every request: findings for the objects and pods that slipped past admission, exit codes,
// and not a single request that could change anything.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditCommand, type AuditCommandOptions } from '../../src/cli/audit.js';
import { injectPod } from '../../src/injector/inject.js';
import { auditClusterRoleRules, auditSecretsRule } from '../../src/install/rbac.js';
import { webhookConfigurations } from '../../src/install/webhook-config.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { kindResources } from '../../src/mesh/kinds.js';
import { bootstrapSecretName } from '../../src/mesh/names.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { CORE_RESOURCES, FakeApiServer, type Obj, type PolicyRule, type ResourceDef } from '../support/fake-apiserver.js';
import { REPO_ROOT } from '../support/fixtures.js';

const mesh = meshIdentity('fsm');
const CRDS: ResourceDef[] = kindResources()
  .filter((r) => r.group !== '')
  .map((r) => ({ group: r.group, version: 'v1alpha1', plural: r.resource, kind: r.kind, namespaced: r.scope === 'Namespaced' }));
const READ_ONLY = auditClusterRoleRules() as unknown as PolicyRule[];
const UUID = '11111111-2222-4333-8444-555555555555';

let api: FakeApiServer;
let kubeconfig: string;

const ns = (name: string, monitored = true): Obj => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: monitored ? { 'flomesh.io/monitored-by': 'fsm' } : {}, annotations: monitored ? { 'flomesh.io/sidecar-injection': 'enabled' } : {} },
});
const podSpec = { serviceAccountName: 'web', containers: [{ name: 'app', image: 'nginx' }] };

/** A pod as the API server stores it after our injector patched it. */
function injected(name: string, namespace: string): Obj {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: structuredClone(podSpec) };
  const plan = injectPod({ pod, namespace, uuid: UUID }, new MemoryView([ns(namespace) as KubeObject]), { mesh, sidecarMode: 'classic' });
  if (!('patch' in plan)) throw new Error(plan.message);
  const out = fastJsonPatch.applyPatch(structuredClone(pod), plan.patch, true, false).newDocument as Obj;
  return { ...out, metadata: { ...out.metadata, creationTimestamp: '2026-01-01T00:00:00Z' }, status: { phase: 'Running' } };
}

const options = (o: Partial<AuditCommandOptions> = {}): AuditCommandOptions => ({ kubeconfig, output: 'text', mesh, injector: { sidecarMode: 'classic' }, ...o });

async function run(o: Partial<AuditCommandOptions> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await auditCommand(options(o), { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

/** A home without ~/.kube/config and no $KUBECONFIG: only what a test sets points at a cluster. */
const { KUBECONFIG: _kubeconfig, ...baseEnv } = process.env;
const cleanEnv: NodeJS.ProcessEnv = { ...baseEnv, HOME: mkdtempSync(join(tmpdir(), 'mesh-admission-home-')) };

/** The real command line, in a child process (asynchronously: the fake API server answers from this process). */
function cli(args: string[], input = '', env: NodeJS.ProcessEnv = cleanEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, env }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

beforeAll(async () => {
  api = await FakeApiServer.start({ tls: true, resources: [...CORE_RESOURCES, ...CRDS] });
  api.authorize({ clusterRules: READ_ONLY });
  for (const n of [ns('apps'), ns('clean'), ns('fsm-system', false), ns('outside', false)]) api.addObject(n);
  // admitted while the webhook was down: a chain naming a Plugin that does not exist, a pod without sidecar
  api.addObject({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'PluginChain', metadata: { name: 'logging', namespace: 'apps' }, spec: { chains: [{ name: 'inbound-http', plugins: ['gone'] }], selectors: { podSelector: { matchLabels: { app: 'web' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'apps' } } } } });
  api.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'legacy', namespace: 'apps', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: podSpec, status: { phase: 'Running' } });
  // an injected pod whose bootstrap Secret exists, one whose Secret is gone, and a pod outside the mesh
  api.addObject(injected('web', 'clean'));
  api.addObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: bootstrapSecretName(UUID), namespace: 'clean', labels: { 'app.kubernetes.io/name': 'flomesh.io', 'app.kubernetes.io/instance': 'fsm', 'fsm-proxy-uuid': UUID } }, data: { 'bootstrap.yaml': 'c2VjcmV0' } });
  api.addObject(injected('orphan', 'apps'));
  api.addObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'other', namespace: 'outside' }, spec: podSpec });
  // what a GlobalTrafficPolicy is checked against: the clusters that really export the service
  api.addObject({ apiVersion: 'flomesh.io/v1alpha1', kind: 'ServiceImport', metadata: { name: 'web', namespace: 'apps' }, spec: { type: 'ClusterSetIP', ports: [{ port: 80, protocol: 'TCP', endpoints: [{ clusterKey: 'default/default/default/c1', target: { host: 'h', ip: '10.0.0.1', port: 80 } }] }] } });
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'mesh-admission-audit-')), 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfigYaml());
});

afterAll(async () => {
  await api?.close();
});

describe('mesh-admission audit', () => {
  it('reports the findings (exit 1) with only GET requests, no watch, no write, within the read-only role', async () => {
    const before = api.requests.length;
    const { code, stdout, stderr } = await run();
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(stdout).toBe(
      [
        'PluginChain apps/logging',
        '  warning spec.chains[0].plugins[0]: Plugin gone does not exist: proxies skip it until a Plugin of that name is created  [pluginchain-plugin-missing]',
        '',
        'Pod apps/legacy',
        '  warning spec.containers: no sidecar, although injection is enabled for this pod: it was created before injection was enabled or while the injector was unavailable; recreate it (e.g. kubectl rollout restart of its workload)  [pod-sidecar-missing]',
        '',
        '0 errors, 2 warnings in 2 policy objects and 3 pods.',
        'Not checked: bootstrap Secrets (this user may not list Secrets).',
        '',
      ].join('\n'),
    );
    const made = api.requests.slice(before);
    expect(made.length).toBeGreaterThan(0);
    expect(made.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(made.filter((r) => r.verb === 'watch' || r.verb === 'get')).toEqual([]);
    // only the Secrets list was refused (the check it serves is then reported as not run)
    expect(new Set(made.filter((r) => !r.allowed).map((r) => r.resource))).toEqual(new Set(['secrets']));
  });

  it('with list on Secrets (metadata only), a sidecar whose bootstrap Secret is gone is an error', async () => {
    api.authorize({ clusterRules: [...READ_ONLY, auditSecretsRule() as unknown as PolicyRule] });
    try {
      const { code, stdout } = await run({ output: 'json' });
      expect(code).toBe(1);
      const doc = JSON.parse(stdout) as { summary: Record<string, unknown>; findings: Array<Record<string, unknown>>; notServed: string[] };
      expect(doc.summary).toEqual({ errors: 1, warnings: 2, objects: 2, pods: 3, notChecked: [] });
      expect(doc.findings.find((f) => f.severity === 'error')).toEqual({
        severity: 'error',
        kind: 'Pod',
        group: '',
        namespace: 'apps',
        name: 'orphan',
        rule: 'pod-bootstrap-secret-missing',
        field: 'spec.volumes',
        message: `the sidecar's bootstrap Secret apps/${bootstrapSecretName(UUID)} does not exist: the sidecar cannot start or restart; recreate the pod (the injector then creates a new Secret)`,
      });
      expect(doc.notServed).toEqual([]);
      const secretLists = api.requests.filter((r) => r.resource === 'secrets' && r.allowed);
      expect(secretLists.length).toBeGreaterThan(0);
      expect(secretLists.every((r) => r.verb === 'list' && r.query.labelSelector === 'app.kubernetes.io/name=flomesh.io,app.kubernetes.io/instance=fsm,fsm-proxy-uuid')).toBe(true);
    } finally {
      api.authorize({ clusterRules: READ_ONLY });
    }
  });

  it('another injector of the mesh\'s pods and another validator of its kinds are findings naming the configuration and what to do', async () => {
    const ADM = 'admissionregistration.k8s.io/v1';
    // this server's own injection webhook, as installed: another injector conflicts with it
    const own = webhookConfigurations(mesh, { target: { service: { name: 'mesh-admission', namespace: 'fsm-system' } } }).mutating;
    api.addObject(own as unknown as Obj);
    api.addObject({
      apiVersion: ADM,
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'fsm-webhook-fsm', labels: { app: 'fsm-injector' } },
      webhooks: [{ name: 'fsm-inject.k8s.io', clientConfig: { service: { name: 'fsm-injector', namespace: 'fsm-system' } }, namespaceSelector: { matchLabels: { 'flomesh.io/monitored-by': 'fsm' } }, rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['v1'], resources: ['pods'] }], sideEffects: 'NoneOnDryRun', admissionReviewVersions: ['v1'] }],
    });
    api.addObject({
      apiVersion: ADM,
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'fsm-validator-mesh-fsm' },
      webhooks: [{ name: 'fsm-validator.k8s.io', clientConfig: { service: { name: 'fsm-validator', namespace: 'fsm-system' } }, rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['plugin.flomesh.io'], apiVersions: ['v1alpha1'], resources: ['plugins'] }], sideEffects: 'None', admissionReviewVersions: ['v1'] }],
    });
    try {
      const { code, stdout } = await run();
      expect(code).toBe(1);
      expect(stdout).toContain(
        [
          // after the policy objects, by configuration name
          'ValidatingWebhookConfiguration fsm-validator-mesh-fsm',
          '  warning webhooks[0]: fsm-validator.k8s.io: also validates Plugin: an object must satisfy both validators; it is the mesh\'s own validator, which its controller re-creates when it starts: delete it after each restart of fsm-controller (README: "Replacing the mesh\'s own webhooks")  [webhook-conflict]',
          '',
          'MutatingWebhookConfiguration fsm-webhook-fsm',
          '  error   webhooks[0]: fsm-inject.k8s.io: the mesh\'s own sidecar injector, called before mesh-admission-fsm for pod CREATE in apps, clean: pods are injected by it, and this server adds nothing to them; run one injector per mesh: scale fsm-injector to zero and delete this configuration (README: "Replacing the mesh\'s own webhooks")  [webhook-conflict]',
          '',
          'Pod apps/legacy',
        ].join('\n'),
      );
      expect(stdout).toContain('1 error, 3 warnings in 2 policy objects and 3 pods.');
      // one namespace: the webhooks are cluster-wide, not part of it
      expect((await run({ namespace: 'clean' })).stdout).not.toContain('webhook-conflict');
      // a role that may not list them: the check is skipped and the report says so
      api.authorize({ clusterRules: READ_ONLY.filter((r) => !r.apiGroups.includes('admissionregistration.k8s.io')) });
      const refused = await run();
      expect(refused.stdout).not.toContain('webhook-conflict');
      expect(refused.stdout).toContain('Not checked: webhook configurations (this user may not list them).');
    } finally {
      api.authorize({ clusterRules: READ_ONLY });
      api.deleteObject(ADM, 'MutatingWebhookConfiguration', undefined, 'fsm-webhook-fsm');
      api.deleteObject(ADM, 'ValidatingWebhookConfiguration', undefined, 'fsm-validator-mesh-fsm');
      api.deleteObject(ADM, 'MutatingWebhookConfiguration', undefined, 'mesh-admission-fsm');
    }
  });

  it('--namespace: one namespace only; clean is exit 0', async () => {
    const { code, stdout } = await run({ namespace: 'clean' });
    expect(stdout).toBe('0 errors, 0 warnings in 0 policy objects and 1 pod.\nNot checked: bootstrap Secrets (this user may not list Secrets).\n');
    expect(code).toBe(0);
  });

  it('could not run (exit 2): a role without list on pods, with the reason and where to look', async () => {
    api.authorize({ clusterRules: READ_ONLY.map((r) => (r.resources.includes('pods') ? { ...r, resources: r.resources.filter((x) => x !== 'pods') } : r)) });
    try {
      const { code, stderr } = await run();
      expect(code).toBe(2);
      expect(stderr).toContain('pods is forbidden');
      expect(stderr).toContain('see "Audit" in README.md');
    } finally {
      api.authorize({ clusterRules: READ_ONLY });
    }
  });

  it('an unknown namespace is a usage error', async () => {
    await expect(run({ namespace: 'nope' })).rejects.toThrow('namespace nope not found');
  });
});

describe('the command line against a live cluster (read-only)', () => {
  const gtp = (key: string): string =>
    `apiVersion: flomesh.io/v1alpha1\nkind: GlobalTrafficPolicy\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  lbType: FailOver\n  targets:\n    - clusterKey: ${key}\n`;

  it('audit --kubeconfig: the same report, exit 1 on findings', async () => {
    const r = await cli(['audit', '--kubeconfig', kubeconfig]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Pod apps/legacy\n  warning spec.containers: no sidecar');
    expect(r.stdout).toContain('0 errors, 2 warnings in 2 policy objects and 3 pods.');
    expect((await cli(['audit', '--kubeconfig', kubeconfig, '-n', 'clean'])).code).toBe(0);
    expect((await cli(['audit'])).stderr).toBe('error: give the cluster to audit with --kubeconfig FILE (or set KUBECONFIG)\n');
  });

  it('validate --kubeconfig: a change checked against what the cluster holds now', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mesh-admission-gtp-')), 'gtp.yaml');
    writeFileSync(file, gtp('default/default/default/c2'));
    const denied = await cli(['validate', '-f', file, '--kubeconfig', kubeconfig]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain('gtp.yaml:9: globaltrafficpolicy.flomesh.io/web: * spec.targets[0].clusterKey: cluster default/default/default/c2 does not export this service: ServiceImport apps/web has endpoints only from default/default/default/c1; traffic for this target would be dropped');
    writeFileSync(file, gtp('default/default/default/c1'));
    expect((await cli(['validate', '-f', file, '--kubeconfig', kubeconfig])).code).toBe(0);
    const both = await cli(['validate', '-f', file, '--kubeconfig', kubeconfig, '--cluster-state', 'examples/cluster']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
  });

  it('explain --kubeconfig: the namespace and MeshConfig of the live cluster decide', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mesh-admission-pod-')), 'pod.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  containers:\n    - name: app\n      image: nginx\n');
    const r = await cli(['explain', '-f', file, '--kubeconfig', kubeconfig, '--sidecar-mode', 'classic', '-o', 'json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { results: Array<{ decision: string }> }).results.map((x) => x.decision)).toEqual(['inject']);
    writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: outside\nspec:\n  containers:\n    - name: app\n      image: nginx\n');
    const outside = await cli(['explain', '-f', file, '--kubeconfig', kubeconfig, '-o', 'json']);
    expect((JSON.parse(outside.stdout) as { results: Array<{ decision: string }> }).results.map((x) => x.decision)).toEqual(['skip']);
  });

  it('$KUBECONFIG and --context are honoured as kubectl honours them; --cluster-state and --no-kubeconfig stay offline', async () => {
    const withEnv = { ...cleanEnv, KUBECONFIG: kubeconfig };
    // audit: --kubeconfig, else $KUBECONFIG, else ~/.kube/config
    const audit = await cli(['audit', '-n', 'clean'], '', withEnv);
    expect(audit).toMatchObject({ code: 0, stdout: '0 errors, 0 warnings in 0 policy objects and 1 pod.\nNot checked: bootstrap Secrets (this user may not list Secrets).\n' });
    const home = mkdtempSync(join(tmpdir(), 'mesh-admission-home-'));
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube', 'config'), api.kubeConfigYaml());
    expect((await cli(['audit', '-n', 'clean'], '', { ...cleanEnv, HOME: home })).code).toBe(0);
    // validate: $KUBECONFIG set is a cluster to judge against, said on stderr
    const file = join(mkdtempSync(join(tmpdir(), 'mesh-admission-gtp-')), 'gtp.yaml');
    writeFileSync(file, gtp('default/default/default/c2'));
    const live = await cli(['validate', file], '', withEnv);
    expect(live.code).toBe(1);
    expect(live.stdout).toContain('cluster default/default/default/c2 does not export this service');
    expect(live.stderr).toBe('mesh-admission: judging against the cluster of $KUBECONFIG; --cluster-state DIR or --no-kubeconfig judge offline\n');
    // a context of $KUBECONFIG's file by name; an unknown one is exit 2
    expect((await cli(['validate', file, '--context', 'fake'], '', withEnv)).code).toBe(1);
    const unknown = await cli(['validate', file, '--context', 'nope'], '', withEnv);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`${kubeconfig}: no context named nope`);
    // --context alone finds ~/.kube/config; ~/.kube/config alone does not make validate read a cluster
    expect((await cli(['validate', file, '--context', 'fake'], '', { ...cleanEnv, HOME: home })).code).toBe(1);
    const ambient = await cli(['validate', file], '', { ...cleanEnv, HOME: home });
    expect(ambient.code).toBe(0);
    expect(ambient.stdout).toContain('Unverified: spec.targets: clusterKey references not verified');
    // offline despite $KUBECONFIG
    for (const args of [['--no-kubeconfig'], ['--cluster-state', 'examples/cluster']]) {
      const offline = await cli(['validate', file, ...args], '', withEnv);
      expect(offline.stdout, args.join(' ')).not.toContain('does not export this service');
      expect(offline.stderr, args.join(' ')).toBe('');
    }
    const contradiction = await cli(['validate', file, '--no-kubeconfig', '--context', 'fake'], '', withEnv);
    expect(contradiction).toMatchObject({ code: 2, stderr: 'error: --context names a context of a kubeconfig: it does not go with --no-kubeconfig\n' });
  });

  it('a refused read is exit 2 with the reason', async () => {
    api.authorize({ clusterRules: [] });
    try {
      const r = await cli(['validate', '-f', 'examples/seeds', '--kubeconfig', kubeconfig]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('reading the cluster:');
      expect(r.stderr).toContain('forbidden');
    } finally {
      api.authorize({ clusterRules: READ_ONLY });
    }
  });
});
