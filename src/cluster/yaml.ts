// The one reading of YAML for every input: a cluster state folder (`serve --cluster-state`, `validate --cluster-state`),
// files and folders (-f), standard input (-f -) and rendered kustomizations (-k). One schema, one merge-key rule, one
// function producing the values, so the same document means the same object whichever way it came in.
//
// The rules: YAML 1.2 core (true/false, null, ints and floats of the core schema), `<<` merge keys applied (explicit
// keys win, earlier maps in a merge list win), timestamps kept as strings, duplicate keys and unknown tags refused.
// Kubernetes' own reader (go-yaml) applies merge keys and hands timestamps to JSON as strings too.
//
// Two readers, one value function. The values always come from js-yaml with the schema below; the `yaml` package
// is used where its document model is needed (positions for file:line, templates recognised, documents edited in
// place by `explain -o yaml`), and refuses what a Kubernetes object cannot be (a map used as a key, alias bombs). The
// `yaml` package alone reads a large state folder an order of magnitude slower than js-yaml (bench part G), too slow
// for a server that reads tens of thousands of objects at start-up; so:
// - `parseYamlDocuments` (careful): the `yaml` document model, one value per document from js-yaml, problems per
//   document with their line;
// - `loadYamlValues` (fast): js-yaml over the whole text, used for state folders. A text that could hold anything
//   the careful reader refuses (a template's `{{`, an anchor, a collection as a key) or that js-yaml cannot read goes
//   through the careful reader instead, so both give the same values and refuse the same documents.
import { CORE_SCHEMA, load, loadAll, types, YAMLException, type Type } from 'js-yaml';
import { isScalar, LineCounter, parseAllDocuments, visit, type Document, type Node, type Pair } from 'yaml';

// js-yaml exports its built-in types for schemas like ours; @types/js-yaml does not declare them
declare module 'js-yaml' {
  const types: { readonly merge: Type };
}

const SCHEMA = CORE_SCHEMA.extend({ implicit: [types.merge] });

/** Aliases expanded beyond this many nodes make a document refused: an alias bomb, never a manifest. */
const MAX_ALIAS_COUNT = 100;

export type YamlProblemKind = 'syntax' | 'collection-key';

export interface YamlProblem {
  /** 1-based */
  readonly line: number;
  /** one line, without the parser's own position */
  readonly message: string;
  readonly kind: YamlProblemKind;
}

export interface ParsedDocument {
  /** 0-based position in the stream */
  readonly index: number;
  /** the `yaml` package's document: node positions, comments, editing in place */
  readonly doc: Document;
  /** the document's own text: comments and directives before it, its `---` marker, its content */
  readonly text: string;
  /** where `text` starts in the stream */
  readonly offset: number;
  /** 1-based line of the document's content (of its marker when empty) */
  readonly line: number;
  /** the document's value (null for an empty document); absent when there is a problem */
  readonly value?: unknown;
  readonly problem?: YamlProblem;
}

export interface ParsedStream {
  readonly documents: readonly ParsedDocument[];
  readonly lineCounter: LineCounter;
}

/** The first line of a parser message, without its own `at line N, column M:` (the caller gives the line). */
export const firstLine = (s: string): string =>
  s
    .split('\n')[0]!
    .trim()
    .replace(/\s*at line \d+, column \d+:?$/, '');

/** A map key that is itself a map or a list: valid YAML, never a Kubernetes object (`name: {{ .Values.x }}` is one). */
function collectionKey(doc: Document): Pair | undefined {
  let found: Pair | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (pair.key !== null && !isScalar(pair.key)) {
        found = pair as Pair;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function hasAlias(doc: Document): boolean {
  let found = false;
  visit(doc, {
    Alias() {
      found = true;
      return visit.BREAK;
    },
  });
  return found;
}

/** js-yaml's value of one document's text, or its problem (line relative to the stream). */
function valueOf(text: string, firstLineOfText: number): { value: unknown } | { problem: YamlProblem } {
  try {
    return { value: load(text, { schema: SCHEMA }) ?? null };
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    return { problem: { line: firstLineOfText + (err.mark?.line ?? 0), message: firstLine(err.reason || err.message), kind: 'syntax' } };
  }
}

/** Every document of a stream with its position, its value or its problem: what -f, -f - and -k read. */
export function parseYamlDocuments(text: string): ParsedStream {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true, merge: true });
  const list: Document[] = Array.isArray(docs) ? docs : [];
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  let previousEnd = 0;
  const documents = list.map((doc, index): ParsedDocument => {
    const end = doc.range?.[2] ?? text.length;
    const offset = previousEnd;
    previousEnd = end;
    const own = text.slice(offset, end);
    const line = lineAt((doc.contents as Node | null)?.range?.[0] ?? doc.range?.[0] ?? offset);
    const base = { index, doc, text: own, offset, line };
    const error = doc.errors[0];
    if (error) return { ...base, problem: { line: error.linePos?.[0].line ?? line, message: firstLine(error.message), kind: 'syntax' } };
    const key = collectionKey(doc);
    if (key) return { ...base, problem: { line: lineAt((key.key as Node).range?.[0] ?? 0), message: 'a map or list used as a map key', kind: 'collection-key' } };
    if (hasAlias(doc)) {
      try {
        doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (err) {
        return { ...base, problem: { line, message: firstLine((err as Error).message), kind: 'syntax' } };
      }
    }
    // from the document's own start: an earlier broken document may end short of where this one begins
    const start = Math.max(offset, doc.range?.[0] ?? offset);
    const read = valueOf(text.slice(start, end), lineAt(start));
    return 'problem' in read ? { ...base, problem: read.problem } : { ...base, value: read.value };
  });
  return { documents, lineCounter };
}

/** What only the careful reader can see: a template, an anchor (aliases, merge keys), a collection as a key. */
const NEEDS_CAREFUL_READING = /\{\{|(?:^|[\s[{,])&[^\s,[\]{}]|^\s*\?(?:\s|$)|[\]}]\s*:(?:\s|$)/m;

/** The problem of a document the fast reader gives up on: the same words and line as -f would give. */
export class YamlReadError extends Error {
  constructor(
    /** 0-based document index */
    readonly document: number,
    readonly problem: YamlProblem,
  ) {
    super(`line ${problem.line}: document ${document + 1}: ${problem.message}`);
  }
}

/**
 * The value of every document of a stream (null for an empty one), fast: for state folders of tens of thousands of
 * objects. Throws YamlReadError at the first document that cannot be read.
 */
export function loadYamlValues(text: string): unknown[] {
  if (!NEEDS_CAREFUL_READING.test(text)) {
    try {
      return loadAll(text, undefined, { schema: SCHEMA }).map((v) => v ?? null);
    } catch (err) {
      if (!(err instanceof YAMLException)) throw err;
      // the careful reader names the document and the line, as -f does
    }
  }
  return parseYamlDocuments(text).documents.map((d) => {
    if (d.problem) throw new YamlReadError(d.index, d.problem);
    return d.value;
  });
}
