// Two replicas in their own processes against one fake API server: each injected pod gets its bootstrap Secret from
// exactly one create (the Lease holder's), and when the holder dies without a word (SIGKILL) the other takes over and
// creates the Secrets of the pods that came meanwhile, within 20 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import { injectPod } from '../../src/injector/inject.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { pod } from '../injector/helpers.js';
import { FakeApiServer, waitFor, type Obj } from '../support/fake-apiserver.js';
import { REPO_ROOT } from '../support/fixtures.js';

const mesh = meshIdentity('fsm');
const ns = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'flomesh.io/monitored-by': 'fsm' }, annotations: { 'flomesh.io/sidecar-injection': 'enabled' } } });

interface Replica {
  readonly child: ChildProcess;
  out: string;
  exited: boolean;
}

let api: FakeApiServer;
const replicas: Replica[] = [];
let seq = 0;

function startReplica(kubeconfig: string, dir: string): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'serve', '--kubeconfig', kubeconfig, '--port', '0', '--metrics-port', '0', '--health-port', '0', '--host', '127.0.0.1', '--certs-dir', dir, '--shutdown-delay-seconds', '0'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Replica = { child, out: '', exited: false };
  child.stdout!.on('data', (c: Buffer) => (r.out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (r.out += c.toString()));
  child.once('exit', () => (r.exited = true));
  replicas.push(r);
  return r;
}

/** A pod as the API server stores it after admission (the injector's patch applied), Pending. */
function createPod(): { name: string; uuid: string; at: number } {
  const uuid = `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;
  const p = pod();
  const plan = injectPod({ pod: p, namespace: 'apps', uuid }, new MemoryView([ns('apps')]), { mesh, sidecarMode: 'classic' });
  if (!('patch' in plan)) throw new Error(plan.message);
  const stored = fastJsonPatch.applyPatch(structuredClone(p), structuredClone(plan.patch), true, false).newDocument as Obj;
  const name = `web-${seq}`;
  stored.metadata = { ...stored.metadata, name, namespace: 'apps' };
  (stored as Record<string, unknown>).status = { phase: 'Pending' };
  api.addObject(stored);
  return { name, uuid, at: Date.now() };
}

const secretExists = (uuid: string): boolean => api.getObject('v1', 'Secret', 'apps', `sidecar-bootstrap-config-${uuid}`) !== undefined;
const leading = (r: Replica): boolean => r.out.includes('leader election: started leading');

beforeAll(async () => {
  api = await FakeApiServer.start({ tls: true });
  api.addObject(ns('apps'));
  api.addObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fsm-system' } });
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-replicas-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfigYaml());
  // the first creates the mesh CA and serving Secrets; the second starts once they exist, so both read the same ones
  const a = startReplica(kubeconfig, join(dir, 'a'));
  await waitFor(() => a.out.includes('mesh-admission serving') || a.exited, { timeoutMs: 60_000, what: 'replica a to serve' });
  const b = startReplica(kubeconfig, join(dir, 'b'));
  await waitFor(() => b.out.includes('mesh-admission serving') || b.exited, { timeoutMs: 60_000, what: 'replica b to serve' });
  expect(replicas.filter((r) => r.exited).map((r) => r.out)).toEqual([]);
  await waitFor(() => replicas.some(leading), { timeoutMs: 30_000, what: 'a leader' });
});

afterAll(async () => {
  for (const r of replicas) if (!r.exited) r.child.kill('SIGKILL');
  await api?.close();
});

describe('two replicas', () => {
  it('create each pod\'s Secret once: one create per pod, no duplicate attempt', async () => {
    expect(replicas.filter(leading)).toHaveLength(1);
    const pods = Array.from({ length: 100 }, () => createPod());
    await waitFor(() => pods.every((p) => secretExists(p.uuid)), { timeoutMs: 30_000, what: 'every Secret' });
    const creates = api.requestsFor({ verb: 'create', resource: 'secrets', namespace: 'apps' });
    // exactly one create per pod; duplicates (answered 409) would show here as extra creates
    expect(creates).toHaveLength(100);
    // the kubelet mounts the Secrets and starts the pods (the fake has no kubelet: this is its part)
    for (const p of pods) api.modifyObject('v1', 'Pod', 'apps', p.name, (o) => ((o as Record<string, unknown>).status = { phase: 'Running' }));
  });

  it('when the Lease holder dies without a word, the other replica creates the Secrets of new pods within 20 s', async () => {
    const leader = replicas.find(leading)!;
    const follower = replicas.find((r) => r !== leader)!;
    leader.child.kill('SIGKILL');
    await waitFor(() => leader.exited, { what: 'the leader to die' });
    const pods = Array.from({ length: 20 }, () => createPod());
    await waitFor(() => pods.every((p) => secretExists(p.uuid)), { timeoutMs: 40_000, what: 'the Secrets of the pods created after the leader died' });
    // its log is written in batches: the line comes within a flush interval
    await waitFor(() => leading(follower), { what: 'the follower to log that it leads' });
    const creates = api.requestsFor({ verb: 'create', resource: 'secrets', namespace: 'apps' });
    const byName = new Map(creates.map((c) => [String((c.body as { metadata?: { name?: string } }).metadata?.name), c.at]));
    const delays = pods.map((p) => (byName.get(`sidecar-bootstrap-config-${p.uuid}`) ?? Infinity) - p.at);
    expect(Math.max(...delays)).toBeLessThan(20_000);
    // pods still starting at a takeover could get a second create (answered 409); here the earlier ones all run
    expect(creates).toHaveLength(120);
  });
});
