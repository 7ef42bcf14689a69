// Field checks shared by every kind family: numbers, ports, names, CIDRs, label selectors. Each returns whether the
// value passed, so a caller can skip dependent checks on a value that is already reported.
import { parseCidr } from '../mesh/cidr.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import type { Findings } from './findings.js';

export function isInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/**
 * The object's spec as a map, or undefined after one cause saying why its fields cannot be checked: a spec that is
 * not an object, or (for kinds that are all spec) a missing one. An absent optional spec reads as empty.
 */
export function specOf(obj: KubeObject, out: Findings, opts: { rule: string; required?: boolean }): Record<string, unknown> | undefined {
  const spec = obj.spec;
  if (isRecord(spec)) return spec;
  if (spec === undefined || spec === null) {
    if (!opts.required) return {};
    out.required('spec', opts.rule);
    return undefined;
  }
  out.invalid('spec', spec, 'must be an object', opts.rule);
  return undefined;
}

/** Orders objects by `<namespace>/<name>`, so that messages naming several do not depend on listing order. */
export function byRef(a: KubeObject, b: KubeObject): number {
  const ra = `${a.metadata?.namespace ?? ''}/${a.metadata?.name ?? ''}`;
  const rb = `${b.metadata?.namespace ?? ''}/${b.metadata?.name ?? ''}`;
  return ra < rb ? -1 : ra > rb ? 1 : 0;
}

export function asRecord(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

/** Integer in [min, max]; a fraction, NaN, Infinity or a string is a wrong value, not a number to round. */
export function checkIntRange(out: Findings, field: string, v: unknown, min: number, max: number, rule: string): boolean {
  if (isInteger(v) && v >= min && v <= max) return true;
  out.invalid(field, v, `must be an integer between ${min} and ${max}`, rule);
  return false;
}

/** A TCP/UDP port number: 0 means "unset" to the proxy and silently drops the entry, so it is rejected. */
export function checkPort(out: Findings, field: string, v: unknown, rule: string): v is number {
  return checkIntRange(out, field, v, 1, 65535, rule);
}

export function checkRequiredString(out: Findings, field: string, v: unknown, rule: string): v is string {
  if (typeof v === 'string' && v.length > 0) return true;
  if (v === undefined || v === null || v === '') out.required(field, rule);
  else out.invalid(field, v, 'must be a string', rule);
  return false;
}

export function checkArray(out: Findings, field: string, v: unknown, rule: string, opts: { required?: boolean; minItems?: number } = {}): v is unknown[] {
  if (v === undefined || v === null) {
    if (opts.required) out.required(field, rule);
    return false;
  }
  if (!Array.isArray(v)) {
    out.invalid(field, v, 'must be a list', rule);
    return false;
  }
  if (opts.minItems !== undefined && v.length < opts.minItems) {
    out.required(field, rule, `must have at least ${opts.minItems} item${opts.minItems === 1 ? '' : 's'}`);
    return false;
  }
  return true;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

export const DNS_LABEL_RULE_TEXT = 'must be a lowercase RFC 1123 label (a-z, 0-9 and \'-\', starting and ending with an alphanumeric character, at most 63 characters)';
export const DNS_SUBDOMAIN_RULE_TEXT = 'must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and \'-\', at most 253 characters)';

export function checkDns1123Label(out: Findings, field: string, v: unknown, rule: string): boolean {
  if (typeof v === 'string' && isDns1123Label(v)) return true;
  out.invalid(field, v, DNS_LABEL_RULE_TEXT, rule);
  return false;
}

export function checkDns1123Subdomain(out: Findings, field: string, v: unknown, rule: string): boolean {
  if (typeof v === 'string' && isDns1123Subdomain(v)) return true;
  out.invalid(field, v, DNS_SUBDOMAIN_RULE_TEXT, rule);
  return false;
}

export const CIDR_RULE_TEXT = 'must be a CIDR such as 10.0.0.0/8 or fd00::/8 (valid address, prefix length 0-32 for IPv4, 0-128 for IPv6)';

export function checkCidr(out: Findings, field: string, v: unknown, rule: string): boolean {
  if (typeof v === 'string' && parseCidr(v)) return true;
  out.invalid(field, v, CIDR_RULE_TEXT, rule);
  return false;
}

// Label keys and values, as Kubernetes defines them (apimachinery validation).
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function isQualifiedName(s: string): boolean {
  const parts = s.split('/');
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1] ?? '';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME_PART.test(name)) return false;
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    return prefix.length > 0 && isDns1123Subdomain(prefix);
  }
  return true;
}

export function isLabelValue(s: string): boolean {
  return s === '' || (s.length <= 63 && QUALIFIED_NAME_PART.test(s));
}

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/**
 * metav1.LabelSelector semantics. The mesh converts selectors with LabelSelectorAsSelector and drops the whole
 * object on error, so a selector that fails here would otherwise be silently ignored at runtime.
 */
export function checkLabelSelector(out: Findings, field: string, sel: unknown, rule: string): void {
  if (sel === undefined || sel === null) return;
  if (!isRecord(sel)) {
    out.invalid(field, sel, 'must be a label selector (matchLabels and/or matchExpressions)', rule);
    return;
  }
  const labels = sel.matchLabels;
  if (labels !== undefined && labels !== null) {
    if (!isRecord(labels)) out.invalid(`${field}.matchLabels`, labels, 'must be a map of label keys to values', rule);
    else
      for (const [k, v] of Object.entries(labels)) {
        if (!isQualifiedName(k)) out.invalid(`${field}.matchLabels`, k, 'label key must be a qualified name ([prefix/]name, name at most 63 characters of alphanumerics, \'-\', \'_\' or \'.\')', rule);
        if (typeof v !== 'string' || !isLabelValue(v)) out.invalid(`${field}.matchLabels.${k}`, v, 'label value must be at most 63 characters of alphanumerics, \'-\', \'_\' or \'.\', starting and ending with an alphanumeric', rule);
      }
  }
  const exprs = sel.matchExpressions;
  if (exprs === undefined || exprs === null) return;
  if (!Array.isArray(exprs)) {
    out.invalid(`${field}.matchExpressions`, exprs, 'must be a list', rule);
    return;
  }
  exprs.forEach((e, i) => {
    const p = `${field}.matchExpressions[${i}]`;
    const expr = asRecord(e);
    if (typeof expr.key !== 'string' || !isQualifiedName(expr.key)) out.invalid(`${p}.key`, expr.key, 'must be a qualified label key', rule);
    const op = expr.operator;
    if (typeof op !== 'string' || !(SELECTOR_OPERATORS as readonly string[]).includes(op)) {
      out.notSupported(`${p}.operator`, op, SELECTOR_OPERATORS, rule);
      return;
    }
    const values = expr.values === undefined || expr.values === null ? [] : expr.values;
    if (!Array.isArray(values)) {
      out.invalid(`${p}.values`, values, 'must be a list of strings', rule);
      return;
    }
    if ((op === 'In' || op === 'NotIn') && values.length === 0)
      out.required(`${p}.values`, rule, `must be specified when operator is ${op}`);
    if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0)
      out.forbidden(`${p}.values`, `may not be specified when operator is ${op}`, rule);
    values.forEach((v, j) => {
      if (typeof v !== 'string' || !isLabelValue(v)) out.invalid(`${p}.values[${j}]`, v, 'must be a valid label value', rule);
    });
  });
}

/** Reports every value seen twice in `items` (by `keyOf`) as a FieldValueDuplicate at its second position. */
export function checkUnique<T>(out: Findings, items: readonly T[], keyOf: (t: T, i: number) => string | undefined, fieldOf: (i: number) => string, valueOf: (t: T) => unknown, rule: string, detail?: string): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const key = keyOf(item, i);
    if (key === undefined) return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else out.duplicate(fieldOf(i), valueOf(item), rule, detail ?? `also at ${fieldOf(first)}`);
  });
}
