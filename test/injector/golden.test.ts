// Golden files: the seed documents' workloads and every pod fixture, injected against the example cluster, compared
// with reviewed expected output under test/golden/. After a deliberate change: UPDATE_GOLDEN=1 npx vitest run
// test/injector/golden.test.ts, then review the diff of test/golden/ before committing it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podFromWorkload } from '../../src/cli/explain.js';
import { loadManifests } from '../../src/cluster/manifests.js';
import { loadStaticView } from '../../src/cluster/static.js';
import { bootstrapConfig, bootstrapConfigText } from '../../src/injector/bootstrap.js';
import { injectPod } from '../../src/injector/inject.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { fixtureFiles, loadFixture, REPO_ROOT } from '../support/fixtures.js';
import { UUID } from './helpers.js';

const GOLDEN = join(REPO_ROOT, 'test/golden');
const mesh = meshIdentity('fsm');
const view = loadStaticView(join(REPO_ROOT, 'examples/cluster'));

function golden(name: string, pod: KubeObject, namespace: string): void {
  const plan = injectPod({ pod, namespace, uuid: UUID }, view, { mesh, sidecarMode: 'classic', logLevel: 'info' });
  const secret = 'secret' in plan ? plan.secret : undefined;
  const actual = {
    ...plan,
    ...(secret ? { bootstrapYaml: bootstrapConfigText(bootstrapConfig({ mesh, commonName: secret.commonName, repoPort: secret.repoPort, sidecar: { tlsMinProtocolVersion: secret.tls.min, tlsMaxProtocolVersion: secret.tls.max, cipherSuites: secret.tls.cipherSuites ?? null, ecdhCurves: secret.tls.ecdhCurves ?? null }, probes: secret.originalHealthProbes })).split('\n') } : {}),
  };
  const file = join(GOLDEN, `${name}.json`);
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
  // A missing file is a failure, not a silent first write: a new case needs its output reviewed once.
  if (!existsSync(file)) throw new Error(`golden file ${file} is missing: run UPDATE_GOLDEN=1 npx vitest run test/injector/golden.test.ts and review it`);
  expect(JSON.parse(text)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

describe('golden: pod fixtures', () => {
  for (const f of fixtureFiles().filter((f) => f.startsWith('pod-'))) {
    it(f, () => {
      const fx = loadFixture(f);
      golden(`fixture-${basename(f, '.json')}`, fx.review.request.object as KubeObject, fx.review.request.namespace ?? 'default');
    });
  }
});

describe('golden: seed workloads', () => {
  const workloads = loadManifests([join(REPO_ROOT, 'examples/seeds')])
    .map((l) => ({ ...l, object: placeManifest(l.object) }))
    .filter((l) => podFromWorkload(l.object) !== undefined);

  it('the seeds have workloads to inject', () => {
    expect(workloads.length).toBeGreaterThanOrEqual(8);
  });

  for (const { object, source } of workloads) {
    const name = `seed-${basename(join(source, '..'))}-${basename(source).replace(/\.ya?ml(#\d+)?$/, (_m, doc: string | undefined) => (doc ? `-${doc.slice(1)}` : ''))}`;
    it(`${source} (${object.kind} ${object.metadata?.namespace}/${object.metadata?.name})`, () => {
      golden(name, podFromWorkload(object)!, object.metadata?.namespace ?? 'default');
    });
  }
});
