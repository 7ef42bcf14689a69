// Errors are data: every check appends a FieldError (or a warning) here; the admission layer and the CLI format them
// once. Message shapes follow Kubernetes' field.Error so kubectl users read the same words as for built-in objects.

export type CauseType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden';

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
}

/** Renders a value the way Kubernetes' field errors do: strings quoted, numbers bare, the rest as JSON. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : String(value);
  if (value === undefined) return 'null';
  try {
    const s = JSON.stringify(value);
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    return String(value);
  }
}

export class Findings {
  readonly errors: FieldError[] = [];
  readonly warnings: Warning[] = [];

  /** `Invalid value: <v>: <detail>` */
  invalid(field: string, value: unknown, detail: string, rule: string): void {
    this.errors.push({ type: 'FieldValueInvalid', field, message: `Invalid value: ${formatValue(value)}: ${detail}`, rule });
  }

  /** `Required value` or `Required value: <detail>` */
  required(field: string, rule: string, detail?: string): void {
    this.errors.push({ type: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value', rule });
  }

  /** `Unsupported value: <v>: supported values: "a", "b"` */
  notSupported(field: string, value: unknown, supported: readonly string[], rule: string): void {
    const list = supported.map((s) => JSON.stringify(s)).join(', ');
    this.errors.push({
      type: 'FieldValueNotSupported',
      field,
      message: `Unsupported value: ${formatValue(value)}: supported values: ${list}`,
      rule,
    });
  }

  /** `Duplicate value: <v>` with an optional explanation */
  duplicate(field: string, value: unknown, rule: string, detail?: string): void {
    const base = `Duplicate value: ${formatValue(value)}`;
    this.errors.push({ type: 'FieldValueDuplicate', field, message: detail ? `${base}: ${detail}` : base, rule });
  }

  /** `Forbidden: <detail>` */
  forbidden(field: string, detail: string, rule: string): void {
    this.errors.push({ type: 'FieldValueForbidden', field, message: `Forbidden: ${detail}`, rule });
  }

  /** A denial whose message is a sentence of its own, e.g. a conflict with another object (names that object). */
  conflict(field: string, message: string, rule: string): void {
    this.errors.push({ type: 'FieldValueInvalid', field, message, rule });
  }

  warn(field: string, message: string): void {
    this.warnings.push({ field, message });
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }
}

export const MAX_WARNING_LENGTH = 255;

/** One line per warning, prefixed with the field, under 256 characters (the API server's limit is per warning). */
export function formatWarning(w: Warning): string {
  const line = (w.field ? `${w.field}: ${w.message}` : w.message).replace(/[\r\n]+/g, ' ');
  return line.length > MAX_WARNING_LENGTH ? `${line.slice(0, MAX_WARNING_LENGTH - 3)}...` : line;
}

/** `<field>: <message>`, the line kubectl prints for a cause. */
export function formatCause(e: FieldError): string {
  return e.field ? `${e.field}: ${e.message}` : e.message;
}

/** `<Kind> "<name>" is invalid: <cause>; <cause>` — status.message of a 422 denial. */
export function formatInvalidMessage(kind: string, name: string, errors: readonly FieldError[]): string {
  return `${kind} "${name}" is invalid: ${errors.map(formatCause).join('; ')}`;
}
