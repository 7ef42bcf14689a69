// The validator's entry point: one object in, a verdict out. Pure and synchronous.
import { type GroupVersionKind, type KubeObject, isRecord } from '../mesh/objects.js';
import type { ValidationContext } from './context.js';
import { type FieldError, Findings, formatWarning } from './findings.js';
import { findKind } from './kinds.js';

export interface Verdict {
  readonly allowed: boolean;
  /** false when the webhook does not know the kind (allowed with a warning) */
  readonly known: boolean;
  readonly errors: readonly FieldError[];
  /** formatted, one line each, under 256 characters */
  readonly warnings: readonly string[];
}

export function validateObject(obj: KubeObject, gvk: GroupVersionKind, ctx: ValidationContext): Verdict {
  const entry = findKind(gvk.group, gvk.kind);
  if (!entry) {
    const what = gvk.group ? `${gvk.kind}.${gvk.group}` : gvk.kind || '(no kind)';
    return { allowed: true, known: false, errors: [], warnings: [`${what} is not a kind this webhook validates; admitted without checks`] };
  }
  const out = new Findings();
  // A body that is not an object cannot be checked field by field: one clear cause instead of a crash.
  if (!isRecord(obj)) out.invalid('', obj, 'must be a Kubernetes object', 'object-shape');
  else entry.validate(obj, ctx, out);
  const warnings = out.warnings.map(formatWarning);
  if (entry.warningsOnly) {
    return { allowed: true, known: true, errors: [], warnings: [...out.errors.map((e) => formatWarning({ field: e.field, message: e.message })), ...warnings] };
  }
  return { allowed: out.errors.length === 0, known: true, errors: out.errors, warnings };
}
