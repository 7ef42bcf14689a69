// What a kind validator writes into: every check appends a FieldError (or a warning) with the Kubernetes message
// shape; mesh/field-errors.ts formats them.
import type { FieldError, Warning } from '../mesh/field-errors.js';

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

  /** A problem worth saying that does not deny: `rule` names it (audit metrics, machine output). */
  warn(field: string, message: string, rule: string): void {
    this.warnings.push({ field, message, rule });
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }
}
