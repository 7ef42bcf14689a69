// Every YAML example of the seed documents through `validate -f` against the example cluster (where everything they
// refer to exists), each object with the verdict written down here: the policies are admitted, some with warnings
// (named by rule and field), workloads and kinds outside the table are not judged. And each policy once more with one
// field broken, which must be denied at that field by that rule (or warned, for a Service): a validator that admits
// everything fails here.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeOffline, readFiles, type OfflineResult } from '../src/cli/offline.js';
import { meshIdentity, type FlavorName } from '../src/mesh/flavor.js';
import type { KubeObject } from '../src/mesh/objects.js';
import { REPO_ROOT } from './support/fixtures.js';

interface SeedEntry {
  file: string;
  seed: string;
  objects: Array<{ apiVersion: string; kind: string; namespace?: string; name: string }>;
  expect: 'admit' | 'admit-unknown' | 'workload';
}

const index = JSON.parse(readFileSync(join(REPO_ROOT, 'examples/seeds-index.json'), 'utf8')) as SeedEntry[];
const STATE = join(REPO_ROOT, 'examples/cluster');
const state = readFiles([STATE]);
const tmp = mkdtempSync(join(tmpdir(), 'seeds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The warnings (`rule@field`) of the objects that get any, in both flavors; every other object gets none. */
const WARNED: Record<string, Record<string, string[]>> = {
  '002-fsm-multi-cluster/12-cluster-cluster-1.yaml': { 'Cluster/cluster-1': ['cluster-kubeconfig-plaintext@spec.kubeconfig'] },
  '002-fsm-multi-cluster/13-cluster-cluster-2.yaml': { 'Cluster/cluster-2': ['cluster-kubeconfig-plaintext@spec.kubeconfig'] },
  '002-fsm-multi-cluster/14-cluster-cluster-3.yaml': { 'Cluster/cluster-3': ['cluster-kubeconfig-plaintext@spec.kubeconfig'] },
  '003-plugin-iam/02-plugin-token-injector.yaml': { 'Plugin/token-injector': ['plugin-placement@spec.priority'] },
  '003-plugin-iam/03-plugin-token-verifier.yaml': { 'Plugin/token-verifier': ['plugin-placement@spec.priority'] },
  '003-plugin-iam/04-pluginchain-token-injector-chain.yaml': { 'PluginChain/token-injector-chain': ['pluginchain-selector-scope@spec.selectors.namespaceSelector'] },
  '003-plugin-iam/05-pluginchain-token-verifier-chain.yaml': { 'PluginChain/token-verifier-chain': ['pluginchain-selector-scope@spec.selectors.namespaceSelector'] },
};

/** Services in a namespace outside the mesh (auth): the validator says nothing about them, broken or not. */
const OUTSIDE_MESH = new Set(['003-plugin-iam/01-deployment-ext-auth.yaml Service/ext-auth']);

/** Kinds the validating webhook judges; the rest (Deployment, ServiceAccount, other meshes' kinds) it does not. */
const JUDGED = new Set(['HTTPRouteGroup', 'TrafficTarget', 'ServiceExport', 'GlobalTrafficPolicy', 'Egress', 'Cluster', 'Plugin', 'PluginChain', 'PluginConfig', 'Service']);

type Spec = Record<string, unknown>;
const spec = (o: KubeObject): Spec => o.spec as Spec;
const first = (v: unknown): Spec => (v as Spec[])[0]!;

/** One field broken per kind, and what the validator must say about it: denied, or for a Service (warnings only) warned. */
const BREAK: Record<string, (o: KubeObject) => { verdict: 'denied' | 'warned'; finding: string }> = {
  HTTPRouteGroup: (o) => {
    const matches = spec(o).matches as Spec[];
    matches.push({ name: 'broken', methods: ['FETCH'] });
    return { verdict: 'denied', finding: `httproutegroup-method@spec.matches[${matches.length - 1}].methods[0]` };
  },
  TrafficTarget: (o) => {
    delete spec(o).destination;
    return { verdict: 'denied', finding: 'traffictarget-destination@spec.destination' };
  },
  ServiceExport: (o) => {
    delete first(spec(o).rules).portNumber;
    return { verdict: 'denied', finding: 'serviceexport-port@spec.rules[0].portNumber' };
  },
  GlobalTrafficPolicy: (o) => {
    spec(o).lbType = 'RoundRobin';
    return { verdict: 'denied', finding: 'gtp-lb-type@spec.lbType' };
  },
  Egress: (o) => {
    first(spec(o).ports).protocol = 'ftp';
    return { verdict: 'denied', finding: 'egress-port-protocol@spec.ports[0].protocol' };
  },
  Cluster: (o) => {
    spec(o).gatewayPort = 70000;
    return { verdict: 'denied', finding: 'cluster-gateway-port@spec.gatewayPort' };
  },
  Plugin: (o) => {
    spec(o).priority = 70000;
    return { verdict: 'denied', finding: 'plugin-priority-range@spec.priority' };
  },
  PluginChain: (o) => {
    first(spec(o).chains).name = 'outbound-tcp-bogus';
    return { verdict: 'denied', finding: 'pluginchain-chain-name@spec.chains[0].name' };
  },
  PluginConfig: (o) => {
    delete spec(o).plugin;
    return { verdict: 'denied', finding: 'pluginconfig-plugin@spec.plugin' };
  },
  Service: (o) => {
    first(spec(o).ports).appProtocol = 'bogus';
    return { verdict: 'warned', finding: 'service-app-protocol@spec.ports[0].appProtocol' };
  },
};

const key = (r: Pick<OfflineResult, 'kind' | 'name'>): string => `${r.kind}/${r.name}`;
const findings = (list: readonly { rule?: string; field: string }[]): string[] => list.map((f) => `${f.rule ?? ''}@${f.field}`);
const judge = (flavor: FlavorName, file: string): readonly OfflineResult[] => {
  const report = judgeOffline(readFiles([file]), { mesh: meshIdentity(flavor) }, state);
  expect(report.problems).toEqual([]);
  return report.results;
};
const objectsOf = (file: string): KubeObject[] => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as KubeObject);

describe('seed examples', () => {
  it('the index covers every seed document', () => {
    expect(new Set(index.map((e) => e.seed))).toEqual(new Set(['000', '001', '002', '003', '004']));
    expect(index.filter((e) => e.expect === 'admit').length).toBeGreaterThan(20);
    for (const [file, objects] of Object.entries(WARNED)) expect(index.find((e) => e.file === file)?.objects.map((o) => `${o.kind}/${o.name}`)).toEqual(expect.arrayContaining(Object.keys(objects)));
  });

  for (const flavor of ['fsm', 'osm-edge'] as FlavorName[]) {
    for (const entry of index) {
      it(`${flavor}: ${entry.file} → ${entry.expect}`, () => {
        const path = join(REPO_ROOT, 'examples/seeds', entry.file);
        const results = judge(flavor, path);
        expect(results.map(key)).toEqual(entry.objects.map((o) => `${o.kind}/${o.name}`));
        for (const r of results) {
          const judged = JUDGED.has(r.kind);
          expect({ object: key(r), status: r.status, known: r.known, causes: findings(r.causes), warnings: findings(r.warnings) }).toEqual({
            object: key(r),
            status: judged ? 'admitted' : 'skipped',
            known: judged,
            causes: [],
            warnings: WARNED[entry.file]?.[key(r)] ?? [],
          });
        }
        if (entry.expect === 'admit') expect(results.every((r) => JUDGED.has(r.kind))).toBe(true);
        if (entry.expect === 'admit-unknown') expect(results.every((r) => !r.known)).toBe(true);

        // each judged object with one field broken, the others as written
        const objects = objectsOf(path);
        objects.forEach((object, i) => {
          const breakIt = BREAK[String(object.kind)];
          if (!breakIt) return;
          const broken = structuredClone(objects);
          const want = breakIt(broken[i]!);
          const file = join(tmp, `${flavor}-${entry.file.replace(/\//g, '-')}-${i}.yaml`);
          writeFileSync(file, broken.map((o) => stringify(o)).join('---\n'));
          const again = judge(flavor, file);
          const r = again[i]!;
          if (want.verdict === 'denied') expect({ object: key(r), allowed: r.allowed, causes: findings(r.causes) }).toEqual({ object: key(r), allowed: false, causes: [want.finding] });
          else {
            const warned = OUTSIDE_MESH.has(`${entry.file} ${key(r)}`) ? [] : [want.finding];
            expect({ object: key(r), allowed: r.allowed, causes: findings(r.causes), warnings: findings(r.warnings) }).toEqual({ object: key(r), allowed: true, causes: [], warnings: warned });
          }
        });
      });
    }
  }

  it('the example cluster state validates against itself', () => {
    const results = judgeOffline(state, { mesh: meshIdentity('fsm') }, state).results;
    expect(results.filter((r) => !r.allowed).map((r) => `${key(r)}: ${findings(r.causes).join('; ')}`)).toEqual([]);
  });
});
