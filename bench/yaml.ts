// Part G of `npm run bench`: what reading a large cluster state folder costs with each YAML reader, the measurement
// behind src/cluster/yaml.ts keeping js-yaml beside the `yaml` package. The state is part E's at N = 10,000 (36,006
// objects in 200 files), read from the files' text (no disk time), each reader in a process of its own after one
// warm-up run.
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { Parser, parseAllDocuments } from 'yaml';
import { parseManifests } from '../src/cluster/manifests.js';
import { parseYamlDocuments } from '../src/cluster/yaml.js';
import { machineBusyUs, waitForQuiet } from './lib.js';
import { scaleState, writeStateFolder } from './scale-state.js';

const N = Number(process.env.BENCH_YAML_N ?? 10_000);
const RUNS = Number(process.env.BENCH_YAML_RUNS ?? 3);

const f0 = (x: number): string => Math.round(x).toLocaleString('en-US');

interface Reader {
  readonly name: string;
  readonly what: string;
  /** reads every text, returns how many documents it read */
  readonly read: (texts: readonly string[]) => number;
}

const READERS: readonly Reader[] = [
  {
    name: 'state loader (`loadYamlValues`, js-yaml)',
    what: '`serve --cluster-state`, `validate --cluster-state`: values only',
    read: (texts) => texts.reduce((n, t, i) => n + parseManifests(t, `state-${i}.yaml`).length, 0),
  },
  {
    name: 'careful reader (`parseYamlDocuments`)',
    what: '`-f`, `-f -`, `-k`: `yaml` document model with positions, values from js-yaml',
    read: (texts) => texts.reduce((n, t) => n + parseYamlDocuments(t).documents.length, 0),
  },
  {
    name: '`yaml` `parseAllDocuments` + `toJS`',
    what: 'the `yaml` package alone, as the one reader',
    read: (texts) => texts.reduce((n, t) => n + parseAllDocuments(t, { merge: true }).map((d) => d.toJS()).length, 0),
  },
  {
    name: '`yaml` `Parser` (tokens only)',
    what: 'the least any reading through the `yaml` package costs',
    read: (texts) => texts.reduce((n, t) => n + [...new Parser().parse(t)].filter((tok) => tok.type === 'document').length, 0),
  },
  {
    name: 'js-yaml `loadAll`',
    what: 'js-yaml alone',
    read: (texts) => texts.reduce((n, t) => n + loadAll(t).length, 0),
  },
];

interface Measured {
  readonly ms: number;
  readonly count: number;
  /** the other processes' share of the machine's cores while this reader ran */
  readonly others: number;
}

/** One reader over the folder, in this process: a warm-up, then the median of RUNS. */
function measure(reader: Reader, dir: string): Measured {
  const texts = readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'));
  const count = reader.read(texts); // warm-up
  const runs: number[] = [];
  const machine0 = machineBusyUs();
  const self0 = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    reader.read(texts);
    runs.push(performance.now() - t);
  }
  const self = process.cpuUsage(self0);
  const others = Math.max(0, machineBusyUs() - machine0 - self.user - self.system) / ((performance.now() - start) * 1000 * os.cpus().length);
  return { ms: runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)]!, count, others };
}

/** Each reader in a process of its own, so that one reader's garbage does not slow the next one down. */
function measureInChild(index: number, dir: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [String(index), dir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve(m as Measured));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`bench/yaml.ts child for reader ${index}: exit ${code}`))));
  });
}

export async function yamlSection(): Promise<{ md: string; errors: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-bench-yaml-'));
  try {
    const objects = scaleState(N);
    writeStateFolder(objects, dir);
    const files = readdirSync(dir).sort();
    const mib = files.reduce((n, f) => n + Buffer.byteLength(readFileSync(join(dir, f), 'utf8')), 0) / 2 ** 20;
    const results: Array<Measured & { reader: Reader }> = [];
    const quiet = await waitForQuiet('part G');
    for (const [i, reader] of READERS.entries()) {
      const m = await measureInChild(i, dir);
      results.push({ ...m, reader });
      console.log(`  ${reader.name}: ${f0(m.ms)} ms (${m.count} documents; other processes ${Math.round(m.others * 100)} % of the cores)`);
    }
    const rows = results.map((r) => [r.reader.name, r.reader.what, f0(r.ms), (r.ms / results[0]!.ms).toFixed(1), String(r.count), String(Math.round(r.others * 100))]);
    const table = [
      `| reader | used for | ms (median of ${RUNS}) | × state loader | documents | other processes, % of cores |`,
      '|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    console.log(table);
    const ms = (name: string): number => results.find((r) => r.reader.name === name)!.ms;
    return {
      md: `## Part G — reading a large state folder

The state of part E at N = ${N.toLocaleString('en-US')}: ${objects.length.toLocaleString('en-US')} objects in ${files.length} files (${mib.toFixed(1)} MiB of YAML),
read from the files' text by each reader in a process of its own, once to warm up, then ${RUNS} times. Other processes
used ${Math.round(quiet * 100)} % of the machine's cores just before.

${table}

The \`yaml\` package is the project's YAML library; it is too slow to be the state loader of a server that reads tens
of thousands of objects before it is ready (here its tokenizer alone takes ${(ms('`yaml` `Parser` (tokens only)') / ms('js-yaml `loadAll`')).toFixed(1)} × js-yaml's whole reading). So
\`src/cluster/yaml.ts\` reads every value with js-yaml (one schema: YAML 1.2 core with \`<<\` merge keys, timestamps
as strings) and uses the \`yaml\` package where its document model is needed; test/cluster/yaml.test.ts checks that
every input path reads the same objects.
`,
      errors: 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// a child of measureInChild: one reader, its result to the parent
if (process.send && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [index, dir] = process.argv.slice(2);
  const reader = READERS[Number(index)];
  if (!reader || !dir) throw new Error('usage: bench/yaml.ts <reader index> <state folder>');
  process.send(measure(reader, dir), () => process.exit(0));
}
