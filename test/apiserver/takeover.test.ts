// README's "Replacing the mesh's own webhooks", step by step, as written there (the commands are read from README.md and
// run with kubectl against a real API server), for FSM and osm-edge, against stand-ins of the mesh's objects: the
// injector's and the controller's Deployments (plain Deployments, as the chart writes their arguments), and what those
// processes do with their webhook configurations (written when they start, restored by the reconciler when deleted;
// test/support/mesh-injector-standin.ts). After each step the objects are checked; the conflict shows in
// `mesh-admission audit` (and, for FSM, on a running server's /readyz) until the last step, and again on the way back.
//
// Not run here, checked to be in README: `kubectl apply -k` / `delete -k` of the install (a server process stands in
// for it, its webhooks reached by URL: no kubelet runs the Deployment), and `helm upgrade` (no chart here: the change
// it makes to the controller's arguments is made with a patch).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MeshControlPlaneStandin, MeshInjectorStandin, STANDIN_SIDECAR_IMAGE } from '../support/mesh-injector-standin.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { webhookConfigurations } from '../../src/install/webhook-config.js';
import { describeApiServer, meshIdentity, plainPod, statusMessage, TestCluster, TSX_LOADER, waitFor, type Obj, type ServerProcess } from './harness.js';

const ADM = '/apis/admissionregistration.k8s.io/v1';

/** The README's code blocks of the section, as lists of commands (comments after a command dropped). */
function readmeCommands(): { fsm: string[]; osm: string[]; back: string[] } {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Replacing the mesh\'s own webhooks'), readme.indexOf('### Upgrading'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l && !l.startsWith('#')),
  );
  const [fsm, osm, back] = blocks;
  return { fsm: fsm ?? [], osm: osm ?? [], back: back ?? [] };
}

let cluster: TestCluster;
let server: ServerProcess;
let kubeconfig: string;
const standins: MeshInjectorStandin[] = [];
const planes: MeshControlPlaneStandin[] = [];

/** A command of the README, run as an operator runs it (mesh-admission is this checkout's CLI). */
function run(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = command.replace(/^mesh-admission /, `${JSON.stringify(process.execPath)} --import ${TSX_LOADER} ${JSON.stringify(join(REPO_ROOT, 'src/cli/main.ts'))} `);
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { cwd: REPO_ROOT, env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 150_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function ok(command: string): Promise<string> {
  const r = await run(command);
  expect(r.code, `${command}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The webhook-conflict findings `mesh-admission audit` reports for a flavor, as `<kind> <name>`. */
async function auditConflicts(flavor: string, only?: RegExp): Promise<string[]> {
  const r = await run(`mesh-admission audit --flavor ${flavor} -o json`);
  expect([0, 1], r.stderr).toContain(r.code);
  const doc = JSON.parse(r.stdout) as { findings: Array<{ kind: string; name: string; rule: string }> };
  return doc.findings.filter((f) => f.rule === 'webhook-conflict' && (!only || only.test(f.name))).map((f) => `${f.kind} ${f.name}`);
}

const exists = async (path: string): Promise<boolean> => (await cluster.admin.get(path)) !== undefined;

/** Several looks of the stand-ins at their Deployments: whatever they would do about the last change, they did. */
async function standinsSettled(plane: MeshControlPlaneStandin): Promise<void> {
  const from = plane.ticks;
  await waitFor(() => plane.ticks >= from + 3, { what: 'the stand-ins to look again' });
}

async function meshFor(flavor: 'fsm' | 'osm-edge', appsNamespace: string): Promise<{ plane: MeshControlPlaneStandin; injector: MeshInjectorStandin }> {
  const mesh = meshIdentity(flavor);
  if (!(await exists(`/api/v1/namespaces/${mesh.meshNamespace}`))) await cluster.admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: mesh.meshNamespace } });
  const d = mesh.flavor.domain;
  await cluster.admin.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: appsNamespace, labels: { [`${d}/monitored-by`]: mesh.meshName }, annotations: { [`${d}/sidecar-injection`]: 'enabled' } } });
  const injector = await MeshInjectorStandin.start(mesh, cluster.admin);
  const plane = new MeshControlPlaneStandin(mesh, cluster.admin, injector);
  standins.push(injector);
  planes.push(plane);
  await plane.install(true);
  plane.start();
  await waitFor(async () => (await exists(`${ADM}/mutatingwebhookconfigurations/${plane.names.mutating}`)) && (await exists(`${ADM}/validatingwebhookconfigurations/${plane.names.validating}`)), { what: 'the mesh\'s configurations written' });
  return { plane, injector };
}

/** What `helm upgrade --set <p>.enableReconciler=false|true` changes: the controller's argument (and so restarts it). */
async function setReconciler(plane: MeshControlPlaneStandin, namespace: string, on: boolean): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${namespace}/deployments/${plane.names.controller}`;
  const d = await cluster.admin.get(path);
  const args = (d!.spec as { template: { spec: { containers: Array<{ args: string[] }> } } }).template.spec.containers[0]!.args.map((a) => (a.startsWith('--enable-reconciler=') ? `--enable-reconciler=${on}` : a));
  const res = await cluster.admin.request('PATCH', path, [{ op: 'replace', path: '/spec/template/spec/containers/0/args', value: args }], undefined, 'application/json-patch+json');
  expect(res.status).toBe(200);
}

describeApiServer('README: replacing the mesh\'s own webhooks, step by step', () => {
  const commands = readmeCommands();

  beforeAll(async () => {
    cluster = await TestCluster.start({ allGroups: true });
    kubeconfig = cluster.cp.writeKubeConfig('operator');
    server = await cluster.startServer(await cluster.serviceAccountKubeConfig());
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
  });

  afterAll(async () => {
    for (const p of planes) p.stop();
    for (const s of standins) await s.close();
    await cluster?.stop();
  });

  it('the README gives the steps for both meshes, and the way back', () => {
    expect(commands.fsm).toEqual([
      'kubectl apply -k manifests/overlays/fsm',
      'kubectl -n fsm-system scale deployment fsm-injector --replicas=0',
      'kubectl -n fsm-system wait pod -l app=fsm-injector --for=delete --timeout=120s',
      'kubectl delete mutatingwebhookconfiguration fsm-webhook-fsm',
      'helm upgrade <release> <chart> -n fsm-system --reuse-values --set fsm.enableReconciler=false',
      'kubectl delete validatingwebhookconfiguration fsm-validator-mesh-fsm',
      'mesh-admission audit --flavor fsm',
    ]);
    // osm-edge: the same steps with its names
    const osmNames = (c: string): string => c.replace(/fsm-system/g, 'osm-system').replace(/fsm-injector/g, 'osm-injector').replace('fsm-webhook-fsm', 'osm-webhook-osm').replace('fsm.enableReconciler', 'osm.enableReconciler').replace('fsm-validator-mesh-fsm', 'osm-validator-mesh-osm').replace('overlays/fsm', 'overlays/osm-edge').replace('--flavor fsm', '--flavor osm-edge');
    expect(commands.osm).toEqual(commands.fsm.map(osmNames));
    expect(commands.back).toEqual([
      'kubectl -n fsm-system scale deployment fsm-injector --replicas=1',
      'kubectl -n fsm-system rollout restart deployment fsm-controller',
      'helm upgrade <release> <chart> -n fsm-system --reuse-values --set fsm.enableReconciler=true',
      'kubectl delete -k manifests/overlays/fsm',
    ]);
  });

  it('FSM: each step against the stand-ins, this server injecting at the end, and the way back', async () => {
    const { plane } = await meshFor('fsm', 'apps');
    const [, scale, wait, deleteMutating, , deleteValidating] = commands.fsm;
    const mwc = `${ADM}/mutatingwebhookconfigurations/fsm-webhook-fsm`;
    const vwc = `${ADM}/validatingwebhookconfigurations/fsm-validator-mesh-fsm`;
    // 1. both registered: the mesh's injector injects; the conflicts show
    expect(await auditConflicts('fsm')).toEqual(['ValidatingWebhookConfiguration fsm-validator-mesh-fsm', 'MutatingWebhookConfiguration fsm-webhook-fsm']);
    const before = await cluster.admin.create(plainPod('apps', 'before'));
    expect((before.spec as { containers: Array<{ image: string }> }).containers[0]!.image).toBe(STANDIN_SIDECAR_IMAGE);

    // 2. the injector scaled to zero: its pods go; between this step and the next, pods are refused
    await ok(scale!);
    await ok(wait!);
    expect((await cluster.admin.list('/api/v1/namespaces/fsm-system/pods', { labelSelector: 'app=fsm-injector' })).length).toBe(0);
    await waitFor(() => !plane.injectorRunning() || undefined, { what: 'the injector stopped' });
    const refused = await cluster.admin.tryCreate(plainPod('apps', 'between'));
    expect(refused.status).toBe(500);
    expect(statusMessage(refused.body)).toMatch(/^Internal error occurred: failed calling webhook "fsm-inject\.k8s\.io": /);

    // 3. its configuration deleted: nothing puts it back (the reconciler stopped with the injector); this server injects
    await ok(deleteMutating!);
    await standinsSettled(plane);
    expect(await exists(mwc)).toBe(false);
    const after = await cluster.admin.create(plainPod('apps', 'after'));
    expect(after.metadata?.labels?.['mesh-admission.io/mesh']).toBe('fsm');
    expect((after.spec as { containers: Array<{ image: string }> }).containers[0]!.image).not.toBe(STANDIN_SIDECAR_IMAGE);
    await waitFor(async () => (JSON.parse((await server.readyz()).body) as { warnings?: string[] }).warnings?.length === 1 || undefined, { what: 'only the validator left on /readyz' });

    // 4. with the reconciler on, the validator's configuration comes back at once; the reconciler off, it stays away
    await ok(deleteValidating!);
    await waitFor(() => plane.actions.includes('reconciler wrote fsm-validator-mesh-fsm') || undefined, { what: 'the reconciler restoring it' });
    expect(await exists(vwc)).toBe(true);
    const written = plane.actions.length;
    await setReconciler(plane, 'fsm-system', false);
    // the upgrade restarts the controller, which writes its configuration when it starts
    await waitFor(() => plane.actions.slice(written).includes('controller wrote fsm-validator-mesh-fsm') || undefined, { what: 'the controller restarted' });
    await ok(deleteValidating!);
    await standinsSettled(plane);
    expect(await exists(vwc)).toBe(false);

    // 5. nothing conflicts any more, in the audit and on the server
    expect(await auditConflicts('fsm')).toEqual([]);
    await waitFor(async () => (JSON.parse((await server.readyz()).body) as { warnings?: string[] }).warnings === undefined || undefined, { what: '/readyz without warnings' });
    expect(await server.metrics()).not.toContain('mesh_admission_conflicting_webhooks{');

    // the way back: the injector writes its configuration when it starts, the controller its own
    const [scaleUp, restartController] = commands.back;
    await ok(scaleUp!);
    await waitFor(() => exists(mwc).then((e) => e || undefined), { what: 'fsm-webhook-fsm written by the injector' });
    await ok(restartController!);
    await waitFor(() => exists(vwc).then((e) => e || undefined), { what: 'fsm-validator-mesh-fsm written by the controller' });
    expect(await auditConflicts('fsm')).toEqual(['ValidatingWebhookConfiguration fsm-validator-mesh-fsm', 'MutatingWebhookConfiguration fsm-webhook-fsm']);
    const back = await cluster.admin.create(plainPod('apps', 'back'));
    expect((back.spec as { containers: Array<{ image: string }> }).containers[0]!.image).toBe(STANDIN_SIDECAR_IMAGE);
  });

  it('osm-edge: each step against the stand-ins', async () => {
    const { plane } = await meshFor('osm-edge', 'osm-apps');
    // step 1's webhook configurations, as `kubectl apply -k manifests/overlays/osm-edge` writes them (no server runs
    // behind them here: the audit is the check)
    const osm = meshIdentity('osm-edge');
    const installed = webhookConfigurations(osm, { target: { service: { name: 'mesh-admission', namespace: osm.meshNamespace, port: 443 } } });
    await cluster.admin.create(installed.mutating as unknown as Obj);
    await cluster.admin.create(installed.validating as unknown as Obj);
    const [, scale, wait, deleteMutating, , deleteValidating, check] = commands.osm;
    // this mesh's (the FSM mesh's validator reaches the cluster-scoped Plugins of every mesh: a conflict of both)
    const own = /^osm-/;
    expect(await auditConflicts('osm-edge', own)).toEqual(['ValidatingWebhookConfiguration osm-validator-mesh-osm', 'MutatingWebhookConfiguration osm-webhook-osm']);
    await ok(scale!);
    await ok(wait!);
    await waitFor(() => !plane.injectorRunning() || undefined, { what: 'the injector stopped' });
    await ok(deleteMutating!);
    await standinsSettled(plane);
    expect(await exists(`${ADM}/mutatingwebhookconfigurations/osm-webhook-osm`)).toBe(false);
    expect(await auditConflicts('osm-edge', own)).toEqual(['ValidatingWebhookConfiguration osm-validator-mesh-osm']);
    await setReconciler(plane, 'osm-system', false);
    await waitFor(() => plane.actions.filter((a) => a === 'controller wrote osm-validator-mesh-osm').length === 2 || undefined, { what: 'the controller restarted' });
    await ok(deleteValidating!);
    await standinsSettled(plane);
    expect(await exists(`${ADM}/validatingwebhookconfigurations/osm-validator-mesh-osm`)).toBe(false);
    // step 5 as written: the audit prints no webhook-conflict finding
    const r = await run(check!);
    expect(r.stdout).not.toContain('osm-webhook-osm');
    expect(r.stdout).not.toContain('osm-validator-mesh-osm');
    expect(await auditConflicts('osm-edge', own)).toEqual([]);
  });
});
