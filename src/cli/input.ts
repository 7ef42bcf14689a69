// What the offline commands read: files and folders (arguments and -f), standard input (-f -), kustomizations rendered
// by `kubectl kustomize` (-k), each split into documents that keep their YAML positions, so that every line of output
// can say file:line. A document that cannot be parsed is an input problem of its own and the others are still read:
// a CI run over a Helm chart reports every broken template, not the first one.
//
// A repository holds more than manifests: a folder is walked in name order, skipping hidden entries (`.github`,
// `.git`) unless named, what --exclude matches, and files --include does not match (default: *.yaml, *.yml, *.json);
// a file in which no document names an apiVersion or a kind (a CI workflow, a chart's values) is skipped and counted,
// and so is a folder that must be rendered first (a kustomization, a Helm chart) met while walking; with --strict
// those are input errors.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import picomatch from 'picomatch';
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { manifestFiles, ManifestError, parseManifests } from '../cluster/manifests.js';
import { firstLine, loadYamlValues, parseYamlDocuments, type ParsedDocument } from '../cluster/yaml.js';
import { InputError } from '../mesh/errors.js';
import { isRecord, splitApiVersion, type KubeObject } from '../mesh/objects.js';

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

/** Where a document sits in what was read: for `explain -o yaml`, which prints the input back. */
export interface DocumentPlace {
  /** index into Input.texts */
  readonly text: number;
  /** index of the YAML document in that text */
  readonly document: number;
  /** index in the document's `items` when it is a List */
  readonly item?: number;
}

export interface InputDocument {
  readonly object: KubeObject;
  readonly source: string;
  readonly file?: string;
  /** 1-based line where the object starts (0: not known) */
  readonly line: number;
  /**
   * true when `line` and `lineOf` count lines of a rendered stream (`kustomize DIR` without origin annotations), not
   * of `file`: annotations and SARIF then point at the file without a line
   */
  readonly renderedLines?: boolean;
  /** where a renderer says the object came from (Helm's `# Source:` comment, kustomize's origin annotation) */
  readonly origin?: string;
  /** 1-based line of a field path (`spec.ports[0].number`), or of its nearest ancestor present in the YAML */
  lineOf(field: string): number;
  readonly place?: DocumentPlace;
}

export interface InputProblem {
  readonly source: string;
  readonly file?: string;
  readonly line: number;
  readonly message: string;
}

/** A file or folder read past: no Kubernetes object in it, or something to render first. */
export interface SkippedSource {
  readonly source: string;
  readonly file?: string;
  readonly kind: 'no-objects' | 'kustomization' | 'helm-chart';
  readonly message: string;
}

/** A text that was read with the careful reader, kept for output that prints the input back. */
export interface ReadText {
  readonly name: string;
  readonly text: string;
  readonly documents: readonly ParsedDocument[];
}

export interface Input {
  readonly documents: InputDocument[];
  readonly problems: InputProblem[];
  readonly skipped?: SkippedSource[];
  readonly texts?: ReadText[];
}

export const MANIFEST_FILE = /\.(ya?ml|json)$/i;
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const HELM_CHART_FILE = 'Chart.yaml';
/** The annotation `kustomize build` writes with `buildMetadata: [originAnnotations]`. */
export const ORIGIN_ANNOTATION = 'config.kubernetes.io/origin';

export const TEMPLATE_HINT = 'an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)';

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
function helmSource(doc: Document): string | undefined {
  const m = /^\s*Source:\s*(.+?)\s*$/m.exec(doc.commentBefore ?? '');
  return m?.[1];
}

interface ParsedSource extends Input {
  /** some document names an apiVersion or a kind: the text is meant to hold Kubernetes objects */
  readonly hasObjects: boolean;
  /** some document is not YAML (or is a template): whatever the text is, it is not readable */
  readonly unreadable: boolean;
  readonly parsed: readonly ParsedDocument[];
}

/** Every document of a YAML (or JSON) text: objects with positions, `List`s expanded, problems for what cannot be read. */
export function parseSource(src: SourceText, textIndex = 0): ParsedSource {
  const documents: InputDocument[] = [];
  const problems: InputProblem[] = [];
  const where = { source: src.name, ...(src.file ? { file: src.file } : {}) };
  const { documents: parsed, lineCounter: counter } = parseYamlDocuments(src.text);
  let hasObjects = false;
  let unreadable = false;
  for (const d of parsed) {
    const { doc, line: docLine } = d;
    const problem = (line: number, message: string): void => void problems.push({ ...where, line, message: `document ${d.index + 1}: ${message}` });
    if (d.problem) {
      unreadable = true;
      // whatever shape a template gives the YAML, its braces are the clue
      const template = d.text.includes('{{');
      problem(d.problem.line, template ? `${d.problem.message}: ${TEMPLATE_HINT}` : d.problem.kind === 'collection-key' ? `${d.problem.message}: not a Kubernetes object` : d.problem.message);
      continue;
    }
    const value = d.value;
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) {
      problem(docLine, 'not a Kubernetes object (a YAML map with apiVersion and kind)');
      continue;
    }
    if ('apiVersion' in value || 'kind' in value) hasObjects = true;
    const origin = helmSource(doc);
    const add = (object: Record<string, unknown>, node: Node | null | undefined, item?: number): void => {
      const line = node?.range ? counter.linePos(node.range[0]).line : docLine;
      const missing = (['apiVersion', 'kind'] as const).filter((k) => typeof object[k] !== 'string' || object[k] === '');
      if (missing.length) return problem(line, `${missing.join(' and ')} not set`);
      const place = { text: textIndex, document: d.index, ...(item !== undefined ? { item } : {}) };
      documents.push({ object: object as KubeObject, ...where, line, ...(origin ? { origin } : {}), lineOf: lineFinder(node, counter, line), place });
    };
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      const items = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
      value.items.forEach((item, j) => {
        const node = isSeq(items) ? (items.items[j] as Node | undefined) : undefined;
        if (isRecord(item)) add(item, node, j);
        else problem(node?.range ? counter.linePos(node.range[0]).line : docLine, `items[${j}] is not a Kubernetes object`);
      });
    } else add(value, doc.contents as Node | null);
  }
  return { documents, problems, hasObjects, unreadable, parsed };
}

// ---- which files a folder holds ---------------------------------------------------------------------------------

export interface ReadOptions {
  /** -f and arguments: files, folders, or `-` for standard input */
  readonly filenames?: readonly string[];
  /** -k: kustomization folders */
  readonly kustomizations?: readonly string[];
  /** standard input, read once, only when `-f -` is given */
  readonly stdin?: () => string;
  /** runs `kubectl kustomize <dir>` (tests replace PATH, not this) */
  readonly kubectl?: string;
  /** glob patterns of paths not read while walking a folder */
  readonly exclude?: readonly string[];
  /** glob patterns of the files read while walking a folder (default: *.yaml, *.yml, *.json) */
  readonly include?: readonly string[];
  /** skipped files and folders are input errors */
  readonly strict?: boolean;
  /** what relative patterns are matched against (default: the working directory) */
  readonly cwd?: string;
}

/**
 * A path matcher for --include/--exclude, gitignore-like: a pattern without a slash matches a file or folder name at
 * any depth (`*.tpl`, `chart`); one with a slash matches the path from the working directory (`deploy/**`, `./x/*`).
 */
export function pathMatcher(patterns: readonly string[], cwd: string): ((path: string) => boolean) | undefined {
  if (patterns.length === 0) return undefined;
  const matchers = patterns.map((raw) => {
    const p = raw.replace(/^\.\//, '').replace(/\/+$/, '');
    const m = picomatch(p, { dot: true });
    // a walk meets every folder on the way down, so a name pattern only needs the last part of each path
    return p.includes('/') ? m : (candidate: string) => m(candidate.slice(candidate.lastIndexOf('/') + 1));
  });
  return (path) => {
    const rel = relative(cwd, path);
    const candidate = (rel && !rel.startsWith('..') ? rel : path).split(sep).join('/');
    return matchers.some((m) => m(candidate));
  };
}

interface Walk {
  readonly files: string[];
  readonly problems: InputProblem[];
  readonly skipped: SkippedSource[];
  readonly excluded?: (path: string) => boolean;
  readonly included?: (path: string) => boolean;
}

/** What a folder is when it must be rendered before its objects mean anything; undefined for a plain folder. */
function renderable(dir: string, entries: readonly string[]): Omit<SkippedSource, 'source'> | undefined {
  const kustomization = entries.find((e) => KUSTOMIZATION_FILES.includes(e));
  // Its patches and partial resources are not objects; what it means is what it renders.
  if (kustomization) return { file: join(dir, kustomization), kind: 'kustomization', message: `a kustomization: validate what it renders with -k ${dir}` };
  if (entries.includes(HELM_CHART_FILE))
    return { file: join(dir, HELM_CHART_FILE), kind: 'helm-chart', message: `a Helm chart: validate what it renders: helm template ${dir} | mesh-admission validate -f -` };
  return undefined;
}

/** Files under a path, in name order; the path itself is always read (a file) or walked (a folder). */
function walk(path: string, explicit: boolean, w: Walk): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    w.problems.push({ source: path, line: 0, message: 'no such file or directory' });
    return;
  }
  if (!st.isDirectory()) {
    if (explicit || (w.included ? w.included(path) : MANIFEST_FILE.test(path))) w.files.push(path);
    return;
  }
  const entries = readdirSync(path).sort();
  const render = renderable(path, entries);
  if (render) {
    // named on the command line it is a mistake; met in a repository it is something else's input
    if (explicit) w.problems.push({ source: path, ...(render.file ? { file: render.file } : {}), line: 0, message: render.message });
    else w.skipped.push({ source: path, ...render });
    return;
  }
  for (const entry of entries) {
    const child = join(path, entry);
    if (entry.startsWith('.') || w.excluded?.(child)) continue;
    walk(child, false, w);
  }
}

// ---- kustomize ---------------------------------------------------------------------------------------------------

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

/** kustomize's origin annotation: `path` (from the folder built), or `repo`, `ref` and `path` for a remote resource. */
export interface Origin {
  readonly path?: string;
  readonly repo?: string;
  readonly ref?: string;
  /** a generated object: the kustomization that generated it */
  readonly configuredIn?: string;
}

export function originOf(object: KubeObject): Origin | undefined {
  const text = object.metadata?.annotations?.[ORIGIN_ANNOTATION];
  if (typeof text !== 'string') return undefined;
  let value: unknown;
  try {
    value = loadYamlValues(text)[0];
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const str = (k: string): string | undefined => (typeof value[k] === 'string' && value[k] !== '' ? (value[k] as string) : undefined);
  const o = { path: str('path'), repo: str('repo'), ref: str('ref'), configuredIn: str('configuredIn') };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Origin;
}

const describeOrigin = (o: Origin): string => (o.repo ? `${o.repo}${o.path ? `//${o.path}` : ''}${o.ref ? `?ref=${o.ref}` : ''}` : (o.path ?? o.configuredIn ?? ''));

/**
 * The object's own document in the file kustomize says it came from: the same kind, and the same name or one it
 * became through a name prefix or suffix; undefined when that is not one document.
 */
function findInOrigin(parsed: ParsedSource, object: KubeObject): InputDocument | undefined {
  const kind = object.kind;
  const group = splitApiVersion(object.apiVersion).group;
  const name = object.metadata?.name ?? '';
  const sameKind = parsed.documents.filter((d) => d.object.kind === kind && splitApiVersion(d.object.apiVersion).group === group);
  const unique = (list: InputDocument[]): InputDocument | undefined => (list.length === 1 ? list[0] : undefined);
  const named = (d: InputDocument): string => d.object.metadata?.name ?? '';
  return unique(sameKind.filter((d) => named(d) === name)) ?? unique(sameKind.filter((d) => named(d) !== '' && name.includes(named(d)))) ?? unique(sameKind);
}

/**
 * Points each rendered object back at its source file, through kustomize's origin annotations: the file (its path is
 * relative to the folder built) and, when the object's document is found in it, its lines. Annotations carry no line
 * of their own. Without an origin, or from a remote repository, the object keeps the rendered stream's lines and is
 * placed in the kustomization file for annotations.
 */
export function locateOrigins(documents: readonly InputDocument[], dir: string, read: (file: string) => string | undefined = readIfFile): InputDocument[] {
  const entries = (() => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  })();
  const kustomizationFile = join(dir, entries.find((e) => KUSTOMIZATION_FILES.includes(e)) ?? KUSTOMIZATION_FILES[0]!);
  const parsedFiles = new Map<string, ParsedSource | undefined>();
  const parsedFile = (file: string): ParsedSource | undefined => {
    if (!parsedFiles.has(file)) {
      const text = read(file);
      parsedFiles.set(file, text === undefined ? undefined : parseSource({ name: file, file, text }));
    }
    return parsedFiles.get(file);
  };
  return documents.map((d): InputDocument => {
    const origin = originOf(d.object);
    const local = origin && !origin.repo ? (origin.path ?? origin.configuredIn) : undefined;
    const rendered: InputDocument = { ...d, file: kustomizationFile, renderedLines: true, ...(origin ? { origin: describeOrigin(origin) } : {}) };
    if (!local) return rendered;
    const file = join(dir, local);
    const parsed = origin?.path ? parsedFile(file) : undefined;
    if (!parsed && !existsSync(file)) return rendered;
    const own = parsed ? findInOrigin(parsed, d.object) : undefined;
    const base = { object: d.object, source: file, file, origin: describeOrigin(origin!), ...(d.place ? { place: d.place } : {}) };
    return own ? { ...base, line: own.line, lineOf: own.lineOf } : { ...base, line: 0, lineOf: () => 0 };
  });
}

function readIfFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

// ---- reading everything -------------------------------------------------------------------------------------------

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

/** Reads every source, in the order given: -f paths and arguments (and stdin), then -k folders. */
export function readInput(opts: ReadOptions): Input {
  const documents: InputDocument[] = [];
  const problems: InputProblem[] = [];
  const skipped: SkippedSource[] = [];
  const texts: ReadText[] = [];
  const take = (src: SourceText, isFile: boolean): ParsedSource => {
    const r = parseSource(src, texts.length);
    texts.push({ name: src.name, text: src.text, documents: r.parsed });
    if (isFile && !r.hasObjects && !r.unreadable) {
      const message = 'no Kubernetes object in this file (no document names an apiVersion or a kind)';
      if (opts.strict) problems.push({ source: src.name, ...(src.file ? { file: src.file } : {}), line: 0, message });
      else skipped.push({ source: src.name, ...(src.file ? { file: src.file } : {}), kind: 'no-objects', message });
      return r;
    }
    documents.push(...r.documents);
    problems.push(...r.problems);
    return r;
  };
  const cwd = opts.cwd ?? process.cwd();
  const excluded = pathMatcher(opts.exclude ?? [], cwd);
  const included = pathMatcher(opts.include ?? [], cwd);
  const filenames = opts.filenames ?? [];
  if (filenames.filter((f) => f === STDIN).length > 1) throw new InputError('-f - can be given once: standard input is read once');
  for (const f of filenames) {
    if (f === STDIN) {
      take({ name: STDIN_NAME, text: (opts.stdin ?? readStdin)() }, false);
      continue;
    }
    const files: string[] = [];
    const walked: SkippedSource[] = [];
    walk(f, true, { files, problems, skipped: walked, ...(excluded ? { excluded } : {}), ...(included ? { included } : {}) });
    for (const s of walked) {
      if (opts.strict) problems.push({ source: s.source, ...(s.file ? { file: s.file } : {}), line: 0, message: s.message });
      else skipped.push(s);
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        problems.push({ source: file, file, line: 0, message: (err as Error).message });
        continue;
      }
      take({ name: file, file, text }, true);
    }
  }
  for (const dir of opts.kustomizations ?? []) {
    const rendered = renderKustomization(dir, opts.kubectl);
    if (!('text' in rendered)) {
      problems.push(rendered);
      continue;
    }
    const r = parseSource(rendered, texts.length);
    texts.push({ name: rendered.name, text: rendered.text, documents: r.parsed });
    documents.push(...locateOrigins(r.documents, dir));
    problems.push(...r.problems);
  }
  // in the order a walk meets them (name order), whichever way they were found
  skipped.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  return { documents, problems, skipped, texts };
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
