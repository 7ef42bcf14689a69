// Kubernetes label selectors (metav1.LabelSelector) evaluated the way the API server evaluates a webhook's
// namespaceSelector and objectSelector: an absent or empty selector matches everything, the terms are ANDed, `NotIn`
// and `DoesNotExist` match an object without the key. Used to tell which webhooks the API server calls for a pod of a
// given namespace.
import { isRecord } from './objects.js';

/**
 * Whether `selector` selects an object carrying `labels`. A selector the API server could not have stored (an unknown
 * operator, `In` without values) matches nothing: it says nothing certain, and the callers report only what is.
 */
export function selectorMatches(selector: unknown, labels: Readonly<Record<string, unknown>> | undefined): boolean {
  if (selector === undefined || selector === null) return true;
  if (!isRecord(selector)) return false;
  const own = labels ?? {};
  const value = (key: string): string | undefined => (typeof own[key] === 'string' ? (own[key] as string) : undefined);
  const matchLabels = selector.matchLabels;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isRecord(matchLabels)) return false;
    for (const [k, v] of Object.entries(matchLabels)) if (value(k) !== v) return false;
  }
  const expressions = selector.matchExpressions;
  if (expressions === undefined || expressions === null) return true;
  if (!Array.isArray(expressions)) return false;
  for (const e of expressions) {
    if (!isRecord(e) || typeof e.key !== 'string') return false;
    const values = Array.isArray(e.values) ? e.values.filter((v): v is string => typeof v === 'string') : [];
    const has = value(e.key);
    switch (e.operator) {
      case 'In':
        if (values.length === 0 || has === undefined || !values.includes(has)) return false;
        break;
      case 'NotIn':
        if (values.length === 0 || (has !== undefined && values.includes(has))) return false;
        break;
      case 'Exists':
        if (has === undefined) return false;
        break;
      case 'DoesNotExist':
        if (has !== undefined) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
