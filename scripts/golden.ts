// `npm run golden`: rewrites the injector's golden files (test/golden/) from the code as it is, and deletes those of
// cases that no longer exist. The only writer of those files: `npm test` compares and never writes. Review the diff of
// test/golden/ before committing it.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_DIR, goldenCases, goldenText } from '../test/injector/golden-cases.js';

const cases = goldenCases();
const changed: string[] = [];
for (const c of cases) {
  const file = join(GOLDEN_DIR, `${c.name}.json`);
  const text = goldenText(c);
  if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
  writeFileSync(file, text);
  changed.push(`${c.name}.json`);
}
const wanted = new Set(cases.map((c) => `${c.name}.json`));
const removed = readdirSync(GOLDEN_DIR).filter((f) => !wanted.has(f));
for (const f of removed) rmSync(join(GOLDEN_DIR, f));
console.log(`${cases.length} golden cases: ${changed.length} written${changed.length ? ` (${changed.join(', ')})` : ''}, ${removed.length} removed${removed.length ? ` (${removed.join(', ')})` : ''}`);
