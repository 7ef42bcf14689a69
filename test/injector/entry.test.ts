// The injector's one entry point: the mutating webhook, `explain` and the tests reach it, and it alone decides the
// pod's namespace and reads the namespace, MeshConfig and controller Service from the view.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseReview } from '../../src/admission/review.js';
import { explain } from '../../src/cli/explain.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { loadStaticView } from '../../src/cluster/static.js';
import { BootstrapIssuer } from '../../src/certs/bootstrap-issuer.js';
import { createMeshCA } from '../../src/certs/mesh-ca.js';
import { injectPod, podNamespace } from '../../src/injector/inject.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { mutateHandler } from '../../src/webhooks/mutate.js';
import { fixtureFiles, loadFixture, REPO_ROOT } from '../support/fixtures.js';
import { namespace, pod, UUID } from './helpers.js';

const mesh = meshIdentity('fsm');
const STATE = join(REPO_ROOT, 'examples/cluster');
const meshCA = await createMeshCA(mesh.flavor, new Date());

describe('injector entry point', () => {
  it('the pod lives in the request namespace, else its own, else kubectl\'s default', () => {
    const p = pod({ metadata: { namespace: 'own' } });
    expect(podNamespace({ pod: p, namespace: 'req' })).toBe('req');
    expect(podNamespace({ pod: p })).toBe('own');
    expect(podNamespace({ pod: pod() })).toBe('default');
  });

  it('reads the namespace from the view unless the caller fetched it live', () => {
    const view = new MemoryView([namespace('apps', { monitored: false })]);
    const opts = { mesh, sidecarMode: 'classic' as const };
    expect(injectPod({ pod: pod(), namespace: 'apps', uuid: UUID }, view, opts)).toMatchObject({ action: 'skip', reason: 'not-monitored' });
    // a namespace labelled a moment ago: the live copy wins over the stale cached one
    expect(injectPod({ pod: pod(), namespace: 'apps', uuid: UUID, namespaceObject: namespace('apps') }, view, opts)).toMatchObject({ action: 'inject' });
  });

  describe('every captured pod request gets the same decision from the webhook handler and from explain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inject-entry-'));
    const view = loadStaticView(STATE);
    const written: string[] = [];
    const handler = mutateHandler({
      injector: { mesh, sidecarMode: 'classic' },
      view,
      secrets: { issuer: new BootstrapIssuer(meshCA, { ecPool: false }), store: { create: async (s) => void written.push(s.metadata.name) } },
      injections: { inc: () => undefined },
      logger: pino({ level: 'silent' }),
      uuid: () => UUID,
    });
    for (const file of fixtureFiles().filter((f) => f.startsWith('pod-'))) {
      it(file, async () => {
        const review = parseReview(loadFixture(file).raw);
        if (!review.ok) throw new Error(review.reason);
        const req = review.review.request;
        const outcome = await handler.handle(req, { deadline: Date.now() + 10_000, signal: new AbortController().signal });
        const direct = injectPod({ pod: req.object!, ...(req.namespace ? { namespace: req.namespace } : {}), uuid: UUID }, view, { mesh, sidecarMode: 'classic' });
        const patch = outcome.response.patch ? (JSON.parse(Buffer.from(outcome.response.patch, 'base64').toString('utf8')) as unknown) : undefined;
        expect(patch).toEqual('patch' in direct ? direct.patch : undefined);
        // explain reads the pod from a file, in the namespace the request named
        const obj: KubeObject = { ...req.object!, metadata: { ...req.object!.metadata, namespace: req.namespace } };
        const path = join(dir, file.replace(/\.json$/, '.yaml'));
        writeFileSync(path, stringify(obj));
        const [explained] = explain([path], mesh, { sidecarMode: 'classic' }, STATE);
        expect(explained!.decision).toBe(direct.action);
        expect(explained!.reason).toBe(direct.reason);
      });
    }
  });
});
