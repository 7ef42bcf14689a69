// The offline form of the validating webhook: the same entry point, validate(request, view, mesh), over a set of
// manifests, the given objects counted as present in the cluster alongside --cluster-state; plus what the API server
// would have refused before calling the webhook (schema.ts: versions, kinds, unknown fields, names).
import { MemoryView } from '../cluster/memory.js';
import type { FieldError, Warning } from '../mesh/field-errors.js';
import { formatWarning } from '../mesh/field-errors.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { findKind, placeManifest } from '../mesh/kinds.js';
import { gvkOf, type KubeObject } from '../mesh/objects.js';
import { PLACEMENT_RULE } from '../validator/plugin.js';
import { validate } from '../validator/validate.js';
import { InputError } from '../mesh/errors.js';
import { readInput, readState, type Input, type InputDocument, type InputProblem } from './input.js';
import { checkName, checkTypeMeta, unknownFields } from './schema.js';

export type Status = 'admitted' | 'denied' | 'skipped';

export interface LocatedCause extends FieldError {
  readonly line: number;
}

export interface LocatedWarning extends Warning {
  readonly line: number;
  /** the line kubectl would print after `Warning: ` */
  readonly text: string;
}

export interface OfflineResult {
  readonly source: string;
  readonly file?: string;
  readonly line: number;
  readonly origin?: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly group: string;
  /** '' for cluster-scoped kinds */
  readonly namespace: string;
  readonly name: string;
  readonly status: Status;
  /** false: not a kind this webhook validates (it would be admitted with a warning) */
  readonly known: boolean;
  readonly allowed: boolean;
  readonly warnings: readonly LocatedWarning[];
  readonly causes: readonly LocatedCause[];
}

export interface Summary {
  readonly objects: number;
  readonly admitted: number;
  readonly denied: number;
  /** objects with at least one warning, whatever their verdict */
  readonly withWarnings: number;
  readonly skipped: number;
  /** documents or sources that could not be read */
  readonly inputErrors: number;
}

export interface OfflineReport {
  readonly results: readonly OfflineResult[];
  readonly problems: readonly InputProblem[];
  readonly summary: Summary;
  readonly strict: boolean;
}

export interface OfflineOptions {
  readonly mesh: MeshIdentity;
  /** the live cluster's state (validate --kubeconfig), instead of or besides --cluster-state; the given objects are added to it */
  readonly cluster?: MemoryView;
  /** unknown fields deny, and any other warning fails the run */
  readonly strict?: boolean;
}

/** Warnings that say how things are, not that something is wrong: they never fail a --strict run. */
const INFORMATIONAL_RULES: ReadonlySet<string> = new Set([PLACEMENT_RULE]);

export const EXIT = { clean: 0, denied: 1, input: 2 } as const;

/**
 * The given objects and the state, placed as kubectl would store them, in one view (the given replace the state's);
 * `cluster`, a live cluster's state, is the base they are added to.
 */
export function offlineView(given: readonly InputDocument[], state: readonly InputDocument[] = [], cluster?: MemoryView): MemoryView {
  const view = cluster ?? new MemoryView();
  for (const d of [...state, ...given]) view.upsert(placeManifest(d.object));
  return view;
}

function locateWarning(doc: InputDocument, w: Warning): LocatedWarning {
  return { ...w, line: w.field ? doc.lineOf(w.field) : doc.line, text: formatWarning(w) };
}

function judge(doc: InputDocument, view: MemoryView, opts: OfflineOptions): OfflineResult {
  const object: KubeObject = doc.object;
  const gvk = gvkOf(object);
  const base = { source: doc.source, ...(doc.file ? { file: doc.file } : {}), line: doc.line, ...(doc.origin ? { origin: doc.origin } : {}), apiVersion: object.apiVersion ?? '', kind: gvk.kind, group: gvk.group };
  const locate = (c: FieldError): LocatedCause => ({ ...c, line: doc.lineOf(c.field) });
  const typeErrors = checkTypeMeta(object);
  if (typeErrors.length) {
    // the API server would refuse it before any webhook: nothing else is worth saying
    const meta = object.metadata ?? {};
    return { ...base, namespace: meta.namespace ?? '', name: meta.name ?? meta.generateName ?? '', status: 'denied', known: true, allowed: false, warnings: [], causes: typeErrors.map(locate) };
  }
  const v = validate({ operation: 'CREATE', kind: gvk, object }, view, opts.mesh);
  const id = { namespace: v.target.namespace, name: v.target.label };
  const entry = findKind(gvk.group, gvk.kind);
  if (!v.known || !entry) return { ...base, ...id, status: 'skipped', known: false, allowed: true, warnings: [], causes: [] };
  const unknown = unknownFields(object, entry);
  const causes = [...checkName(object), ...(opts.strict ? unknown.map((w): FieldError => ({ type: 'FieldValueInvalid', field: w.field, message: w.message, rule: w.rule ?? '' })) : []), ...v.errors];
  const warnings = [...(opts.strict ? [] : unknown), ...v.warningDetails].map((w) => locateWarning(doc, w));
  const allowed = causes.length === 0;
  return { ...base, ...id, status: allowed ? 'admitted' : 'denied', known: true, allowed, warnings, causes: causes.map(locate) };
}

/** Whether a warning fails a --strict run. */
export function failsStrict(w: Warning): boolean {
  return !INFORMATIONAL_RULES.has(w.rule ?? '');
}

export function summarize(results: readonly OfflineResult[], problems: readonly InputProblem[]): Summary {
  const count = (s: Status): number => results.filter((r) => r.status === s).length;
  return { objects: results.length, admitted: count('admitted'), denied: count('denied'), withWarnings: results.filter((r) => r.warnings.length > 0).length, skipped: count('skipped'), inputErrors: problems.length };
}

/** Every given object judged, in input order. Empty input is an input error: a CI gate must not pass on nothing. */
export function judgeOffline(given: Input, opts: OfflineOptions, state?: Input, sources: readonly string[] = []): OfflineReport {
  const view = offlineView(given.documents, state?.documents, opts.cluster);
  const results = given.documents.map((d) => judge(d, view, opts));
  const problems = [...(state?.problems ?? []), ...given.problems];
  if (results.length === 0 && problems.length === 0) problems.push({ source: sources.join(', '), line: 0, message: 'no objects found in the input' });
  return { results, problems, summary: summarize(results, problems), strict: opts.strict === true };
}

export function exitCode(report: OfflineReport): number {
  if (report.problems.length > 0) return EXIT.input;
  if (report.results.some((r) => !r.allowed)) return EXIT.denied;
  if (report.strict && report.results.some((r) => r.warnings.some(failsStrict))) return EXIT.denied;
  return EXIT.clean;
}

function throwFirstProblem(input: Input): Input {
  const p = input.problems[0];
  if (p) throw new InputError(`${p.source}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}`);
  return input;
}

/** Files and folders read as the command line reads them; any unreadable part is an InputError. */
export function readFiles(paths: readonly string[]): Input {
  return throwFirstProblem(readInput({ filenames: paths }));
}

/** A state folder read as --cluster-state reads it; any unreadable part is an InputError. */
export function readStateFolder(dir: string): Input {
  return throwFirstProblem(readState(dir));
}

/** One result per object with its warnings as kubectl prints them (the form the webhook answers with). */
export type OfflineVerdict = Omit<OfflineResult, 'warnings'> & { readonly warnings: readonly string[] };

/** What `validate -f <paths> [--cluster-state DIR]` decides, object by object (for tests and scripts). */
export function validateOffline(paths: readonly string[], mesh: MeshIdentity, stateDir?: string, opts: Omit<OfflineOptions, 'mesh'> = {}): OfflineVerdict[] {
  const report = judgeOffline(readFiles(paths), { ...opts, mesh }, stateDir ? readStateFolder(stateDir) : undefined);
  return report.results.map((r) => ({ ...r, warnings: r.warnings.map((w) => w.text) }));
}
