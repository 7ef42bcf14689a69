// Two meshes, one cluster: the install of the FSM overlay (mesh fsm in fsm-system), of the osm-edge overlay (mesh osm in
// osm-system) and of a copied FSM overlay for a second FSM mesh (blue-2 in blue-system), each rendered with
// `kubectl kustomize` and applied server-side, one after the other, by field managers of their own, through a real API
// server. No apply meets a conflict, none changes an object of another (same uid, same resourceVersion), and every
// cluster-scoped object carries its mesh's name.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/fixtures.js';
import { describeApiServer, pathOf, statusMessage, TestCluster, type Obj } from './harness.js';

const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

/** A copy of the FSM overlay for another mesh, as an operator keeps it in a repository of their own. */
function blueOverlay(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-blue-'));
  const src = join(REPO_ROOT, 'manifests/overlays/fsm');
  for (const f of ['kustomization.yaml', 'parameters.yaml', 'replacements.yaml']) copyFileSync(join(src, f), join(dir, f));
  const k = readFileSync(join(dir, 'kustomization.yaml'), 'utf8').replace('../../flavors/fsm', relative(dir, join(REPO_ROOT, 'manifests/flavors/fsm'))).replace(/^namespace: .*$/m, 'namespace: blue-system');
  writeFileSync(join(dir, 'kustomization.yaml'), k);
  writeFileSync(join(dir, 'parameters.yaml'), readFileSync(join(dir, 'parameters.yaml'), 'utf8').replace(/meshName: .*/, 'meshName: blue-2'));
  return dir;
}

function render(dir: string): Obj[] {
  return parseAllDocuments(execFileSync(KUBECTL!, ['kustomize', dir], { encoding: 'utf8' }))
    .map((d) => d.toJSON() as Obj)
    .filter(Boolean);
}

const id = (o: Obj): string => `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

let cluster: TestCluster;

describeApiServer('two meshes\' installs side by side', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ allGroups: true, controllerManager: false });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it.skipIf(!KUBECTL)('each applies without a conflict and leaves the others\' objects as they were', async () => {
    const installs = [
      { manager: 'install-fsm', mesh: 'fsm', objects: render(join(REPO_ROOT, 'manifests/overlays/fsm')) },
      { manager: 'install-osm', mesh: 'osm', objects: render(join(REPO_ROOT, 'manifests/overlays/osm-edge')) },
      { manager: 'install-blue', mesh: 'blue-2', objects: render(blueOverlay()) },
    ];
    for (const ns of ['osm-system', 'blue-system']) await cluster.admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    // the names never meet: every cluster-scoped object carries its mesh's name, the namespaced ones their namespace
    const ids = installs.flatMap((i) => i.objects.map(id));
    expect(new Set(ids).size).toBe(ids.length);
    for (const i of installs) for (const o of i.objects.filter((x) => CLUSTER_SCOPED.has(x.kind ?? ''))) expect(o.metadata?.name, id(o)).toBe(`mesh-admission-${i.mesh}`);

    const stored = new Map<string, { uid: string; resourceVersion: string }>();
    for (const install of installs) {
      for (const o of install.objects) {
        // server-side apply by this install's own field manager, without force: a field another manager owns would be a 409
        const res = await cluster.admin.request('PATCH', pathOf(o), JSON.stringify(o), { fieldManager: install.manager }, 'application/apply-patch+yaml');
        expect(res.status, `${install.manager}: ${id(o)}: ${statusMessage(res.body)}`).toBeGreaterThanOrEqual(200);
        expect(res.status, `${install.manager}: ${id(o)}: ${statusMessage(res.body)}`).toBeLessThan(300);
        expect(res.body.metadata?.uid, `${id(o)} was created by this apply`).not.toBe(stored.get(id(o))?.uid);
      }
      // what the installs before it applied is exactly as it was
      for (const [key, was] of stored) {
        const [kind] = key.split(' ');
        const o = installs.flatMap((i) => i.objects).find((x) => id(x) === key)!;
        const now = await cluster.admin.get(pathOf(o));
        expect({ key, uid: now?.metadata?.uid, resourceVersion: now?.metadata?.resourceVersion }, kind).toEqual({ key, ...was });
      }
      for (const o of install.objects) {
        const now = await cluster.admin.get(pathOf(o));
        stored.set(id(o), { uid: now!.metadata!.uid!, resourceVersion: now!.metadata!.resourceVersion! });
      }
    }
    // each binding grants its own mesh's ServiceAccount its own mesh's ClusterRole
    const bindings = await cluster.admin.list('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { labelSelector: 'app.kubernetes.io/name=mesh-admission' });
    expect(bindings.map((b) => [b.metadata?.name, (b.roleRef as { name: string }).name, (b.subjects as Array<{ namespace: string }>)[0]!.namespace]).sort()).toEqual([
      ['mesh-admission-blue-2', 'mesh-admission-blue-2', 'blue-system'],
      ['mesh-admission-fsm', 'mesh-admission-fsm', 'fsm-system'],
      ['mesh-admission-osm', 'mesh-admission-osm', 'osm-system'],
    ]);
    // and each injection webhook selects its own mesh's namespaces, through its own Service
    const injections = await cluster.admin.list('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', { labelSelector: 'app.kubernetes.io/name=mesh-admission' });
    const how = injections.map((m) => {
      const w = (m.webhooks as Array<{ namespaceSelector: { matchLabels: Record<string, string> }; clientConfig: { service: { namespace: string } } }>)[0]!;
      return [m.metadata?.name, JSON.stringify(w.namespaceSelector.matchLabels), w.clientConfig.service.namespace];
    });
    expect(how.sort()).toEqual([
      ['mesh-admission-blue-2', '{"flomesh.io/monitored-by":"blue-2"}', 'blue-system'],
      ['mesh-admission-fsm', '{"flomesh.io/monitored-by":"fsm"}', 'fsm-system'],
      ['mesh-admission-osm', '{"openservicemesh.io/monitored-by":"osm"}', 'osm-system'],
    ]);
  });
});
