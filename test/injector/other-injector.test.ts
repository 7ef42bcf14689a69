// The injection webhook beside another injector of the same pods (the mesh's own): a pod that arrives injected gets
// nothing and a warning naming the injector; a pod the mesh's injector will see after this server, which would refuse
// it injected twice, is left to it (counted and warned); a third party's pod mutator changes nothing.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import type { AdmissionRequest } from '../../src/admission/review.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { injectPod } from '../../src/injector/inject.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import type { PodMutator } from '../../src/mesh/webhook-conflicts.js';
import { mutateHandler } from '../../src/webhooks/mutate.js';
import { namespace, pod, UUID } from './helpers.js';

const mesh = meshIdentity('fsm');
const view = new MemoryView([namespace('apps')]);
const injector = { mesh, sidecarMode: 'classic' as const };

const mutator = (over: Partial<PodMutator>): PodMutator => ({ configuration: 'fsm-webhook-fsm', webhook: 'fsm-inject.k8s.io', index: 0, meshInjector: true, leftover: false, calledBefore: true, failClosed: true, ...over });

function handler(mutators: PodMutator[]) {
  const counted: string[] = [];
  const seen: Array<KubeObject | undefined> = [];
  const h = mutateHandler({
    injector,
    view,
    injections: { inc: (l) => void counted.push(`${l.result}/${l.reason}`) },
    logger: pino({ level: 'silent' }),
    uuid: () => UUID,
    podMutators: (ns) => {
      seen.push(ns);
      return mutators;
    },
  });
  return { h, counted, seen };
}

const request = (object: KubeObject): AdmissionRequest => ({ uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'apps', operation: 'CREATE', object, dryRun: false }) as AdmissionRequest;
const ctx = () => ({ deadline: Date.now() + 10_000, signal: new AbortController().signal });

/** A pod as the mesh's own injector leaves it: sidecar, proxy UUID, bootstrap volume, and no label of this server's. */
function injectedByMesh(): KubeObject {
  const p = pod();
  const plan = injectPod({ pod: p, namespace: 'apps', uuid: UUID }, view, injector);
  if (!('patch' in plan)) throw new Error(plan.action);
  const out = fastJsonPatch.applyPatch(structuredClone(p), structuredClone(plan.patch), true, false).newDocument;
  delete out.metadata!.labels!['mesh-admission.io/mesh'];
  return out;
}

describe('the injection webhook beside another injector', () => {
  it('a pod the mesh\'s injector injected first: nothing added, a warning naming it', async () => {
    const { h, counted, seen } = handler([mutator({}), mutator({ configuration: 'zz-later', webhook: 'z.example.com', meshInjector: false, calledBefore: false })]);
    const outcome = await h.handle(request(injectedByMesh()), ctx());
    expect(outcome.response.patch).toBeUndefined();
    expect(outcome.response.allowed).toBe(true);
    expect(outcome.response.warnings).toEqual([
      'sidecar already injected by another injector (MutatingWebhookConfiguration fsm-webhook-fsm, called before this server): this server added nothing; run one injector per mesh (README: "Replacing the mesh\'s own webhooks")',
    ]);
    expect(outcome.reason).toBe('other-injector');
    expect(counted).toEqual(['skipped/other-injector']);
    // asked with the pod's namespace as the view holds it
    expect(seen[0]?.metadata?.name).toBe('apps');
  });

  it('without the configurations (standalone, or not listed yet): the warning says how it knows', async () => {
    const { h } = handler([]);
    const outcome = await h.handle(request(injectedByMesh()), ctx());
    expect(outcome.response.warnings).toEqual([
      'sidecar already injected by another injector (the pod has no mesh-admission.io/mesh=fsm label): this server added nothing; run one injector per mesh (README: "Replacing the mesh\'s own webhooks")',
    ]);
  });

  it('the mesh\'s injector called after this server, failing closed: the pod is left to it', async () => {
    const { h, counted } = handler([mutator({ configuration: 'osm-webhook-osm', calledBefore: false })]);
    const outcome = await h.handle(request(pod()), ctx());
    expect(outcome.response.allowed).toBe(true);
    expect(outcome.response.patch).toBeUndefined();
    expect(outcome.response.warnings).toEqual([
      'sidecar left to the mesh\'s own injector: MutatingWebhookConfiguration osm-webhook-osm is called after this server and refuses a pod injected twice; run one injector per mesh (README: "Replacing the mesh\'s own webhooks")',
    ]);
    expect(outcome).toMatchObject({ decision: 'skipped', reason: 'other-injector: left to osm-webhook-osm' });
    expect(counted).toEqual(['skipped/other-injector']);
  });

  it('injects as usual when the later injector fails open, is not the mesh\'s, or comes first', async () => {
    for (const m of [mutator({ calledBefore: false, failClosed: false }), mutator({ calledBefore: false, meshInjector: false }), mutator({ calledBefore: true })]) {
      const { h, counted } = handler([m]);
      const outcome = await h.handle(request(pod()), ctx());
      expect(outcome.response.patch, JSON.stringify(m)).toBeDefined();
      expect(counted).toEqual(['injected/classic']);
    }
  });
});
