// Every YAML example of the seed documents, through the validator, with the outcome the index states for it: the
// seed policies are valid and are admitted in the example cluster, where everything they refer to exists.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateOffline } from '../src/cli/offline.js';
import { meshIdentity, type FlavorName } from '../src/mesh/flavor.js';
import { REPO_ROOT } from './support/fixtures.js';

interface SeedEntry {
  file: string;
  seed: string;
  objects: Array<{ apiVersion: string; kind: string; namespace?: string; name: string }>;
  expect: 'admit' | 'admit-unknown' | 'workload';
}

const index = JSON.parse(readFileSync(join(REPO_ROOT, 'examples/seeds-index.json'), 'utf8')) as SeedEntry[];
const STATE = join(REPO_ROOT, 'examples/cluster');

describe('seed examples', () => {
  it('the index covers every seed document', () => {
    expect(new Set(index.map((e) => e.seed))).toEqual(new Set(['000', '001', '002', '003', '004']));
    expect(index.filter((e) => e.expect === 'admit').length).toBeGreaterThan(20);
  });

  for (const flavor of ['fsm', 'osm-edge'] as FlavorName[]) {
    for (const entry of index) {
      it(`${flavor}: ${entry.file} → ${entry.expect}`, () => {
        const results = validateOffline([join(REPO_ROOT, 'examples/seeds', entry.file)], meshIdentity(flavor), STATE);
        expect(results.map((r) => `${r.kind}/${r.name}`)).toEqual(entry.objects.map((o) => `${o.kind}/${o.name}`));
        for (const r of results) {
          expect(r.causes, `${r.kind}/${r.name}: ${r.causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`).toEqual([]);
          expect(r.allowed).toBe(true);
          // Unknown kinds are admitted with a warning; workloads are not validated at all (the injector's business).
          if (entry.expect === 'admit') expect(r.known).toBe(true);
          if (entry.expect === 'admit-unknown') expect(r.known).toBe(false);
        }
      });
    }
  }

  it('the example cluster state validates against itself', () => {
    const results = validateOffline([STATE], meshIdentity('fsm'), STATE);
    const denied = results.filter((r) => !r.allowed);
    expect(denied.map((r) => `${r.kind}/${r.name}: ${r.causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`)).toEqual([]);
  });
});
