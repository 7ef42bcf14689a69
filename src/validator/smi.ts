// SMI kinds: TrafficTarget (access.smi-spec.io), HTTPRouteGroup and TCPRoute (specs.smi-spec.io), TrafficSplit
// (split.smi-spec.io), every served version. The Go validator checks only the TrafficTarget namespace; everything
// else here is something the mesh either drops silently at runtime or passes on to a proxy that rejects it.
import { isRecord, namespaceOf, nameOf, type KubeObject } from '../mesh/objects.js';
import {
  asArray,
  asRecord,
  byRef,
  checkArray,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkIntRange,
  checkPort,
  checkRequiredString,
  checkUnique,
  isInteger,
  specOf,
} from './checks.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { apexName, TRAFFICTARGET_BY_ROUTE } from './indexes.js';
import { MAX_OBJECT_REGEX_EXPANSION, Re2Budget, re2Error } from './regex.js';

const IDENTITY_KINDS = ['ServiceAccount'] as const;
const RULE_KINDS = ['HTTPRouteGroup', 'TCPRoute'] as const;
const SPLIT_MATCH_KINDS = ['HTTPRouteGroup'] as const;
const HTTP_METHODS = ['*', 'GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
/** RFC 7230 `token`: the only characters a header field name can have on the wire. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** HTTP/2 pseudo-headers: not tokens, but Envoy header matchers accept them. */
const PSEUDO_HEADERS: readonly string[] = [':authority', ':method', ':path', ':scheme'];
/** Envoy cluster weights are 32-bit; int32 keeps the sum of a few backends in range as well. */
const MAX_WEIGHT = 2147483647;
/** Values echoed in messages are cut here so a 4 KiB regex does not flood the kubectl output. */
const MAX_SHOWN_PATTERN = 80;

const has = (list: readonly string[], v: unknown): v is string => typeof v === 'string' && list.includes(v);
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function shown(pattern: string): string {
  return pattern.length > MAX_SHOWN_PATTERN ? `${pattern.slice(0, MAX_SHOWN_PATTERN - 3)}...` : pattern;
}


/** An element that must be a map, or undefined after reporting it. */
function entryOf(out: Findings, field: string, v: unknown, rule: string): Record<string, unknown> | undefined {
  if (isRecord(v)) return v;
  out.invalid(field, v, 'must be an object', rule);
  return undefined;
}

/** Names of the matches an HTTPRouteGroup defines (a TrafficTarget rule selects them by these names). */
export function matchNames(routeGroup: KubeObject): string[] {
  return asArray(asRecord(routeGroup.spec).matches)
    .map((m) => asRecord(m).name)
    .filter(nonEmpty);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTPRouteGroup

type RegexCheck = (field: string, v: unknown, rule: string) => void;

/** Checks the regexes of one object against one shared budget (see Re2Budget). */
function regexChecker(out: Findings): RegexCheck {
  const budget = new Re2Budget();
  let refused = false;
  return (field, v, rule) => {
    if (typeof v !== 'string') {
      out.invalid(field, v, 'must be a string (an RE2 regular expression)', rule);
      return;
    }
    // Past the budget nothing more is compiled, and an unchecked regex may NACK: refuse, once for all that follow.
    if (!budget.allows(v)) {
      if (!refused)
        out.forbidden(field, `the regexes of this object add up to more than ${MAX_OBJECT_REGEX_EXPANSION} elements once repetitions are unrolled; this one and the later ones were not checked (split the object)`, 'smi-regex-budget');
      refused = true;
      return;
    }
    const reason = re2Error(v);
    if (reason !== undefined) out.invalid(field, shown(v), `must be a valid RE2 regular expression: ${reason}`, rule);
  };
}

function checkHeader(out: Findings, checkRegex: RegexCheck, entryField: string, name: string, regex: unknown): void {
  // A name that is not a token never appears in a request, so the match silently never selects anything.
  if (!HTTP_TOKEN.test(name) && !PSEUDO_HEADERS.includes(name))
    out.invalid(entryField, name, "header name must be an HTTP token (RFC 7230: letters, digits and !#$%&'*+-.^_`|~)", 'httproutegroup-header');
  // Header regexes go to Envoy safe_regex like pathRegex: an invalid one NACKs the whole route configuration.
  checkRegex(`${entryField}[${name}]`, regex, 'httproutegroup-header-regex');
}

/** Both shapes seen in the wild: the CRD's list of `{<header>: <regex>}` and smi-sdk-go's map. */
function checkHeaders(out: Findings, checkRegex: RegexCheck, field: string, headers: unknown): void {
  if (headers === undefined || headers === null) return;
  if (isRecord(headers)) {
    for (const [name, regex] of Object.entries(headers)) checkHeader(out, checkRegex, field, name, regex);
    return;
  }
  if (!Array.isArray(headers)) {
    out.invalid(field, headers, 'must be a list of {<header>: <regex>} entries or a map of header names to regexes', 'httproutegroup-header');
    return;
  }
  const firstAt = new Map<string, number>();
  headers.forEach((entry, j) => {
    const entryField = `${field}[${j}]`;
    const pairs = isRecord(entry) ? Object.entries(entry) : [];
    const pair = pairs[0];
    // smi-sdk-go refuses an entry with several keys ("incorrect length of keyval"): the whole group is then dropped.
    if (pairs.length !== 1 || pair === undefined) {
      out.invalid(entryField, entry, 'must map exactly one header name to a regex, e.g. {"user-agent": ".*Mobile.*"}', 'httproutegroup-header');
      return;
    }
    const [name, regex] = pair;
    checkHeader(out, checkRegex, entryField, name, regex);
    // The entries are merged into one map: a repeated name silently replaces the earlier regex.
    const first = firstAt.get(name);
    if (first === undefined) firstAt.set(name, j);
    else out.duplicate(entryField, name, 'httproutegroup-header-unique', `also at ${field}[${first}]; the entries are merged into one map, so only the last regex would apply`);
  });
}

function checkHttpMatch(out: Findings, checkRegex: RegexCheck, field: string, v: unknown): void {
  // A match that is not an object has no name, path, methods or headers: it selects nothing.
  const match = entryOf(out, field, v, 'httproutegroup-match');
  if (!match) return;
  // TrafficTarget rules select matches by name: a nameless match can never be granted.
  checkRequiredString(out, `${field}.name`, match.name, 'httproutegroup-match-name');
  // Envoy compiles pathRegex as RE2 (safe_regex) and NACKs the whole route configuration on an invalid one,
  // taking down every route of the proxy. An empty pathRegex means `.*` to the mesh.
  if (match.pathRegex !== undefined && match.pathRegex !== null)
    checkRegex(`${field}.pathRegex`, match.pathRegex, 'httproutegroup-regex');
  // A method outside the CRD enum never matches a request (and lower case `get` is not `GET`).
  const methods = match.methods;
  if (methods !== undefined && methods !== null && checkArray(out, `${field}.methods`, methods, 'httproutegroup-method'))
    methods.forEach((m, k) => {
      if (!has(HTTP_METHODS, m)) out.notSupported(`${field}.methods[${k}]`, m, HTTP_METHODS, 'httproutegroup-method');
    });
  checkHeaders(out, checkRegex, `${field}.headers`, match.headers);
}

/** A renamed or removed match leaves the TrafficTargets that name it granting nothing for it. */
function warnOrphanedTargetMatches(obj: KubeObject, ctx: ValidationContext, out: Findings, names: readonly string[]): void {
  const namespace = namespaceOf(obj);
  for (const target of ctx.candidates(TRAFFICTARGET_BY_ROUTE, [`${namespace}/HTTPRouteGroup/${nameOf(obj)}`]).sort(byRef)) {
    // a TrafficTarget names routes of its own namespace
    if (namespaceOf(target) !== namespace) continue;
    asArray(asRecord(target.spec).rules).forEach((r) => {
      const rule = asRecord(r);
      if (rule.kind !== 'HTTPRouteGroup' || rule.name !== nameOf(obj)) return;
      for (const m of asArray(rule.matches))
        if (nonEmpty(m) && !names.includes(m))
          out.warn('spec.matches', `TrafficTarget ${namespace}/${nameOf(target)} selects match "${m}", which this HTTPRouteGroup does not define: that selection grants no access`, 'httproutegroup-match-missing');
    });
  }
}

export function validateHTTPRouteGroup(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  // The SMI kinds are all spec: without one, or with one that is not an object, the object means nothing.
  const spec = specOf(obj, out, { rule: 'smi-spec', required: true });
  if (!spec) return;
  // A group without matches selects no traffic: every TrafficTarget rule naming it grants nothing.
  if (!checkArray(out, 'spec.matches', spec.matches, 'httproutegroup-matches', { required: true, minItems: 1 })) return;
  const matches = spec.matches;
  const checkRegex = regexChecker(out);
  matches.forEach((m, i) => checkHttpMatch(out, checkRegex, `spec.matches[${i}]`, m));
  // TrafficTargets select matches by name, so two matches with one name cannot be told apart.
  checkUnique(
    out,
    matches,
    (m) => (isRecord(m) && nonEmpty(m.name) ? m.name : undefined),
    (i) => `spec.matches[${i}].name`,
    (m) => asRecord(m).name,
    'httproutegroup-match-name-unique',
  );
  warnOrphanedTargetMatches(obj, ctx, out, matches.map((m) => asRecord(m).name).filter(nonEmpty));
}

// ---------------------------------------------------------------------------------------------------------------
// TrafficTarget

/** `kind` and `name` of a destination or source: the mesh only knows ServiceAccount identities. */
function checkIdentity(out: Findings, field: string, identity: Record<string, unknown>): void {
  // Any other kind matches no workload: the TrafficTarget silently grants nothing.
  if (identity.kind === undefined || identity.kind === null) out.required(`${field}.kind`, 'traffictarget-identity-kind');
  else if (!has(IDENTITY_KINDS, identity.kind)) out.notSupported(`${field}.kind`, identity.kind, IDENTITY_KINDS, 'traffictarget-identity-kind');
  // A ServiceAccount name is a DNS subdomain; anything else (`Foo_Bar`) names no workload.
  if (checkRequiredString(out, `${field}.name`, identity.name, 'traffictarget-identity-name'))
    checkDns1123Subdomain(out, `${field}.name`, identity.name, 'traffictarget-identity-name');
}

function checkDestination(out: Findings, namespace: string, v: unknown): void {
  // The destination is the ServiceAccount the TrafficTarget opens: without one it grants nothing.
  if (v === undefined || v === null) {
    out.required('spec.destination', 'traffictarget-destination');
    return;
  }
  // A destination that is not an object names no ServiceAccount.
  const destination = entryOf(out, 'spec.destination', v, 'traffictarget-destination');
  if (!destination) return;
  checkIdentity(out, 'spec.destination', destination);
  // A TrafficTarget may only open its own namespace's workloads; otherwise write access to TrafficTargets in one
  // namespace would grant access to another (osm#4116). Absent, SMI takes the TrafficTarget's own namespace.
  const destinationNamespace = destination.namespace;
  if (destinationNamespace === undefined || destinationNamespace === null || destinationNamespace === '') return;
  if (typeof destinationNamespace !== 'string') out.invalid('spec.destination.namespace', destinationNamespace, 'must be a string', 'traffictarget-namespace');
  else if (destinationNamespace !== namespace)
    out.invalid(
      'spec.destination.namespace',
      destinationNamespace,
      `The traffic target namespace (${namespace}) must match spec.Destination.Namespace (${destinationNamespace})`,
      'traffictarget-namespace',
    );
}

function checkSources(out: Findings, ctx: ValidationContext, v: unknown): void {
  // Without sources nobody is granted anything.
  if (!checkArray(out, 'spec.sources', v, 'traffictarget-sources', { required: true, minItems: 1 })) return;
  v.forEach((s, i) => {
    const field = `spec.sources[${i}]`;
    const source = entryOf(out, field, s, 'traffictarget-sources');
    if (!source) return;
    checkIdentity(out, field, source);
    // The mesh resolves a source ServiceAccount by namespace and name; without a namespace it matches no one.
    if (!checkRequiredString(out, `${field}.namespace`, source.namespace, 'traffictarget-source-namespace')) return;
    if (!checkDns1123Label(out, `${field}.namespace`, source.namespace, 'traffictarget-source-namespace')) return;
    // Sources outside the mesh are dropped at runtime; only said when the Namespace is known to be unmonitored.
    if (ctx.get('Namespace', '', source.namespace) && !ctx.isMonitored(source.namespace))
      out.warn(`${field}.namespace`, `namespace "${source.namespace}" is not monitored by mesh "${ctx.mesh.meshName}": the mesh ignores this source`, 'traffictarget-source-unmonitored');
  });
  // A repeated source is a copy-paste slip, most often for a source that was meant and is now missing.
  const keyOf = (s: unknown): string | undefined => {
    const source = asRecord(s);
    return nonEmpty(source.namespace) && nonEmpty(source.name) ? `${String(source.kind)}/${source.namespace}/${source.name}` : undefined;
  };
  checkUnique(out, v, keyOf, (i) => `spec.sources[${i}]`, (s) => `${String(asRecord(s).namespace)}/${String(asRecord(s).name)}`, 'traffictarget-source-unique');
}

function checkRule(out: Findings, ctx: ValidationContext, namespace: string, field: string, v: unknown): void {
  const rule = entryOf(out, field, v, 'traffictarget-rule-kind');
  if (!rule) return;
  // The CRD also lets UDPRoute through, but the mesh then drops the whole TrafficTarget ("Invalid Kind for rule").
  let kind: string | undefined;
  if (rule.kind === undefined || rule.kind === null) out.required(`${field}.kind`, 'traffictarget-rule-kind');
  else if (!has(RULE_KINDS, rule.kind)) out.notSupported(`${field}.kind`, rule.kind, RULE_KINDS, 'traffictarget-rule-kind');
  else kind = rule.kind;
  const name = rule.name;
  // The rule grants the HTTPRouteGroup or TCPRoute of this name: without one it grants nothing.
  const named = checkRequiredString(out, `${field}.name`, name, 'traffictarget-rule-name');
  // Match names are looked up in the HTTPRouteGroup; a non-string can never be found there.
  const selected: Array<{ match: string; index: number }> = [];
  const matches = rule.matches;
  if (matches !== undefined && matches !== null && checkArray(out, `${field}.matches`, matches, 'traffictarget-rule-matches'))
    matches.forEach((m, k) => {
      if (checkRequiredString(out, `${field}.matches[${k}]`, m, 'traffictarget-rule-matches')) selected.push({ match: m, index: k });
    });
  if (!kind || !named) return;
  // Warnings, not denials: the route object is often applied right after the TrafficTarget (same file, GitOps
  // ordering), and a missing route or match fails closed (no access), never open.
  const route = ctx.get(kind, namespace, name);
  if (!route) {
    out.warn(`${field}.name`, `${kind} ${namespace}/${name} does not exist: this rule grants no access until it does`, 'traffictarget-route-missing');
    return;
  }
  if (kind !== 'HTTPRouteGroup') return;
  const defined = matchNames(route);
  // A match name the group does not define selects nothing: that part of the rule grants no access.
  for (const { match, index } of selected)
    if (!defined.includes(match))
      out.warn(
        `${field}.matches[${index}]`,
        `HTTPRouteGroup ${namespace}/${name} has no match named "${match}", so it grants no access (its matches: ${defined.map((d) => `"${d}"`).join(', ') || 'none'})`, 'traffictarget-route-match-missing',
      );
}

function checkRules(out: Findings, ctx: ValidationContext, namespace: string, rules: unknown): void {
  // The mesh ignores a TrafficTarget without rules: it would look applied and grant nothing.
  if (rules === undefined || rules === null || (Array.isArray(rules) && rules.length === 0)) {
    out.required('spec.rules', 'traffictarget-rules', 'at least one HTTPRouteGroup or TCPRoute rule: the mesh ignores a TrafficTarget without rules');
    return;
  }
  if (!checkArray(out, 'spec.rules', rules, 'traffictarget-rules')) return;
  rules.forEach((r, i) => checkRule(out, ctx, namespace, `spec.rules[${i}]`, r));
}

export function validateTrafficTarget(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  // The SMI kinds are all spec: without one, or with one that is not an object, the object means nothing.
  const spec = specOf(obj, out, { rule: 'smi-spec', required: true });
  if (!spec) return;
  const namespace = namespaceOf(obj);
  checkDestination(out, namespace, spec.destination);
  checkSources(out, ctx, spec.sources);
  checkRules(out, ctx, namespace, spec.rules);
}

// ---------------------------------------------------------------------------------------------------------------
// TCPRoute

export function validateTCPRoute(obj: KubeObject, _ctx: ValidationContext, out: Findings): void {
  // The SMI kinds are all spec: without one, or with one that is not an object, the object means nothing.
  const spec = specOf(obj, out, { rule: 'smi-spec', required: true });
  if (!spec) return;
  // No matches or no ports: the route covers every port, which is allowed.
  if (spec.matches === undefined || spec.matches === null) return;
  const matches = entryOf(out, 'spec.matches', spec.matches, 'tcproute-port');
  if (!matches || matches.ports === undefined || matches.ports === null) return;
  if (!checkArray(out, 'spec.matches.ports', matches.ports, 'tcproute-port')) return;
  const ports = matches.ports;
  // The CRD has no range: 0 or 70000 reach the proxy config as a port that can never match.
  ports.forEach((p, k) => checkPort(out, `spec.matches.ports[${k}]`, p, 'tcproute-port'));
  // A repeated port is usually a typo for a port that was meant and is now not covered.
  checkUnique(out, ports, (p) => (isInteger(p) ? String(p) : undefined), (k) => `spec.matches.ports[${k}]`, (p) => p, 'tcproute-port-unique');
}

// ---------------------------------------------------------------------------------------------------------------
// TrafficSplit


function checkSplitMatches(out: Findings, ctx: ValidationContext, namespace: string, v: unknown): void {
  if (v === undefined || v === null) return;
  if (!checkArray(out, 'spec.matches', v, 'trafficsplit-match')) return;
  v.forEach((m, i) => {
    const field = `spec.matches[${i}]`;
    const match = entryOf(out, field, m, 'trafficsplit-match');
    if (!match) return;
    // Only HTTPRouteGroups can restrict a split; another kind makes the mesh ignore the match.
    if (match.kind === undefined || match.kind === null) out.required(`${field}.kind`, 'trafficsplit-match');
    else if (!has(SPLIT_MATCH_KINDS, match.kind)) out.notSupported(`${field}.kind`, match.kind, SPLIT_MATCH_KINDS, 'trafficsplit-match');
    // The match is looked up by name: without one the split would apply to no request.
    if (!checkRequiredString(out, `${field}.name`, match.name, 'trafficsplit-match')) return;
    // Until the HTTPRouteGroup exists the match selects no traffic; a warning, since it may be applied right after.
    if (match.kind === 'HTTPRouteGroup' && !ctx.get('HTTPRouteGroup', namespace, match.name))
      out.warn(`${field}.name`, `HTTPRouteGroup ${namespace}/${match.name} does not exist: this match selects no traffic until it does`, 'trafficsplit-match-missing');
  });
}

function checkBackend(out: Findings, ctx: ValidationContext, namespace: string, apex: string | undefined, field: string, v: unknown): number | undefined {
  const backend = entryOf(out, field, v, 'trafficsplit-backend-service');
  if (!backend) return undefined;
  // Backends are Services of the split's own namespace: a dotted host or another namespace's name never resolves.
  if (checkRequiredString(out, `${field}.service`, backend.service, 'trafficsplit-backend-service') &&
    checkDns1123Label(out, `${field}.service`, backend.service, 'trafficsplit-backend-service')) {
    const service = backend.service;
    // The apex as its own backend sends its share to every version the apex selects, not to one version.
    if (service === apex)
      out.warn(`${field}.service`, `backend "${service}" is the apex Service itself: its share goes to every pod that Service selects (usually all versions), not to one version`, 'trafficsplit-apex-backend');
    // Requests sent to a backend that does not exist fail; a warning, since it may be applied right after.
    else if (!ctx.get('Service', namespace, service))
      out.warn(`${field}.service`, `Service ${namespace}/${service} does not exist: requests sent to this backend fail until it does`, 'trafficsplit-backend-missing');
  }
  // The CRD types weight as a number: -1 or 1.5 are admitted, then fail to decode or skew every other share.
  const weight = backend.weight;
  if (weight === undefined || weight === null) {
    out.required(`${field}.weight`, 'trafficsplit-weight');
    return undefined;
  }
  return checkIntRange(out, `${field}.weight`, weight, 0, MAX_WEIGHT, 'trafficsplit-weight') && isInteger(weight) ? weight : undefined;
}

export function validateTrafficSplit(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  // The SMI kinds are all spec: without one, or with one that is not an object, the object means nothing.
  const spec = specOf(obj, out, { rule: 'smi-spec', required: true });
  if (!spec) return;
  const namespace = namespaceOf(obj);
  // The apex is what clients address; without it the split applies to nothing.
  let apex: string | undefined;
  if (checkRequiredString(out, 'spec.service', spec.service, 'trafficsplit-service') &&
    checkDns1123Subdomain(out, 'spec.service', spec.service, 'trafficsplit-service')) {
    apex = apexName(spec.service, namespace);
    // Clients address the split by the apex Service: until it exists they cannot (a warning: it may come right after).
    if (apex !== undefined && !ctx.get('Service', namespace, apex))
      out.warn('spec.service', `Service ${namespace}/${apex} does not exist: clients cannot address the apex until it does`, 'trafficsplit-apex-missing');
  }
  checkSplitMatches(out, ctx, namespace, spec.matches);
  // Without backends the apex has nowhere to send traffic.
  if (!checkArray(out, 'spec.backends', spec.backends, 'trafficsplit-backends', { required: true, minItems: 1 })) return;
  const backends = spec.backends;
  const weights = backends.map((b, i) => checkBackend(out, ctx, namespace, apex, `spec.backends[${i}]`, b));
  // Two entries for one Service: the shares no longer mean what they say, and one of them is usually a typo.
  checkUnique(
    out,
    backends,
    (b) => (isRecord(b) && nonEmpty(b.service) ? b.service : undefined),
    (i) => `spec.backends[${i}].service`,
    (b) => asRecord(b).service,
    'trafficsplit-backend-unique',
  );
  // All-zero weights leave no backend to route to: every request to the apex fails.
  if (weights.every((w) => w === 0))
    out.forbidden('spec.backends', 'every backend has weight 0, so the split sends traffic nowhere; give at least one backend a weight above 0', 'trafficsplit-weight-sum');
}
