// Retry: retry policy for traffic from one ServiceAccount to listed Services. The mesh lists the Retry objects whose
// source is the proxy's ServiceAccount (any namespace) and, per upstream Service, uses the first that names it.
import { isRecord, nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import { asArray, byRef, checkArray, checkDns1123Label, checkDns1123Subdomain, checkIntRange, checkRequiredString } from './checks.js';
import { RETRY_BY_SOURCE } from './indexes.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { checkPositiveDuration } from './upstream.js';

const MAX_INT32 = 2147483647;

/** Checks `{kind, name, namespace}` against the one kind the mesh matches; returns `<ns>/<name>` when usable. */
function checkRef(out: Findings, field: string, v: unknown, kind: 'ServiceAccount' | 'Service', why: string): string | undefined {
  // The source or destination the Retry applies to: without one it applies to no traffic.
  if (!isRecord(v)) {
    if (v === undefined || v === null) out.required(field, 'retry-ref');
    else out.invalid(field, v, 'must be an object with kind, name and namespace', 'retry-ref');
    return undefined;
  }
  let ok = true;
  // The mesh matches one kind here (`why` says which and why): any other kind applies to nothing.
  if (v.kind === undefined || v.kind === null || v.kind === '') {
    out.required(`${field}.kind`, 'retry-ref', `must be ${kind}`);
    ok = false;
  } else if (v.kind !== kind) {
    out.invalid(`${field}.kind`, v.kind, `must be ${kind}: ${why}`, 'retry-ref');
    ok = false;
  }
  // Names are compared with the ServiceAccount / Service of the proxy: any other spelling never matches.
  const checkName = kind === 'ServiceAccount' ? checkDns1123Subdomain : checkDns1123Label;
  ok = checkRequiredString(out, `${field}.name`, v.name, 'retry-ref') && checkName(out, `${field}.name`, v.name, 'retry-ref') && ok;
  ok = checkRequiredString(out, `${field}.namespace`, v.namespace, 'retry-ref') && checkDns1123Label(out, `${field}.namespace`, v.namespace, 'retry-ref') && ok;
  return ok ? `${v.namespace as string}/${v.name as string}` : undefined;
}

function checkRetryPolicy(out: Findings, v: unknown): void {
  if (!isRecord(v)) {
    if (v === undefined || v === null) out.required('spec.retryPolicy', 'retry-policy');
    else out.invalid('spec.retryPolicy', v, 'must be an object with retryOn, perTryTimeout, numRetries and retryBackoffBaseInterval', 'retry-policy');
    return;
  }
  // Without conditions nothing is ever retried (the one field both CRDs require).
  if (checkRequiredString(out, 'spec.retryPolicy.retryOn', v.retryOn, 'retry-policy') && v.retryOn.trim() === '')
    out.invalid('spec.retryPolicy.retryOn', v.retryOn, 'must list retry conditions such as 5xx or connect-failure, separated by commas', 'retry-policy');
  // Go's duration parser rejects the policy otherwise; a zero per-try timeout fails each try at once, and Envoy
  // NACKs a zero backoff base interval.
  checkPositiveDuration(out, 'spec.retryPolicy.perTryTimeout', v.perTryTimeout, 'retry-policy');
  checkPositiveDuration(out, 'spec.retryPolicy.retryBackoffBaseInterval', v.retryBackoffBaseInterval, 'retry-policy');
  // A negative or fractional count does not decode (int32 in the CRD).
  if (v.numRetries !== undefined && v.numRetries !== null) checkIntRange(out, 'spec.retryPolicy.numRetries', v.numRetries, 0, MAX_INT32, 'retry-policy');
}

/** `<ns>/<name>` of every well-formed Service destination of another Retry whose source is `source`. */
function destinationsOf(other: KubeObject, source: string): Set<string> {
  const refs = new Set<string>();
  const spec = other.spec;
  if (!isRecord(spec) || !isRecord(spec.source) || spec.source.kind !== 'ServiceAccount') return refs;
  if (`${String(spec.source.namespace)}/${String(spec.source.name)}` !== source) return refs;
  for (const d of asArray(spec.destinations))
    if (isRecord(d) && d.kind === 'Service' && typeof d.name === 'string' && typeof d.namespace === 'string') refs.add(`${d.namespace}/${d.name}`);
  return refs;
}

export function validateRetry(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  const spec = obj.spec;
  if (!isRecord(spec)) {
    out.required('spec', 'retry-ref');
    return;
  }
  const source = checkRef(out, 'spec.source', spec.source, 'ServiceAccount',
    'the mesh only matches Retry sources of kind ServiceAccount, so this policy would never apply');
  const destinations: Array<{ field: string; ref: string }> = [];
  if (checkArray(out, 'spec.destinations', spec.destinations, 'retry-ref', { required: true, minItems: 1 }))
    spec.destinations.forEach((d, i) => {
      const field = `spec.destinations[${i}]`;
      const ref = checkRef(out, field, d, 'Service', 'the mesh skips other kinds with the log line "Retry policy destinations must be a service"');
      if (ref) destinations.push({ field, ref });
    });
  checkRetryPolicy(out, spec.retryPolicy);
  if (!source) return;
  // Only the first Retry found for (source, destination) applies, and the listing order is undefined.
  const others = ctx.candidates(RETRY_BY_SOURCE, [source]).sort(byRef);
  for (const { field, ref } of destinations)
    for (const other of others)
      if (destinationsOf(other, source).has(ref))
        out.warn(field, `Retry ${namespaceOf(other)}/${nameOf(other)} also covers ServiceAccount ${source} to Service ${ref}; the mesh applies only one of them, chosen arbitrarily`, 'retry-overlap');
}
