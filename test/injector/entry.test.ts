// The injector's one entry point: the mutating webhook, `explain` and the tests reach it, and it alone decides the
// pod's namespace and reads the namespace, MeshConfig and controller Service from the view.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
import { GOLDEN_DIR } from './golden-cases.js';
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

  // What each captured request must get, written down here; the patch is the reviewed one in test/golden/ (what
  // `npm run golden` wrote and a person checked), so neither comes from the function under test.
  const EXPECTED: Record<string, { decision: string; reason: string; secretWritten: boolean }> = {
    'pod-create-dryrun-v1.json': { decision: 'inject', reason: 'classic', secretWritten: false }, // dryRun: nothing leaves the process
    'pod-create-from-replicaset-v1.json': { decision: 'inject', reason: 'classic', secretWritten: true },
    'pod-create-probes-annotations-v1.json': { decision: 'inject', reason: 'classic', secretWritten: true },
    'pod-create-v1beta1.json': { decision: 'skip', reason: 'not-monitored', secretWritten: false },
  };

  it('every captured pod request has an expected answer', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(fixtureFiles().filter((f) => f.startsWith('pod-')));
  });

  describe('every captured pod request: the webhook handler answers with the reviewed patch, and explain decides the same', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inject-entry-'));
    const view = loadStaticView(STATE);
    for (const file of fixtureFiles().filter((f) => f.startsWith('pod-'))) {
      it(file, async () => {
        const expected = EXPECTED[file]!;
        const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, `fixture-${file.replace(/\.json$/, '')}.json`), 'utf8')) as { action: string; reason: string; patch?: unknown[]; warnings: string[] };
        expect({ action: golden.action, reason: golden.reason }).toEqual({ action: expected.decision, reason: expected.reason });
        const written: string[] = [];
        const handler = mutateHandler({
          injector: { mesh, sidecarMode: 'classic' },
          view,
          secrets: { issuer: new BootstrapIssuer(meshCA, { ecPool: false }), store: { create: async (s) => void written.push(`${s.metadata.namespace}/${s.metadata.name}`) } },
          injections: { inc: () => undefined },
          logger: pino({ level: 'silent' }),
          uuid: () => UUID,
        });
        const review = parseReview(loadFixture(file).raw);
        if (!review.ok) throw new Error(review.reason);
        const req = review.review.request;
        const outcome = await handler.handle(req, { deadline: Date.now() + 10_000, signal: new AbortController().signal });
        expect(outcome.response.allowed).toBe(true);
        expect(outcome.response.warnings ?? []).toEqual(golden.warnings);
        const patch = outcome.response.patch ? (JSON.parse(Buffer.from(outcome.response.patch, 'base64').toString('utf8')) as unknown) : undefined;
        expect(patch).toEqual(golden.patch);
        expect(written).toEqual(expected.secretWritten ? [`${req.namespace}/sidecar-bootstrap-config-${UUID}`] : []);
        // explain reads the pod from a file, in the namespace the request named
        const obj: KubeObject = { ...req.object!, metadata: { ...req.object!.metadata, namespace: req.namespace } };
        const path = join(dir, file.replace(/\.json$/, '.yaml'));
        writeFileSync(path, stringify(obj));
        const [explained] = explain([path], mesh, { sidecarMode: 'classic' }, STATE);
        expect({ decision: explained!.decision, reason: explained!.reason }).toEqual({ decision: expected.decision, reason: expected.reason });
      });
    }
  });
});
