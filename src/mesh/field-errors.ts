// Errors are data: a check produces FieldErrors (and warnings) with a Kubernetes field path; the admission answer, the
// CLI and the audit format them here, once. Message shapes follow Kubernetes' field.Error, so kubectl users read the
// same words as for built-in objects.

export type CauseType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong';

export interface FieldError {
  readonly type: CauseType;
  /** Kubernetes field path, e.g. `spec.targets[1].clusterKey` */
  readonly field: string;
  /** the cause message as kubectl prints it after `<field>: ` — it must stand on its own */
  readonly message: string;
  /** short rule id, the `rule` label of mesh_validation_denials_total */
  readonly rule: string;
}

export interface Warning {
  readonly field: string;
  readonly message: string;
  /** short rule id, as for errors */
  readonly rule?: string;
}

/** The API server refuses a warning of 256 characters or more. */
export const MAX_WARNING_LENGTH = 255;

/** One line, at most `max` characters (an ellipsis marks a cut). */
export function oneLine(text: string, max = MAX_WARNING_LENGTH): string {
  const line = text.replace(/[\r\n]+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** One line per warning, prefixed with the field, under 256 characters. */
export function formatWarning(w: Warning): string {
  return oneLine(w.field ? `${w.field}: ${w.message}` : w.message);
}

/** `<field>: <message>`, the line kubectl prints for a cause. */
export function formatCause(e: FieldError): string {
  return e.field ? `${e.field}: ${e.message}` : e.message;
}

/** `<Kind> "<name>" is invalid: <cause>; <cause>` — status.message of a 422 denial. */
export function formatInvalidMessage(kind: string, name: string, errors: readonly FieldError[]): string {
  return `${kind} "${name}" is invalid: ${errors.map(formatCause).join('; ')}`;
}
