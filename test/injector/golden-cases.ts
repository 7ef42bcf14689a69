// The golden cases of the injector: the pod fixtures and the seed documents' workloads, injected against the example
// cluster, and what is kept of each under test/golden/ (the plan, with bootstrap.yaml as lines). Shared by the golden
// test, which compares, and `npm run golden` (scripts/golden.ts), the only thing that writes the files.
import { basename, join } from 'node:path';
import { podFromWorkload } from '../../src/cli/explain.js';
import { loadManifests } from '../../src/cluster/manifests.js';
import { loadStaticView } from '../../src/cluster/static.js';
import { bootstrapConfig, bootstrapConfigText } from '../../src/injector/bootstrap.js';
import { injectPod } from '../../src/injector/inject.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { fixtureFiles, loadFixture, REPO_ROOT } from '../support/fixtures.js';
import { UUID } from './helpers.js';

export const GOLDEN_DIR = join(REPO_ROOT, 'test/golden');

export interface GoldenCase {
  /** the file is `<name>.json` under GOLDEN_DIR */
  readonly name: string;
  /** what the test calls it */
  readonly title: string;
  readonly pod: KubeObject;
  readonly namespace: string;
}

export function goldenCases(): GoldenCase[] {
  const fixtures = fixtureFiles()
    .filter((f) => f.startsWith('pod-'))
    .map((f): GoldenCase => {
      const fx = loadFixture(f);
      return { name: `fixture-${basename(f, '.json')}`, title: f, pod: fx.review.request.object as KubeObject, namespace: fx.review.request.namespace ?? 'default' };
    });
  const seeds = loadManifests([join(REPO_ROOT, 'examples/seeds')])
    .map((l) => ({ ...l, object: placeManifest(l.object) }))
    .filter((l) => podFromWorkload(l.object) !== undefined)
    .map(({ object, source }): GoldenCase => ({
      name: `seed-${basename(join(source, '..'))}-${basename(source).replace(/\.ya?ml(#\d+)?$/, (_m, doc: string | undefined) => (doc ? `-${doc.slice(1)}` : ''))}`,
      title: `${source} (${object.kind} ${object.metadata?.namespace}/${object.metadata?.name})`,
      pod: podFromWorkload(object)!,
      namespace: object.metadata?.namespace ?? 'default',
    }));
  return [...fixtures, ...seeds];
}

const mesh = meshIdentity('fsm');
let view: ReturnType<typeof loadStaticView> | undefined;

/** The injector's plan for the case, as kept in its golden file. */
export function goldenOutput(c: GoldenCase): unknown {
  view ??= loadStaticView(join(REPO_ROOT, 'examples/cluster'));
  const plan = injectPod({ pod: c.pod, namespace: c.namespace, uuid: UUID }, view, { mesh, sidecarMode: 'classic', logLevel: 'info' });
  const secret = 'secret' in plan ? plan.secret : undefined;
  const bootstrapYaml = secret
    ? bootstrapConfigText(
        bootstrapConfig({
          mesh,
          commonName: secret.commonName,
          repoPort: secret.repoPort,
          sidecar: { tlsMinProtocolVersion: secret.tls.min, tlsMaxProtocolVersion: secret.tls.max, cipherSuites: secret.tls.cipherSuites ?? null, ecdhCurves: secret.tls.ecdhCurves ?? null },
          probes: secret.originalHealthProbes,
        }),
      ).split('\n')
    : undefined;
  // through JSON, as the file holds it
  return JSON.parse(JSON.stringify({ ...plan, ...(bootstrapYaml ? { bootstrapYaml } : {}) }));
}

export const goldenText = (c: GoldenCase): string => JSON.stringify(goldenOutput(c), null, 2) + '\n';
