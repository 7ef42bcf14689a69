// The validator's one entry point, shared by the validating webhook, the offline CLI, the audit and the tests: an
// admission request (operation, kind, object, old object) and a view of the cluster in, a verdict out. Pure and
// synchronous. Where the object lives (scope, the request's namespace, kubectl's `default`) is decided here, once.
import type { MeshIdentity } from '../mesh/flavor.js';
import { type FieldError, formatWarning, type Warning } from '../mesh/field-errors.js';
import { findKind, identify, placed, type ObjectIdentity } from '../mesh/kinds.js';
import { type GroupVersionKind, type KubeObject, isRecord } from '../mesh/objects.js';
import type { ClusterView } from '../cluster/view.js';
import { ValidationContext } from './context.js';
import { Findings } from './findings.js';
import { REFERENCE_CHECKS } from './references.js';
import { VALIDATORS } from './registry.js';

export interface ValidationRequest {
  /** CREATE, UPDATE, DELETE or CONNECT, as in the AdmissionReview */
  readonly operation: string;
  /** request.kind (the group and kind the object was sent as) */
  readonly kind: Pick<GroupVersionKind, 'group' | 'kind'>;
  readonly object: KubeObject;
  /** the stored version, on UPDATE (and DELETE) */
  readonly oldObject?: KubeObject | null;
  /** request.namespace: the API server may leave metadata.namespace out */
  readonly namespace?: string;
  /** request.name */
  readonly name?: string;
}

export interface Verdict {
  readonly allowed: boolean;
  /** false when the webhook does not know the kind (allowed with a warning) */
  readonly known: boolean;
  readonly errors: readonly FieldError[];
  /** formatted, one line each, under 256 characters */
  readonly warnings: readonly string[];
  /** the same warnings as data (field, message, rule), in the same order */
  readonly warningDetails: readonly Warning[];
  /** the object as judged: kind, group, namespace ('' when cluster-scoped), name */
  readonly target: ObjectIdentity;
  /** set when nothing was checked, and why (an operation that brings no new version) */
  readonly skipped?: string;
}

/** Operations that bring a new version to check; DELETE and CONNECT carry nothing to validate. */
const CHECKED_OPERATIONS = new Set(['CREATE', 'UPDATE']);

const allowedWith = (target: ObjectIdentity, details: readonly Warning[]): Verdict => ({ allowed: true, known: true, errors: [], warnings: details.map(formatWarning), warningDetails: details, target });

export function validate(req: ValidationRequest, view: ClusterView, mesh: MeshIdentity): Verdict {
  const target = identify(req.object, req.kind, req);
  const entry = findKind(req.kind.group, req.kind.kind);
  // A kind the table does not know (a configuration wider than this version) is admitted, never denied or crashed on,
  // with a warning that nothing was checked.
  if (!entry) {
    const what = req.kind.group ? `${req.kind.kind}.${req.kind.group}` : req.kind.kind || '(no kind)';
    const warning = { field: '', message: `${what} is not a kind this webhook validates; admitted without checks`, rule: 'unknown-kind' };
    return { allowed: true, known: false, errors: [], warnings: [warning.message], warningDetails: [warning], target };
  }
  const self = { kind: target.kind, namespace: target.namespace, name: target.name || target.label };
  const references = entry.referenced ? REFERENCE_CHECKS[entry.kind] : undefined;
  if (req.operation === 'DELETE' && references) {
    // A deletion is never denied; who still refers to the object is told in warnings. (On DELETE the handler hands
    // over the stored object, request.oldObject.)
    const gone = placed(req.oldObject ?? req.object, target);
    return allowedWith(target, isRecord(gone) ? references(gone, undefined, new ValidationContext(mesh, view, self, req.operation)) : []);
  }
  if (!CHECKED_OPERATIONS.has(req.operation))
    return { allowed: true, known: true, errors: [], warnings: [], warningDetails: [], target, skipped: `operation ${req.operation || '(none)'} is not validated` };
  const obj = placed(req.object, target);
  const old = req.oldObject ? placed(req.oldObject, target) : undefined;
  const ctx = new ValidationContext(mesh, view, self, req.operation, old);
  const out = new Findings();
  // A body that is not an object cannot be checked field by field: one clear cause instead of a crash.
  if (!isRecord(obj)) out.invalid('', obj, 'must be a Kubernetes object', 'object-shape');
  else {
    VALIDATORS[entry.kind]?.(obj, ctx, out);
    // What the update takes away from the objects that refer to this one (a removed port, a changed cluster key).
    if (references && req.operation === 'UPDATE' && old && isRecord(old)) out.warnings.push(...references(old, obj, ctx));
  }
  if (entry.warningsOnly) return allowedWith(target, [...out.errors.map((e) => ({ field: e.field, message: e.message, rule: e.rule })), ...out.warnings]);
  return { allowed: out.errors.length === 0, known: true, errors: out.errors, warnings: out.warnings.map(formatWarning), warningDetails: out.warnings, target };
}
