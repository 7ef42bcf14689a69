// The offline form of the validating webhook: the same entry point, validate(request, view, mesh), over a set of
// manifests, the given objects counted as present in the cluster alongside --cluster-state; plus what the API server
// would have refused before calling the webhook (schema.ts: versions, kinds, unknown fields, names, size; here: the
// same object twice in one input, a namespace that contradicts -n).
//
// A CI gate must not pass by accident: a finding that says some object is absent is only true of the cluster when
// the view holds the cluster's state; without --cluster-state or --kubeconfig it is reported as unverified, naming
// the flag that would check it, counted in the summary, and it fails a --strict run like any warning.
import { MemoryView } from '../cluster/memory.js';
import type { FieldError, Warning } from '../mesh/field-errors.js';
import { formatWarning } from '../mesh/field-errors.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { findKind, identifyManifest, placeManifest, scopeOf } from '../mesh/kinds.js';
import { gvkOf, isRecord, type KubeObject } from '../mesh/objects.js';
import { ABSENCE_RULES } from '../validator/absence.js';
import { PLACEMENT_RULE } from '../validator/plugin.js';
import { validate } from '../validator/validate.js';
import { InputError } from '../mesh/errors.js';
import { readInput, readState, type Input, type InputDocument, type InputProblem, type SkippedSource } from './input.js';
import { checkName, checkObjectMeta, checkObjectSize, checkTypeMeta, RULES, unknownFields } from './schema.js';

export type Status = 'admitted' | 'denied' | 'skipped';

export interface LocatedCause extends FieldError {
  readonly line: number;
}

export interface LocatedWarning extends Warning {
  readonly line: number;
  /** the line kubectl would print after `Warning: ` */
  readonly text: string;
  /** an absence that only the cluster's state could confirm: no state was given */
  readonly unverified?: boolean;
}

/** A finding silenced by --suppress or the object's suppress annotation: kept for JSON, not printed. */
export interface SuppressedFinding {
  readonly rule: string;
  readonly field: string;
  readonly message: string;
  readonly line: number;
}

export interface OfflineResult {
  readonly source: string;
  readonly file?: string;
  readonly line: number;
  /** the lines are a rendered stream's, not `file`'s (annotations point at the file only) */
  readonly renderedLines?: boolean;
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
  readonly suppressed: readonly SuppressedFinding[];
}

export interface Summary {
  readonly objects: number;
  readonly admitted: number;
  readonly denied: number;
  readonly skipped: number;
  /** objects with at least one warning, whatever their verdict (unverified ones included) */
  readonly withWarnings: number;
  /** objects with at least one finding that needs the cluster's state */
  readonly unverified: number;
  /** findings silenced by --suppress or annotation */
  readonly suppressed: number;
  /** files without Kubernetes objects, and folders to render first, read past */
  readonly skippedSources: { readonly noObjects: number; readonly kustomizations: number; readonly helmCharts: number };
  /** documents or sources that could not be read */
  readonly inputErrors: number;
}

export interface OfflineReport {
  readonly results: readonly OfflineResult[];
  readonly problems: readonly InputProblem[];
  readonly skipped: readonly SkippedSource[];
  readonly summary: Summary;
  readonly strict: boolean;
  /** said once on stderr: a suppression that cannot apply */
  readonly notes: readonly string[];
}

export interface OfflineOptions {
  readonly mesh: MeshIdentity;
  /** the live cluster's state (validate --kubeconfig), instead of or besides --cluster-state; the given objects are added to it */
  readonly cluster?: MemoryView;
  /** unknown fields deny, and any other warning fails the run */
  readonly strict?: boolean;
  /** -n: the namespace of namespaced objects that name none */
  readonly namespace?: string;
  /** --suppress: rules silenced for every object */
  readonly suppress?: readonly string[];
}

/** Per object: `mesh-admission.io/suppress: "rule-a, rule-b"` silences those rules for that object. */
export const SUPPRESS_ANNOTATION = 'mesh-admission.io/suppress';

/** What to say to check an unverified finding. */
export const STATE_FLAGS = '--cluster-state DIR or --kubeconfig FILE';

/** Warnings that say how things are, not that something is wrong: they never fail a --strict run. */
const INFORMATIONAL_RULES: ReadonlySet<string> = new Set([PLACEMENT_RULE]);

/** Rule of a Service whose namespace is not known: the mesh's Service rules run only in monitored namespaces. */
export const NAMESPACE_UNKNOWN_RULE = 'namespace-unknown';
export const DUPLICATE_RULE = 'duplicate-object';
export const NAMESPACE_MISMATCH_RULE = 'namespace-mismatch';

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

/** A namespaced object without a namespace placed in -n's, as `kubectl apply -n` would (a copy; lines are kept). */
export function withNamespace(docs: readonly InputDocument[], namespace: string | undefined): InputDocument[] {
  if (namespace === undefined) return [...docs];
  return docs.map((d) => {
    const o = d.object;
    if (o.metadata?.namespace || scopeOf(gvkOf(o)) === 'Cluster') return d;
    return { ...d, object: { ...o, metadata: { ...(isRecord(o.metadata) ? o.metadata : {}), namespace } } };
  });
}

/** The rules an object's annotation silences. */
function annotatedSuppressions(obj: KubeObject): string[] {
  const v = obj.metadata?.annotations?.[SUPPRESS_ANNOTATION];
  return typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

/** Denials that exist only in this command (the API server's default is to warn): --suppress may silence them. */
const OFFLINE_ONLY_DENIALS: ReadonlySet<string> = new Set([RULES.unknownField]);

interface JudgeContext {
  readonly opts: OfflineOptions;
  readonly view: MemoryView;
  readonly stateGiven: boolean;
  /** the earlier occurrence of the same object in the input, by object */
  readonly duplicates: ReadonlyMap<InputDocument, InputDocument>;
  /** suppressed rules that were asked for but deny at admission */
  readonly unsuppressible: Set<string>;
  readonly used: Set<string>;
}

const at = (d: { source: string; line: number }): string => (d.line > 0 ? `${d.source}:${d.line}` : d.source);

function judge(doc: InputDocument, ctx: JudgeContext): OfflineResult {
  const { opts, view } = ctx;
  const object: KubeObject = doc.object;
  const gvk = gvkOf(object);
  const base = {
    source: doc.source,
    ...(doc.file ? { file: doc.file } : {}),
    line: doc.line,
    ...(doc.renderedLines ? { renderedLines: true } : {}),
    ...(doc.origin ? { origin: doc.origin } : {}),
    apiVersion: object.apiVersion ?? '',
    kind: gvk.kind,
    group: gvk.group,
  };
  const locate = (c: FieldError): LocatedCause => ({ ...c, line: doc.lineOf(c.field) });
  const typeErrors = checkTypeMeta(object);
  if (typeErrors.length) {
    // the API server would refuse it before any webhook: nothing else is worth saying
    const meta = object.metadata ?? {};
    return { ...base, namespace: meta.namespace ?? '', name: meta.name ?? meta.generateName ?? '', status: 'denied', known: true, allowed: false, warnings: [], causes: typeErrors.map(locate), suppressed: [] };
  }
  // what the API server refuses before calling a webhook, for every kind
  const refused: FieldError[] = [...checkObjectMeta(object), ...checkObjectSize(object)];
  // withNamespace filled in -n where the object named none: another namespace is the object's own, and
  // `kubectl apply -n` refuses an object whose namespace contradicts the flag
  const givenNamespace = object.metadata?.namespace;
  if (opts.namespace !== undefined && givenNamespace && givenNamespace !== opts.namespace && scopeOf(gvk) === 'Namespaced')
    refused.push({
      type: 'FieldValueInvalid',
      field: 'metadata.namespace',
      message: `Invalid value: ${JSON.stringify(givenNamespace)}: the namespace from the provided object does not match the namespace ${JSON.stringify(opts.namespace)} given with -n (kubectl apply -n ${opts.namespace} refuses it)`,
      rule: NAMESPACE_MISMATCH_RULE,
    });
  // The same object twice in one input: applied, the later one silently replaces the earlier.
  const first = ctx.duplicates.get(doc);
  if (first) {
    const id = identifyManifest(object);
    refused.push({
      type: 'FieldValueDuplicate',
      field: 'metadata.name',
      message: `Duplicate value: ${JSON.stringify(id.name)}: ${id.kind} ${id.namespace ? `${id.namespace}/` : ''}${id.name} is also at ${at(first)}; one input holds each object once (applied, the later one replaces the earlier)`,
      rule: DUPLICATE_RULE,
    });
  }
  const v = validate({ operation: 'CREATE', kind: gvk, object }, view, opts.mesh);
  const id = { namespace: v.target.namespace, name: v.target.label };
  const entry = findKind(gvk.group, gvk.kind);
  if (!v.known || !entry) {
    const causes = refused.map(locate);
    return { ...base, ...id, status: causes.length ? 'denied' : 'skipped', known: false, allowed: causes.length === 0, warnings: [], causes, suppressed: [] };
  }
  const unknown = unknownFields(object, entry);
  const webhookWarnings = [...v.warningDetails];
  // The mesh's Service rules run in monitored namespaces only: without the Namespace nothing was checked.
  if (!ctx.stateGiven && entry.kind === 'Service' && !view.get('Namespace', '', v.target.namespace))
    webhookWarnings.push({ field: 'metadata.namespace', message: `namespace ${v.target.namespace} is not known, so the mesh's Service checks did not run (they apply in monitored namespaces only)`, rule: NAMESPACE_UNKNOWN_RULE });
  let causes: FieldError[] = [...checkName(object), ...refused, ...(opts.strict ? unknown.map((w): FieldError => ({ type: 'FieldValueInvalid', field: w.field, message: w.message, rule: w.rule ?? '' })) : []), ...v.errors];
  let warnings: LocatedWarning[] = [...(opts.strict ? [] : unknown), ...webhookWarnings].map((w) => ({
    ...w,
    line: w.field ? doc.lineOf(w.field) : doc.line,
    text: formatWarning(w),
    ...(!ctx.stateGiven && (ABSENCE_RULES.has(w.rule ?? '') || w.rule === NAMESPACE_UNKNOWN_RULE) ? { unverified: true } : {}),
  }));
  // --suppress and the annotation: warnings, and denials of this command's own strictness; never a denial of the
  // webhook or the API server (the cluster would still refuse the object)
  const silenced = new Set([...(opts.suppress ?? []), ...annotatedSuppressions(object)]);
  const suppressed: SuppressedFinding[] = [];
  if (silenced.size > 0) {
    warnings = warnings.filter((w) => {
      if (!silenced.has(w.rule ?? '')) return true;
      ctx.used.add(w.rule ?? '');
      suppressed.push({ rule: w.rule ?? '', field: w.field, message: w.message, line: w.line });
      return false;
    });
    causes = causes.filter((c) => {
      if (!silenced.has(c.rule)) return true;
      ctx.used.add(c.rule);
      if (!OFFLINE_ONLY_DENIALS.has(c.rule)) {
        ctx.unsuppressible.add(c.rule);
        return true;
      }
      suppressed.push({ rule: c.rule, field: c.field, message: c.message, line: doc.lineOf(c.field) });
      return false;
    });
  }
  const allowed = causes.length === 0;
  return { ...base, ...id, status: allowed ? 'admitted' : 'denied', known: true, allowed, warnings, causes: causes.map(locate), suppressed };
}

/** Whether a warning fails a --strict run. */
export function failsStrict(w: Warning): boolean {
  return !INFORMATIONAL_RULES.has(w.rule ?? '');
}

export function summarize(results: readonly OfflineResult[], problems: readonly InputProblem[], skipped: readonly SkippedSource[] = []): Summary {
  const count = (s: Status): number => results.filter((r) => r.status === s).length;
  const sources = (k: SkippedSource['kind']): number => skipped.filter((s) => s.kind === k).length;
  return {
    objects: results.length,
    admitted: count('admitted'),
    denied: count('denied'),
    skipped: count('skipped'),
    withWarnings: results.filter((r) => r.warnings.length > 0).length,
    unverified: results.filter((r) => r.warnings.some((w) => w.unverified)).length,
    suppressed: results.reduce((n, r) => n + r.suppressed.length, 0),
    skippedSources: { noObjects: sources('no-objects'), kustomizations: sources('kustomization'), helmCharts: sources('helm-chart') },
    inputErrors: problems.length,
  };
}

/** For each later occurrence of an object (same group, kind, namespace and name), its first occurrence. */
function findDuplicates(docs: readonly InputDocument[]): Map<InputDocument, InputDocument> {
  const seen = new Map<string, InputDocument>();
  const out = new Map<InputDocument, InputDocument>();
  for (const d of docs) {
    const id = identifyManifest(d.object);
    if (!id.name) continue; // generateName: the API server makes each one unique
    const key = `${id.group}/${id.kind}/${id.namespace}/${id.name}`;
    const first = seen.get(key);
    if (first) out.set(d, first);
    else seen.set(key, d);
  }
  return out;
}

/**
 * Every given object judged, in input order. Empty input is an input error: a CI gate must not pass on nothing.
 * `state` and `opts.cluster` are the cluster's state; without either, absences are unverified.
 */
export function judgeOffline(given: Input, opts: OfflineOptions, state?: Input, sources: readonly string[] = []): OfflineReport {
  const placed = withNamespace(given.documents, opts.namespace);
  const view = offlineView(placed, state?.documents, opts.cluster);
  const ctx: JudgeContext = { opts, view, stateGiven: state !== undefined || opts.cluster !== undefined, duplicates: findDuplicates(placed), unsuppressible: new Set(), used: new Set() };
  const results = placed.map((d) => judge(d, ctx));
  const problems = [...(state?.problems ?? []), ...given.problems];
  const skipped = given.skipped ?? [];
  if (results.length === 0 && problems.length === 0) problems.push({ source: sources.join(', '), line: 0, message: 'no objects found in the input' });
  const notes = [
    ...[...ctx.unsuppressible].map((r) => `${r} denies at admission: the cluster would refuse the object, so it cannot be suppressed`),
    ...(opts.suppress ?? []).filter((r) => !ctx.used.has(r)).map((r) => `--suppress ${r}: no finding of that rule in this run`),
  ];
  return { results, problems, skipped, summary: summarize(results, problems, skipped), strict: opts.strict === true, notes };
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
