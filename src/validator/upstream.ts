// UpstreamTrafficSetting: connection limits, circuit breaking and local rate limits for traffic to one upstream host.
// The mesh finds the setting for a Service by comparing `spec.host` with that Service's names, in the Service's own
// namespace, and takes the first match; Egress policies reference a setting by name instead. Every numeric and
// duration field ends up in sidecar configuration, where a bad value is either NACKed (Envoy) or silently nonsense.
import { isRecord, nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import { asArray, byRef, checkArray, checkIntRange, checkRequiredString, checkUnique, isDns1123Subdomain, isInteger } from './checks.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { EGRESS_BY_MATCH, UPSTREAM_BY_HOST } from './indexes.js';
import { MESH_HOST_FORMS, parseHost } from './upstream-host.js';

/** The CRDs declare every counter as int32. */
const MAX_INT32 = 2147483647;

// ---------------------------------------------------------------------------------------------------------------
// Go durations (time.ParseDuration), shared with the Retry validator: the controller decodes these strings with Go's
// parser and drops the whole policy on an error.

const DURATION_UNIT_NS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
/** Go rejects durations beyond int64 nanoseconds (about 292 years). */
const MAX_DURATION_NS = 9223372036854775807;

/** Nanoseconds of a Go duration string such as `1m30s`, or undefined when Go's time.ParseDuration would fail. */
export function parseGoDuration(s: string): number | undefined {
  const sign = s.startsWith('-') ? -1 : 1;
  const body = s.startsWith('-') || s.startsWith('+') ? s.slice(1) : s;
  if (body === '0') return 0;
  if (body === '') return undefined;
  let total = 0;
  let pos = 0;
  while (pos < body.length) {
    DURATION_PART.lastIndex = pos;
    const part = DURATION_PART.exec(body);
    const unit = part ? DURATION_UNIT_NS[part[2] ?? ''] : undefined;
    if (!part || unit === undefined) return undefined;
    total += Number(part[1]) * unit;
    pos = DURATION_PART.lastIndex;
  }
  return total > MAX_DURATION_NS ? undefined : sign * total;
}

export const DURATION_RULE_TEXT = 'must be a duration such as 5s, 1m30s or 500ms (numbers with a unit: ns, us, ms, s, m, h)';

/** An optional (unless `required`) Go duration string that must be greater than zero. */
export function checkPositiveDuration(out: Findings, field: string, v: unknown, rule: string, required = false): void {
  if (v === undefined || v === null) {
    if (required) out.required(field, rule, DURATION_RULE_TEXT);
    return;
  }
  const ns = typeof v === 'string' ? parseGoDuration(v) : undefined;
  if (ns === undefined) out.invalid(field, v, DURATION_RULE_TEXT, rule);
  else if (ns <= 0) out.invalid(field, v, 'must be a duration greater than 0', rule);
}

// ---------------------------------------------------------------------------------------------------------------
// Status codes

/**
 * Envoy's `envoy.type.v3.StatusCode` enum (the Go validator's list): a local rate limit status outside it is NACKed.
 * 0 is the enum's "Empty" placeholder.
 *
 * | range | codes in the enum |
 * |---|---|
 * | 0 | 0 (Empty) |
 * | 1xx | 100 |
 * | 2xx | 200-208, 226 |
 * | 3xx | 300-305, 307, 308 |
 * | 4xx | 400-417, 421-424, 426, 428, 429, 431 |
 * | 5xx | 500-508, 510, 511 |
 */
const ENVOY_STATUS_CODES: readonly number[] = [
  0, 100,
  200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
  300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
  421, 422, 423, 424, 426, 428, 429, 431,
  500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/** The edge CRD's range for a rate-limited response: a 2xx or 3xx would tell clients their request succeeded. */
const RATE_LIMIT_STATUS_MIN = 400;
const RATE_LIMIT_STATUS_MAX = 599;

/** Both constraints at once: codes of the Envoy enum inside the CRD's 400-599. */
const RATE_LIMIT_STATUS_CODES: ReadonlySet<number> = new Set(
  ENVOY_STATUS_CODES.filter((c) => c >= RATE_LIMIT_STATUS_MIN && c <= RATE_LIMIT_STATUS_MAX),
);

/** `400-417, 421-424, ...` for the message, derived from the table so the two cannot drift apart. */
function describeCodes(codes: readonly number[]): string {
  const runs: Array<[number, number]> = [];
  for (const c of codes) {
    const last = runs[runs.length - 1];
    if (last && c === last[1] + 1) last[1] = c;
    else runs.push([c, c]);
  }
  // Two neighbours read better as a list than as a range.
  return runs.map(([a, b]) => (a === b ? `${a}` : b === a + 1 ? `${a}, ${b}` : `${a}-${b}`)).join(', ');
}

const RATE_LIMIT_STATUS_TEXT = `must be a 4xx or 5xx code of Envoy's StatusCode enum (${describeCodes([...RATE_LIMIT_STATUS_CODES])}); see https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/v3/http_status.proto#enum-type-v3-statuscode`;

function checkRateLimitStatus(out: Findings, field: string, v: unknown): void {
  if (v === undefined || v === null) return;
  if (isInteger(v) && RATE_LIMIT_STATUS_CODES.has(v)) return;
  // Envoy NACKs a local rate limit status outside its StatusCode enum, and with it the proxy's configuration.
  out.invalid(field, v, `Invalid responseStatusCode ${typeof v === 'number' ? String(v) : JSON.stringify(v)}: ${RATE_LIMIT_STATUS_TEXT}`, 'uts-status-code');
}

// ---------------------------------------------------------------------------------------------------------------
// Field helpers

const RATE_LIMIT_UNITS = ['second', 'minute', 'hour'] as const;
/** RFC 9110 token: the characters a header name may have (Envoy rejects the rest). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A nested object: absent is fine, anything else than an object is reported. */
function section(out: Findings, field: string, v: unknown, rule: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (isRecord(v)) return v;
  out.invalid(field, v, 'must be an object', rule);
  return undefined;
}

/** Limits and thresholds are counts: negative or fractional values are not counts (the CRD type is int32). */
function checkCount(out: Findings, field: string, v: unknown, rule: string): void {
  if (v !== undefined && v !== null) checkIntRange(out, field, v, 0, MAX_INT32, rule);
}

/** A limit of 0 requests or connections per unit blocks all traffic: the edge CRD requires at least 1. */
function checkRequiredRate(out: Findings, field: string, v: unknown, rule: string): void {
  if (v === undefined || v === null) out.required(field, rule);
  else checkIntRange(out, field, v, 1, MAX_INT32, rule);
}

function checkUnit(out: Findings, field: string, v: unknown): void {
  // Any other unit leaves the token bucket without a fill interval.
  if (v === undefined || v === null || v === '') out.required(field, 'uts-rate-limit', 'must be one of second, minute, hour');
  else if (typeof v !== 'string' || !(RATE_LIMIT_UNITS as readonly string[]).includes(v)) out.notSupported(field, v, RATE_LIMIT_UNITS, 'uts-rate-limit');
}

/** A ratio above 1 (or below 0) is never reached, so the breaker it configures never opens. */
function checkRatio(out: Findings, field: string, v: unknown, rule: string): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1) return;
  out.invalid(field, v, 'must be a number between 0 and 1', rule);
}

function checkHeaders(out: Findings, field: string, v: unknown): void {
  if (!checkArray(out, field, v, 'uts-rate-limit')) return;
  v.forEach((h, i) => {
    const f = `${field}[${i}]`;
    if (!isRecord(h)) {
      out.invalid(f, h, 'must be an object with name and value', 'uts-rate-limit');
      return;
    }
    // Envoy NACKs a header name that is not an HTTP token, taking the whole route configuration down with it.
    if (checkRequiredString(out, `${f}.name`, h.name, 'uts-rate-limit') && !HEADER_NAME.test(h.name))
      out.invalid(`${f}.name`, h.name, 'must be an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~)', 'uts-rate-limit');
    // CR, LF or NUL in a value would split or truncate the response header.
    if (checkRequiredString(out, `${f}.value`, h.value, 'uts-rate-limit') && /[\r\n\0]/.test(h.value))
      out.invalid(`${f}.value`, h.value, 'must not contain CR, LF or NUL characters', 'uts-rate-limit');
  });
}

/** HTTP local rate limit, the shape of both `rateLimit.local.http` and `httpRoutes[].rateLimit.local`. */
function checkHttpRateLimit(out: Findings, field: string, v: unknown): void {
  // A rate limit that is not an object carries no limit.
  const rl = section(out, field, v, 'uts-rate-limit');
  if (!rl) return;
  // A rate of 0 per unit blocks all traffic; a negative or fractional burst is not a count.
  checkRequiredRate(out, `${field}.requests`, rl.requests, 'uts-rate-limit');
  checkUnit(out, `${field}.unit`, rl.unit);
  checkCount(out, `${field}.burst`, rl.burst, 'uts-rate-limit');
  checkRateLimitStatus(out, `${field}.responseStatusCode`, rl.responseStatusCode);
  checkHeaders(out, `${field}.responseHeadersToAdd`, rl.responseHeadersToAdd);
}

function checkTcpRateLimit(out: Findings, field: string, v: unknown): void {
  // A rate limit that is not an object carries no limit.
  const rl = section(out, field, v, 'uts-rate-limit');
  if (!rl) return;
  // A rate of 0 per unit blocks all traffic; a negative or fractional burst is not a count.
  checkRequiredRate(out, `${field}.connections`, rl.connections, 'uts-rate-limit');
  checkUnit(out, `${field}.unit`, rl.unit);
  checkCount(out, `${field}.burst`, rl.burst, 'uts-rate-limit');
}

function checkConnectionSettings(out: Findings, v: unknown): void {
  const cs = section(out, 'spec.connectionSettings', v, 'uts-connection');
  if (!cs) return;
  const tcp = section(out, 'spec.connectionSettings.tcp', cs.tcp, 'uts-connection');
  if (tcp) {
    checkCount(out, 'spec.connectionSettings.tcp.maxConnections', tcp.maxConnections, 'uts-connection');
    // Envoy requires connect_timeout > 0 and NACKs the cluster otherwise.
    checkPositiveDuration(out, 'spec.connectionSettings.tcp.connectTimeout', tcp.connectTimeout, 'uts-connection');
  }
  const http = section(out, 'spec.connectionSettings.http', cs.http, 'uts-connection');
  if (!http) return;
  for (const k of ['maxRequests', 'maxRequestsPerConnection', 'maxPendingRequests', 'maxRetries'] as const)
    checkCount(out, `spec.connectionSettings.http.${k}`, http[k], 'uts-connection');
  checkCircuitBreaking(out, 'spec.connectionSettings.http.circuitBreaking', http.circuitBreaking);
}

function checkCircuitBreaking(out: Findings, field: string, v: unknown): void {
  const cb = section(out, field, v, 'uts-circuit-breaking');
  if (!cb) return;
  // A zero or missing window means the breaker never collects statistics or never recovers (both CRD-required).
  checkPositiveDuration(out, `${field}.statTimeWindow`, cb.statTimeWindow, 'uts-circuit-breaking', true);
  checkPositiveDuration(out, `${field}.degradedTimeWindow`, cb.degradedTimeWindow, 'uts-circuit-breaking', true);
  // A zero slow threshold counts every request as slow and trips the breaker on healthy traffic.
  checkPositiveDuration(out, `${field}.slowTimeThreshold`, cb.slowTimeThreshold, 'uts-circuit-breaking');
  // minRequestAmount 0 would let a single failure open the breaker (edge CRD: at least 1; FSM CRD: required).
  checkRequiredRate(out, `${field}.minRequestAmount`, cb.minRequestAmount, 'uts-circuit-breaking');
  checkCount(out, `${field}.slowAmountThreshold`, cb.slowAmountThreshold, 'uts-circuit-breaking');
  checkCount(out, `${field}.errorAmountThreshold`, cb.errorAmountThreshold, 'uts-circuit-breaking');
  checkRatio(out, `${field}.slowRatioThreshold`, cb.slowRatioThreshold, 'uts-circuit-breaking');
  checkRatio(out, `${field}.errorRatioThreshold`, cb.errorRatioThreshold, 'uts-circuit-breaking');
  // The sidecar answers with this status while the breaker is open: it must be a status line HTTP can carry.
  if (cb.degradedStatusCode !== undefined && cb.degradedStatusCode !== null)
    checkIntRange(out, `${field}.degradedStatusCode`, cb.degradedStatusCode, 100, 599, 'uts-circuit-breaking');
  if (cb.degradedResponseContent !== undefined && cb.degradedResponseContent !== null && typeof cb.degradedResponseContent !== 'string')
    out.invalid(`${field}.degradedResponseContent`, cb.degradedResponseContent, 'must be a string', 'uts-circuit-breaking');
}

function checkHttpRoutes(out: Findings, v: unknown): void {
  if (!checkArray(out, 'spec.httpRoutes', v, 'uts-http-route')) return;
  v.forEach((r, i) => {
    const f = `spec.httpRoutes[${i}]`;
    if (!isRecord(r)) {
      out.invalid(f, r, 'must be an object with path and rateLimit', 'uts-http-route');
      return;
    }
    // A route setting without a path matches no route (both CRDs require it).
    checkRequiredString(out, `${f}.path`, r.path, 'uts-http-route');
    const rl = section(out, `${f}.rateLimit`, r.rateLimit, 'uts-http-route');
    if (rl) checkHttpRateLimit(out, `${f}.rateLimit.local`, rl.local);
  });
  // Two settings for one path: only the first is applied.
  checkUnique(out, v, (r) => (isRecord(r) && typeof r.path === 'string' && r.path ? r.path : undefined),
    (i) => `spec.httpRoutes[${i}].path`, (r) => (isRecord(r) ? r.path : r), 'uts-http-route');
}

// ---------------------------------------------------------------------------------------------------------------
// Host

function referencedByEgress(ctx: ValidationContext, namespace: string, name: string): boolean {
  return ctx
    .candidates(EGRESS_BY_MATCH, [`${namespace}/UpstreamTrafficSetting/${name}`])
    .some((e) => namespaceOf(e) === namespace && isRecord(e.spec) && asArray(e.spec.matches).some((m) => isRecord(m) && m.kind === 'UpstreamTrafficSetting' && m.name === name));
}

function checkHost(obj: KubeObject, v: unknown, ctx: ValidationContext, out: Findings): void {
  if (!checkRequiredString(out, 'spec.host', v, 'uts-host')) return;
  const ns = namespaceOf(obj);
  const self = nameOf(obj);
  // A single label is neither a Service's name in any form nor an external FQDN (the Go validator's rule).
  if (v.split('.').length < 2) {
    out.invalid('spec.host', v, `invalid FQDN specified as host: must be ${MESH_HOST_FORMS}`, 'uts-host');
    return;
  }
  // Service names are lowercase DNS labels: any other spelling is never equal to the name the mesh compares.
  if (!isDns1123Subdomain(v)) {
    out.invalid('spec.host', v, `invalid FQDN specified as host: must be a lowercase DNS name, for a Service ${MESH_HOST_FORMS}`, 'uts-host');
    return;
  }
  const parsed = parseHost(v);
  if (parsed === 'bad-svc-suffix') {
    out.invalid('spec.host', v, `must be ${MESH_HOST_FORMS}: the mesh compares hosts with cluster domain cluster.local only, so this host matches no Service`, 'uts-host');
    return;
  }
  // A setting that no lookup finds is silently inert: warn, since the Egress that references it may come later.
  if (!referencedByEgress(ctx, ns, self)) {
    if (!parsed.service)
      out.warn('spec.host', `${v} is not a Service name (${MESH_HOST_FORMS}) and no Egress in namespace ${ns} matches this UpstreamTrafficSetting, so it applies to nothing`, 'upstream-host-unmatched');
    else if (parsed.service.namespace !== ns)
      out.warn('spec.host', `${v} names namespace ${parsed.service.namespace}, but the mesh applies an UpstreamTrafficSetting to a Service only from the Service's own namespace (this one is in ${ns})`, 'upstream-host-namespace');
  }
  // The lookup takes the first setting of the namespace whose host names the Service: which one wins is undefined.
  // Scope: the namespace, because that is where the lookup searches; a cluster-wide check would let any tenant
  // block another namespace's setting by squatting on its host.
  for (const other of ctx.candidates(UPSTREAM_BY_HOST, [`${ns}/${parsed.key}`]).sort(byRef)) {
    const otherHost = isRecord(other.spec) ? other.spec.host : undefined;
    if (typeof otherHost !== 'string' || namespaceOf(other) !== ns) continue;
    const otherParsed = parseHost(otherHost);
    if (otherParsed === 'bad-svc-suffix' || otherParsed.key !== parsed.key) continue;
    const spelled = otherHost === v ? '' : ` (written ${otherHost} there)`;
    out.conflict('spec.host', `UpstreamTrafficSetting ${ns}/${self} conflicts with ${namespaceOf(other)}/${nameOf(other)} since they have the same host ${v}${spelled}`, 'uts-host-conflict');
  }
}

export function validateUpstreamTrafficSetting(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  const spec = obj.spec;
  if (!isRecord(spec)) {
    out.required('spec', 'uts-host');
    return;
  }
  checkHost(obj, spec.host, ctx, out);
  checkConnectionSettings(out, spec.connectionSettings);
  const rateLimit = section(out, 'spec.rateLimit', spec.rateLimit, 'uts-rate-limit');
  const local = rateLimit ? section(out, 'spec.rateLimit.local', rateLimit.local, 'uts-rate-limit') : undefined;
  if (local) {
    checkTcpRateLimit(out, 'spec.rateLimit.local.tcp', local.tcp);
    checkHttpRateLimit(out, 'spec.rateLimit.local.http', local.http);
  }
  checkHttpRoutes(out, spec.httpRoutes);
}
