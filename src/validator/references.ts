// Who still refers to an object that is being deleted, or to what an update takes away: the answer to a DELETE (and
// the extra warnings of an UPDATE) of the kinds other objects name (the kind table's `referenced` flag). Never a
// denial: deleting a Plugin before the chains that mount it is a legitimate order of work, but the person doing it
// should learn, in `kubectl delete`'s output, which objects will silently stop doing what they say.
//
// Every lookup goes through an index (validator/indexes.ts): the cost is the number of referrers, not of objects.
import type { Warning } from '../mesh/field-errors.js';
import { nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import { asArray, asRecord, byRef } from './checks.js';
import type { ValidationContext } from './context.js';
import { apexName, EGRESS_BY_MATCH, GTP_BY_CLUSTER_KEY, PLUGINCHAIN_MOUNTS, PLUGINCONFIG_BY_PLUGIN, PLUGINCONFIG_BY_SERVICE, TRAFFICSPLIT_BY_REF, TRAFFICTARGET_BY_ROUTE } from './indexes.js';
import { clusterKeyOf, exportingClusterKeys } from './multicluster.js';
import { CHAIN_NAMES, mountedNames } from './plugin.js';

/** At most this many referrers are named one by one; the rest are counted in one more warning. */
export const MAX_REFERRER_WARNINGS = 10;

/** How one object refers to the target: the rest of the sentence after the target's name. */
type Referrer = string;

/** What an operation on one referenced kind breaks: `next` is the new version on UPDATE, undefined on DELETE. */
type ReferenceCheck = (target: KubeObject, next: KubeObject | undefined, ctx: ValidationContext) => Warning[];

const refOf = (o: KubeObject): string => `${o.kind ?? ''} ${namespaceOf(o) ? `${namespaceOf(o)}/` : ''}${nameOf(o)}`;
const sorted = (objs: readonly KubeObject[]): KubeObject[] => [...objs].sort(byRef);

/** One warning per referrer (`<subject> <text>`), capped; `rule` names the kind of break. */
function warnings(subject: string, referrers: readonly Referrer[], rule: string): Warning[] {
  const out: Warning[] = referrers.slice(0, MAX_REFERRER_WARNINGS).map((r) => ({ field: '', message: `${subject} ${r}`, rule }));
  const rest = referrers.length - MAX_REFERRER_WARNINGS;
  if (rest > 0) out.push({ field: '', message: `${subject} is also referred to by ${rest} more object(s) (mesh-admission audit lists them all)`, rule });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Plugin: mounted by PluginChains, configured by PluginConfigs

const deletedPlugin: ReferenceCheck = (plugin, next, ctx) => {
  if (next) return []; // a Plugin's name cannot change; its priority moving is checked by the Plugin rules
  const name = nameOf(plugin);
  const referrers: Referrer[] = [];
  for (const chain of CHAIN_NAMES)
    for (const pc of sorted(ctx.candidates(PLUGINCHAIN_MOUNTS, [`${chain}|${name}`])))
      if (mountedNames([pc], chain).has(name)) referrers.push(`is still mounted by ${refOf(pc)} on ${chain}`);
  for (const cfg of sorted(ctx.candidates(PLUGINCONFIG_BY_PLUGIN, [name])))
    if (asRecord(cfg.spec).plugin === name) referrers.push(`is still configured by ${refOf(cfg)}`);
  // Proxies skip a chain entry whose Plugin is gone: the behaviour the chain promises silently stops.
  return warnings(`Plugin "${name}"`, referrers, 'plugin-still-referenced');
};

// ---------------------------------------------------------------------------------------------------------------------
// ServiceImport and Cluster: the endpoints and keys GlobalTrafficPolicy targets name

const gtpTargetsIn = (gtp: KubeObject, keys: ReadonlySet<string>): string[] =>
  [...new Set(asArray(asRecord(gtp.spec).targets).map((t) => asRecord(t).clusterKey))].filter((k): k is string => typeof k === 'string' && keys.has(k)).sort();

const serviceImportChange: ReferenceCheck = (imp, next, ctx) => {
  const ns = namespaceOf(imp);
  const name = nameOf(imp);
  const gtp = ctx.get('GlobalTrafficPolicy', ns, name);
  if (!gtp) return [];
  const before = exportingClusterKeys(imp);
  const after = next ? exportingClusterKeys(next) : new Set<string>();
  const lost = gtpTargetsIn(gtp, new Set([...before].filter((k) => !after.has(k))));
  if (!next) {
    // The policy's remote targets lose every endpoint: traffic meant for them is dropped.
    return warnings(`ServiceImport "${name}"`, [`is still governed by ${refOf(gtp)}${lost.length ? ` (targets ${lost.join(', ')}): traffic for those targets would be dropped` : ''}`], 'serviceimport-still-referenced');
  }
  // An update that drops a cluster's endpoints leaves a target with nothing to send to.
  return warnings(`ServiceImport "${name}"`, lost.map((key) => `no longer has endpoints from cluster ${key}, a target of ${refOf(gtp)}: traffic for that target would be dropped`), 'serviceimport-target-lost');
};

const clusterChange: ReferenceCheck = (cluster, next, ctx) => {
  const key = clusterKeyOf(cluster);
  if (next && clusterKeyOf(next) === key) return [];
  const gtps = sorted(ctx.candidates(GTP_BY_CLUSTER_KEY, [key])).filter((g) => gtpTargetsIn(g, new Set([key])).length > 0);
  const text = (gtp: string): string =>
    next
      ? `changes its key from ${key} to ${clusterKeyOf(next)}, but ${gtp} still targets ${key}: traffic for that target would be dropped`
      : `is still a target of ${gtp} (clusterKey ${key}): traffic for that target would be dropped`;
  // No controller writes endpoints under a key no Cluster has: the GlobalTrafficPolicy target becomes a black hole.
  return warnings(`Cluster "${nameOf(cluster)}"`, gtps.map((g) => text(refOf(g))), next ? 'cluster-key-changed' : 'cluster-still-referenced');
};

// ---------------------------------------------------------------------------------------------------------------------
// HTTPRouteGroup and TCPRoute: named by TrafficTarget rules, TrafficSplit matches and Egress matches

function routeReferrers(route: KubeObject, kind: 'HTTPRouteGroup' | 'TCPRoute', ctx: ValidationContext): Referrer[] {
  const ns = namespaceOf(route);
  const key = `${ns}/${kind}/${nameOf(route)}`;
  const name = nameOf(route);
  const out: Referrer[] = [];
  /** indices of the entries of `list` that name this route (routes are looked up in the referrer's namespace) */
  const named = (referrer: KubeObject, list: unknown): number[] =>
    namespaceOf(referrer) !== ns
      ? []
      : asArray(list).flatMap((e, i) => {
          const r = asRecord(e);
          return r.kind === kind && r.name === name ? [i] : [];
        });
  for (const tt of sorted(ctx.candidates(TRAFFICTARGET_BY_ROUTE, [key])))
    for (const i of named(tt, asRecord(tt.spec).rules)) out.push(`is still named by ${refOf(tt)} (spec.rules[${i}]): that rule grants no access once it is gone`);
  if (kind === 'HTTPRouteGroup') {
    for (const ts of sorted(ctx.candidates(TRAFFICSPLIT_BY_REF, [key])))
      for (const i of named(ts, asRecord(ts.spec).matches)) out.push(`is still named by ${refOf(ts)} (spec.matches[${i}]): that match selects no traffic once it is gone`);
    for (const eg of sorted(ctx.candidates(EGRESS_BY_MATCH, [key])))
      for (const i of named(eg, asRecord(eg.spec).matches)) out.push(`is still named by ${refOf(eg)} (spec.matches[${i}]): its http traffic is not allowed once it is gone`);
  }
  return out;
}

const deletedRoute =
  (kind: 'HTTPRouteGroup' | 'TCPRoute'): ReferenceCheck =>
  (route, next, ctx) =>
    // Access and splits fail closed on a missing route: the traffic they were written for stops. (On UPDATE, the
    // HTTPRouteGroup rules already warn about match names that TrafficTargets still select.)
    next ? [] : warnings(`${kind} "${nameOf(route)}"`, routeReferrers(route, kind, ctx), 'route-still-referenced');

// ---------------------------------------------------------------------------------------------------------------------
// Service: apex and backends of TrafficSplits, ServiceExports and GlobalTrafficPolicies of its name, PluginConfigs

/** Whether a TrafficSplit of namespace `ns` names Service `name` as its apex or a backend. */
function splitNames(split: KubeObject, ns: string, name: string): boolean {
  if (namespaceOf(split) !== ns) return false;
  const spec = asRecord(split.spec);
  if (typeof spec.service === 'string' && apexName(spec.service, ns) === name) return true;
  return asArray(spec.backends).some((b) => asRecord(b).service === name);
}

/** Whether a PluginConfig's destinationRefs name Service `ns/name`. */
function configTargets(cfg: KubeObject, ns: string, name: string): boolean {
  return asArray(asRecord(cfg.spec).destinationRefs).some((r) => {
    const ref = asRecord(r);
    return ref.kind === 'Service' && ref.namespace === ns && ref.name === name;
  });
}

const servicePortNumbers = (svc: KubeObject): Set<unknown> => new Set(asArray(asRecord(svc.spec).ports).map((p) => asRecord(p).port));

const serviceChange: ReferenceCheck = (svc, next, ctx) => {
  const ns = namespaceOf(svc);
  const name = nameOf(svc);
  const subject = `Service "${name}"`;
  const exp = ctx.get('ServiceExport', ns, name);
  if (next) {
    // A port the export routes to that the Service no longer has: the export stays invalid.
    if (!exp) return [];
    const ports = servicePortNumbers(next);
    const lost = asArray(asRecord(exp.spec).rules).flatMap((r, i) => {
      const port = asRecord(r).portNumber;
      return servicePortNumbers(svc).has(port) && !ports.has(port) ? [`no longer has port ${String(port)}, exported by ${refOf(exp)} (spec.rules[${i}].portNumber)`] : [];
    });
    return warnings(subject, lost, 'service-port-still-exported');
  }
  const referrers: Referrer[] = [];
  const key = `${ns}/Service/${name}`;
  for (const ts of sorted(ctx.candidates(TRAFFICSPLIT_BY_REF, [key])).filter((t) => splitNames(t, ns, name)))
    referrers.push(`is still named by ${refOf(ts)}: requests split to it fail once it is gone`);
  if (exp) referrers.push(`is still exported by ${refOf(exp)}: the export becomes invalid`);
  const gtp = ctx.get('GlobalTrafficPolicy', ns, name);
  if (gtp && !ctx.get('ServiceImport', ns, name)) referrers.push(`is still governed by ${refOf(gtp)}, which then governs nothing`);
  for (const cfg of sorted(ctx.candidates(PLUGINCONFIG_BY_SERVICE, [`${ns}/${name}`])).filter((c) => configTargets(c, ns, name))) referrers.push(`is still a destination of ${refOf(cfg)}: that config reaches no proxy once it is gone`);
  // What names the Service breaks without it: the split's share, the export, the governed import, the config's proxies.
  return warnings(subject, referrers, 'service-still-referenced');
};

/** Per referenced kind (the kind table's `referenced` flag): what deleting or updating one breaks. */
export const REFERENCE_CHECKS: Readonly<Record<string, ReferenceCheck>> = {
  Plugin: deletedPlugin,
  ServiceImport: serviceImportChange,
  Cluster: clusterChange,
  HTTPRouteGroup: deletedRoute('HTTPRouteGroup'),
  TCPRoute: deletedRoute('TCPRoute'),
  Service: serviceChange,
};
