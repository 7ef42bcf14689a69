// The read-only commands against a real API server, as a ServiceAccount bound to nothing but the audit's ClusterRole
// (manifests/audit/clusterrole.yaml): `audit` finds what slipped past admission (a pod created before injection was
// registered, a Plugin admitted before validation was), `validate --kubeconfig` and `explain --kubeconfig` judge
// against the live state; the API server's audit log shows every request was an allowed read.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/fixtures.js';
import { describeApiServer, plainPod, TestCluster, TSX_LOADER, type Obj } from './harness.js';

const READER = 'system:serviceaccount:ci:auditor';
let cluster: TestCluster;
let kubeconfig: string;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describeApiServer('read-only commands as a read-only ServiceAccount', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ auditPolicy: { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', users: [READER] }, { level: 'None' }] } });
    const { admin } = cluster;
    for (const role of parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests/audit/clusterrole.yaml'), 'utf8')).map((d) => d.toJSON() as Obj)) await admin.create(role);
    await admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ci' } });
    await admin.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'auditor', namespace: 'ci' } });
    await admin.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'auditor' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'mesh-admission-audit' },
      subjects: [{ kind: 'ServiceAccount', name: 'auditor', namespace: 'ci' }],
    });
    kubeconfig = cluster.cp.writeKubeConfig('auditor', await admin.token('ci', 'auditor'));
    // what slipped past admission: no webhook is registered in this cluster
    await cluster.meshNamespace('apps');
    await admin.create(plainPod('apps', 'uninjected'));
    await admin.create({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'too-high' }, spec: { pipyscript: 'x', priority: 70000 } });
    await admin.create({ apiVersion: 'multicluster.flomesh.io/v1alpha1', kind: 'Cluster', metadata: { name: 'cluster-1' }, spec: { gatewayHost: '10.0.0.1', gatewayPort: 80, kubeconfig: 'x' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('audit reports what slipped past admission', async () => {
    const r = await cli(['audit', '--kubeconfig', kubeconfig, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { findings: Array<{ kind: string; namespace?: string; name: string; rule: string; severity: string }> };
    expect(report.findings.map((f) => `${f.severity} ${f.rule} ${f.kind} ${f.namespace ? `${f.namespace}/` : ''}${f.name}`).sort()).toEqual([
      'error plugin-priority-range Plugin too-high',
      'warning cluster-kubeconfig-plaintext Cluster cluster-1',
      'warning pod-sidecar-missing Pod apps/uninjected',
    ]);
    // the optional bootstrap Secret check needs the second role, which this account was not given
    expect(JSON.parse(r.stdout)).toMatchObject({ summary: { notChecked: ['bootstrap Secrets (this user may not list Secrets)'] } });
  });

  it('validate --kubeconfig judges references against the live state', async () => {
    const file = join(cluster.cp.dir, 'gtp.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: multicluster.flomesh.io/v1alpha1',
        'kind: GlobalTrafficPolicy',
        'metadata: {name: httpbin, namespace: apps}',
        'spec:',
        '  lbType: FailOver',
        '  targets:',
        '  - clusterKey: default/default/default/cluster-9',
        '',
      ].join('\n'),
    );
    const r = await cli(['validate', '--kubeconfig', kubeconfig, '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('spec.targets[0].clusterKey: no Cluster has the key default/default/default/cluster-9 (known Cluster keys: default/default/default/cluster-1)');
  });

  it('explain --kubeconfig tells what injection would do in a live namespace', async () => {
    const file = join(cluster.cp.dir, 'pod.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: apps}\nspec:\n  containers:\n  - {name: app, image: nginx}\n');
    const r = await cli(['explain', '--kubeconfig', kubeconfig, '-f', file, '-o', 'json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: Array<{ decision: string; containers?: string[] }> } | Array<{ decision: string }>;
    const results = Array.isArray(out) ? out : out.results;
    expect(results.map((x) => x.decision)).toEqual(['inject']);
  });

  it('every request was an allowed read: lists and discovery, nothing else', () => {
    const events = cluster.cp.auditEvents().filter((e) => e.user.username === READER);
    expect(events.length).toBeGreaterThan(10);
    // refused: only the optional Secret check, which the audit then reports as not done
    expect(new Set(events.filter((e) => e.annotations?.['authorization.k8s.io/decision'] !== 'allow').map((e) => `${e.verb} ${e.objectRef?.resource}`))).toEqual(new Set(['list secrets']));
    expect(new Set(events.map((e) => (e.objectRef?.resource ? e.verb : `${e.verb} (non-resource)`)))).toEqual(new Set(['list', 'get (non-resource)']));
  });
});
