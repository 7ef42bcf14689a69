// The mutating webhook's handler around the engine: the usual pod is decided synchronously (no promise, no timer); a
// namespace missing from the cache is read once; a read the API server refuses is a denial that names the refusal,
// not an internal error; the injection metric says why.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/review.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { mutateHandler, type MutateHandlerOptions } from '../../src/webhooks/mutate.js';
import { namespace, pod, UUID } from '../injector/helpers.js';

const mesh = meshIdentity('fsm');

function request(ns: string, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { uid: 'uid-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: ns, operation: 'CREATE', object: pod(), dryRun: false, ...extra } as AdmissionRequest;
}

function handler(view: MemoryView, fetchNamespace?: MutateHandlerOptions['fetchNamespace']) {
  const counted: string[] = [];
  const h = mutateHandler({ injector: { mesh, sidecarMode: 'classic' }, view, injections: { inc: (l) => void counted.push(`${l.result}/${l.reason}`) }, logger: pino({ level: 'silent' }), uuid: () => UUID, ...(fetchNamespace ? { fetchNamespace } : {}) });
  return { h, counted };
}

const ctx = { deadline: Date.now() + 10_000, get signal(): AbortSignal {
  throw new Error('a synchronous decision must not ask for an abort signal');
} };

describe('mutate handler', () => {
  it('decides a pod of a cached namespace synchronously, without reading the API server or asking for a signal', () => {
    const reads: string[] = [];
    const { h, counted } = handler(new MemoryView([namespace('apps')]), async (n) => (reads.push(n), undefined));
    const outcome = h.handle(request('apps'), ctx);
    expect(outcome).not.toBeInstanceOf(Promise);
    expect((outcome as { response: { allowed: boolean; patchType?: string } }).response).toMatchObject({ uid: 'uid-1', allowed: true, patchType: 'JSONPatch' });
    expect(reads).toEqual([]);
    expect(counted).toEqual(['injected/classic']);
  });

  it('reads a namespace the cache does not hold, once, and decides with it', async () => {
    const reads: string[] = [];
    const { h } = handler(new MemoryView([]), async (n) => (reads.push(n), namespace(n) as KubeObject));
    const outcome = await h.handle(request('fresh'), ctx);
    expect(outcome.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(reads).toEqual(['fresh']);
  });

  it('a namespace read the API server refuses is a denial naming the refusal, never the pod let through', async () => {
    const refusal = new Error('GET /api/v1/namespaces/fresh: 403 namespaces "fresh" is forbidden: User "system:serviceaccount:fsm-system:mesh-admission" cannot get resource "namespaces" in API group "" in the namespace "fresh"');
    const { h, counted } = handler(new MemoryView([]), async () => {
      throw refusal;
    });
    const outcome = await h.handle(request('fresh'), ctx);
    expect(outcome.response).toEqual({
      uid: 'uid-1',
      allowed: false,
      status: {
        status: 'Failure',
        code: 503,
        reason: 'ServiceUnavailable',
        message: `cannot decide sidecar injection: Namespace fresh is not in this webhook's cache yet and reading it failed: ${refusal.message}; the pod was not admitted, retry`,
      },
    });
    expect(outcome.decision).toBe('denied');
    expect(counted).toEqual(['denied/namespace-unreadable']);
  });
});
