// What the offline commands read: files and folders (-f), standard input (-f -), kustomizations rendered by
// `kubectl kustomize` (-k), each split into documents that keep their YAML positions, so that every line of output can
// say file:line. A document that cannot be parsed is an input problem of its own and the others are still read:
// a CI run over a Helm chart reports every broken template, not the first one.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { manifestFiles, ManifestError, parseManifests } from '../cluster/manifests.js';
import { firstLine, parseYamlDocuments } from '../cluster/yaml.js';
import { InputError } from '../mesh/errors.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';

export const STDIN = '-';
/** How standard input is named in output. */
export const STDIN_NAME = '<stdin>';

/** One piece of text to read, and how to name it. */
export interface SourceText {
  /** shown in output: a path, `<stdin>`, `kustomize <dir>` */
  readonly name: string;
  /** a file the lines refer to, for SARIF and CI annotations (absent for stdin and rendered streams) */
  readonly file?: string;
  readonly text: string;
}

export interface InputDocument {
  readonly object: KubeObject;
  readonly source: string;
  readonly file?: string;
  /** 1-based line where the object starts */
  readonly line: number;
  /** where a renderer says the object came from (Helm's `# Source:` comment) */
  readonly origin?: string;
  /** 1-based line of a field path (`spec.ports[0].number`), or of its nearest ancestor present in the YAML */
  lineOf(field: string): number;
}

export interface InputProblem {
  readonly source: string;
  readonly file?: string;
  readonly line: number;
  readonly message: string;
}

export interface Input {
  readonly documents: InputDocument[];
  readonly problems: InputProblem[];
}

export const MANIFEST_FILE = /\.(ya?ml|json)$/i;
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** `spec.ports[0].number` → ['spec', 'ports', 0, 'number']; `metadata.labels[app.kubernetes.io/name]` keeps the key whole. */
export function fieldSegments(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[([^\]]*)\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(/^\d+$/.test(m[2]) ? Number(m[2]) : m[2]);
  }
  return out;
}

function lineFinder(node: Node | null | undefined, counter: LineCounter, start: number): (field: string) => number {
  const lineAt = (offset: number | undefined): number => (offset === undefined ? start : counter.linePos(offset).line);
  return (field) => {
    let cur: unknown = node;
    let line = start;
    for (const seg of fieldSegments(field)) {
      if (typeof seg === 'number' && isSeq(cur)) {
        const item = cur.items[seg];
        if (!item) break;
        line = lineAt((item as Node).range?.[0]);
        cur = item;
      } else if (isMap(cur)) {
        const pair = cur.items.find((p) => (isScalar(p.key) ? String(p.key.value) : p.key) === String(seg));
        if (!pair) break;
        // the key's line: a map or list value starts on the next line, the key is what a reader looks for
        line = lineAt((pair.key as Node | null)?.range?.[0]);
        cur = pair.value;
      } else break;
    }
    return line;
  };
}

/** Helm writes `# Source: <chart>/templates/<file>` before each document it renders. */
function originOf(doc: Document): string | undefined {
  const m = /^\s*Source:\s*(.+?)\s*$/m.exec(doc.commentBefore ?? '');
  return m?.[1];
}

const TEMPLATE_HINT = 'an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)';

/** Every document of a YAML (or JSON) text: objects with positions, `List`s expanded, problems for what cannot be read. */
export function parseSource(src: SourceText): Input {
  const documents: InputDocument[] = [];
  const problems: InputProblem[] = [];
  const where = { source: src.name, ...(src.file ? { file: src.file } : {}) };
  const { documents: parsed, lineCounter: counter } = parseYamlDocuments(src.text);
  for (const d of parsed) {
    const { doc, line: docLine } = d;
    const problem = (line: number, message: string): void => void problems.push({ ...where, line, message: `document ${d.index + 1}: ${message}` });
    if (d.problem) {
      problem(d.problem.line, d.problem.kind === 'collection-key' ? `${d.problem.message}: ${TEMPLATE_HINT}` : d.problem.message);
      continue;
    }
    const value = d.value;
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) {
      problem(docLine, 'not a Kubernetes object (a YAML map with apiVersion and kind)');
      continue;
    }
    const origin = originOf(doc);
    const add = (object: Record<string, unknown>, node: Node | null | undefined): void => {
      const line = node?.range ? counter.linePos(node.range[0]).line : docLine;
      const missing = (['apiVersion', 'kind'] as const).filter((k) => typeof object[k] !== 'string' || object[k] === '');
      if (missing.length) return problem(line, `${missing.join(' and ')} not set`);
      documents.push({ object: object as KubeObject, ...where, line, ...(origin ? { origin } : {}), lineOf: lineFinder(node, counter, line) });
    };
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      const items = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
      value.items.forEach((item, j) => {
        const node = isSeq(items) ? (items.items[j] as Node | undefined) : undefined;
        if (isRecord(item)) add(item, node);
        else problem(node?.range ? counter.linePos(node.range[0]).line : docLine, `items[${j}] is not a Kubernetes object`);
      });
    } else add(value, doc.contents as Node | null);
  }
  return { documents, problems };
}

// ---- where the text comes from ----------------------------------------------------------------------------------

export interface ReadOptions {
  /** -f: files, folders, or `-` for standard input */
  readonly filenames?: readonly string[];
  /** -k: kustomization folders */
  readonly kustomizations?: readonly string[];
  /** standard input, read once, only when `-f -` is given */
  readonly stdin?: () => string;
  /** runs `kubectl kustomize <dir>` (tests replace PATH, not this) */
  readonly kubectl?: string;
}

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

/** Files under a path, in name order; folders holding a kustomization are reported, never read as loose files. */
function walk(path: string, explicit: boolean, files: string[], problems: InputProblem[]): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    problems.push({ source: path, line: 0, message: 'no such file or directory' });
    return;
  }
  if (!st.isDirectory()) {
    if (explicit || MANIFEST_FILE.test(path)) files.push(path);
    return;
  }
  const entries = readdirSync(path).sort();
  const kustomization = entries.find((e) => KUSTOMIZATION_FILES.includes(e));
  if (kustomization) {
    // Its patches and partial resources are not objects; what it means is what it renders.
    problems.push({ source: path, file: join(path, kustomization), line: 1, message: `a kustomization folder: validate what it renders with -k ${path}` });
    return;
  }
  for (const entry of entries) walk(join(path, entry), false, files, problems);
}

/** `kubectl kustomize <dir>`: the objects the kustomization renders in one stream, or why there are none. */
export function renderKustomization(dir: string, kubectl = 'kubectl'): SourceText | InputProblem {
  const problem = (message: string): InputProblem => ({ source: `kustomize ${dir}`, line: 0, message });
  const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    return problem(`kubectl is not on PATH (it renders kustomizations): install kubectl, or pipe \`kustomize build ${dir}\` into -f -`);
  if (r.error) return problem(r.error.message);
  if (r.status !== 0) return problem(`kubectl kustomize failed: ${firstLine(r.stderr.replace(/^error:\s*/i, '') || `exit ${r.status}`)}`);
  return { name: `kustomize ${dir}`, text: r.stdout };
}

/** Reads every source, in the order given: -f paths (and stdin), then -k folders. */
export function readInput(opts: ReadOptions): Input {
  const documents: InputDocument[] = [];
  const problems: InputProblem[] = [];
  const take = (src: SourceText): void => {
    const r = parseSource(src);
    documents.push(...r.documents);
    problems.push(...r.problems);
  };
  const filenames = opts.filenames ?? [];
  if (filenames.filter((f) => f === STDIN).length > 1) throw new InputError('-f - can be given once: standard input is read once');
  for (const f of filenames) {
    if (f === STDIN) {
      take({ name: STDIN_NAME, text: (opts.stdin ?? readStdin)() });
      continue;
    }
    const files: string[] = [];
    walk(f, true, files, problems);
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        problems.push({ source: file, file, line: 0, message: (err as Error).message });
        continue;
      }
      take({ name: file, file, text });
    }
  }
  for (const dir of opts.kustomizations ?? []) {
    const rendered = renderKustomization(dir, opts.kubectl);
    if ('text' in rendered) take(rendered);
    else problems.push(rendered);
  }
  return { documents, problems };
}

/**
 * A cluster state folder (--cluster-state), read as the standalone server reads it (the fast reader, the same YAML
 * rules as -f): the objects, and a problem per file that cannot be read.
 */
export function readState(dir: string): Input {
  const documents: InputDocument[] = [];
  const problems: InputProblem[] = [];
  let files: string[];
  try {
    files = manifestFiles([dir]);
  } catch (err) {
    if (err instanceof ManifestError) return { documents, problems: [{ source: err.path, line: 0, message: err.detail }] };
    throw err;
  }
  for (const file of files) {
    try {
      for (const l of parseManifests(readFileSync(file, 'utf8'), file)) documents.push({ object: l.object, source: l.source, file, line: 0, lineOf: () => 0 });
    } catch (err) {
      if (err instanceof ManifestError) problems.push({ source: file, file, line: err.line, message: err.detail });
      else problems.push({ source: file, file, line: 0, message: (err as Error).message });
    }
  }
  return { documents, problems };
}
