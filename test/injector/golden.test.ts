// Golden files: the pod fixtures and the seed documents' workloads, injected against the example cluster, compared
// with the reviewed output under test/golden/. This test only reads them: after a deliberate change, `npm run golden`
// rewrites them, and the diff of test/golden/ is reviewed before it is committed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDEN_DIR, goldenCases, goldenOutput } from './golden-cases.js';

const cases = goldenCases();

describe('golden files', () => {
  it('the seeds have workloads to inject and every pod fixture is a case', () => {
    expect(cases.filter((c) => c.name.startsWith('seed-')).length).toBeGreaterThanOrEqual(8);
    expect(cases.filter((c) => c.name.startsWith('fixture-')).length).toBe(4);
  });

  it('every file under test/golden/ belongs to a case (none left over from a removed one)', () => {
    expect(readdirSync(GOLDEN_DIR).sort()).toEqual(cases.map((c) => `${c.name}.json`).sort());
  });

  for (const c of cases) {
    it(c.title, () => {
      const file = join(GOLDEN_DIR, `${c.name}.json`);
      // A missing file is a failure: a new case needs its output reviewed once.
      if (!existsSync(file)) throw new Error(`golden file ${file} is missing: run npm run golden and review it`);
      expect(goldenOutput(c)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});
