// Plugin, PluginChain and PluginConfig (plugin.flomesh.io). The FSM/osm-edge validator only checks the feature flag
// and an empty script; everything else here is this webhook's: the ranges and enums no CRD enforces, priority ties,
// selectors and references (docs/validation-rules.md#plugin-pluginchain-pluginconfig).
import { NAMESPACE_NAME_LABEL } from '../mesh/names.js';
import { isRecord, nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import { byRef,
  asArray,
  asRecord,
  checkArray,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkIntRange,
  checkLabelSelector,
  checkRequiredString,
  checkUnique,
  specOf,
} from './checks.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { PLUGIN_BY_PRIORITY, PLUGINCHAIN_MOUNTS, PLUGINCONFIG_BY_PLUGIN } from './indexes.js';

/** The mount points of the Pipy sidecar; any other name never matches one. */
export const CHAIN_NAMES = ['inbound-tcp', 'inbound-http', 'outbound-tcp', 'outbound-http'] as const;
export type ChainName = (typeof CHAIN_NAMES)[number];

export function isChainName(v: unknown): v is ChainName {
  return typeof v === 'string' && (CHAIN_NAMES as readonly string[]).includes(v);
}

/** The range the FSM docs give for plugin priorities ("0-65535"). */
export const PRIORITY_MIN = 0;
export const PRIORITY_MAX = 65535;

/** A module or plugin in a chain; higher priority runs earlier. */
export interface ChainMember {
  readonly name: string;
  readonly priority: number;
}

export type ChainTable = Readonly<Record<ChainName, readonly ChainMember[]>>;

// The chart defaults of `pluginChains` (osm-edge and FSM values.yaml): module suffix and priority per chain.
const DEFAULT_CHAINS: Readonly<Record<ChainName, ReadonlyArray<readonly [string, number]>>> = {
  'inbound-tcp': [
    ['tls-termination', 130],
    ['tcp-routing', 120],
    ['tcp-load-balancing', 110],
    ['tcp-default', 100],
  ],
  'inbound-http': [
    ['tls-termination', 180],
    ['http-routing', 170],
    ['metrics-http', 160],
    ['tracing-http', 150],
    ['logging-http', 140],
    ['throttle-service', 130],
    ['throttle-route', 120],
    ['http-load-balancing', 110],
    ['http-default', 100],
  ],
  'outbound-tcp': [
    ['tcp-routing', 120],
    ['tcp-load-balancing', 110],
    ['tcp-default', 100],
  ],
  'outbound-http': [
    ['http-routing', 160],
    ['metrics-http', 150],
    ['tracing-http', 140],
    ['logging-http', 130],
    ['circuit-breaker', 120],
    ['http-load-balancing', 110],
    ['http-default', 100],
  ],
};

const byPriorityDesc = (a: ChainMember, b: ChainMember): number => b.priority - a.priority;

function defaultChain(chain: ChainName): ChainMember[] {
  const direction = chain.slice(0, chain.indexOf('-'));
  return DEFAULT_CHAINS[chain].map(([suffix, priority]) => ({ name: `modules/${direction}-${suffix}`, priority }));
}

/** The enabled entries of a MeshConfig `pluginChains.<chain>` list (disabled modules are not in the chain). */
function meshConfigChain(entries: unknown): ChainMember[] {
  const members: ChainMember[] = [];
  for (const e of asArray(entries)) {
    const entry = asRecord(e);
    if (typeof entry.plugin !== 'string' || typeof entry.priority !== 'number' || !Number.isFinite(entry.priority)) continue;
    if (entry.disable === true) continue;
    members.push({ name: entry.plugin, priority: entry.priority });
  }
  return members;
}

/** Built-in modules per chain from a MeshConfig `spec.pluginChains` value (authoritative when it is a map). */
export function builtinChainsFrom(pluginChains: unknown): ChainTable {
  const fromMeshConfig = isRecord(pluginChains);
  const table = {} as Record<ChainName, readonly ChainMember[]>;
  for (const chain of CHAIN_NAMES)
    table[chain] = (fromMeshConfig ? meshConfigChain(pluginChains[chain]) : defaultChain(chain)).sort(byPriorityDesc);
  return table;
}

/** Built-in modules per chain, sorted as the sidecar runs them: the mesh's MeshConfig, or the chart defaults. */
export function builtinChains(ctx: ValidationContext): ChainTable {
  return builtinChainsFrom(ctx.meshConfigSpec()?.pluginChains);
}

/** Priority of a Plugin object as the controller sorts it (absent = 0); undefined when it is not a finite number. */
export function pluginPriority(plugin: KubeObject): number | undefined {
  const p = asRecord(plugin.spec).priority;
  if (p === undefined || p === null) return 0;
  return typeof p === 'number' && Number.isFinite(p) ? p : undefined;
}

/** Names of the Plugins the given PluginChains mount on one chain. */
export function mountedNames(chains: readonly KubeObject[], chain: ChainName): Set<string> {
  const names = new Set<string>();
  for (const pc of chains)
    for (const entry of asArray(asRecord(pc.spec).chains)) {
      const e = asRecord(entry);
      if (e.name !== chain) continue;
      for (const p of asArray(e.plugins)) if (typeof p === 'string') names.add(p);
    }
  return names;
}

/** Names of the Plugins the other PluginChains mount on one chain (the index finds the chains with an entry for it). */
export function mountedOn(ctx: ValidationContext, chain: ChainName): Set<string> {
  return mountedNames(ctx.candidates(PLUGINCHAIN_MOUNTS, [chain]), chain);
}

/** Whether some other PluginChain mounts this plugin on this chain. */
function isMountedOn(ctx: ValidationContext, chain: ChainName, plugin: string): boolean {
  return ctx.candidates(PLUGINCHAIN_MOUNTS, [`${chain}|${plugin}`]).some((pc) => mountedNames([pc], chain).has(plugin));
}

/** The existing Plugins among `names` (except `self`) as chain members, sorted by name for stable messages. */
export function pluginMembers(ctx: ValidationContext, names: Iterable<string>, self: string): ChainMember[] {
  const members: ChainMember[] = [];
  for (const name of [...names].sort()) {
    if (name === self) continue;
    const plugin = ctx.get('Plugin', '', name);
    const priority = plugin ? pluginPriority(plugin) : undefined;
    if (priority !== undefined) members.push({ name: `plugin ${name}`, priority });
  }
  return members;
}

const listMembers = (members: readonly ChainMember[]): string => members.map((m) => `${m.name} (${m.priority})`).join(', ');

/** Members whose priority equals `priority`, the phrase of the undefined-order warning, or undefined when none. */
export function collisionText(priority: number, members: readonly ChainMember[]): string | undefined {
  const equal = members.filter((m) => m.priority === priority);
  return equal.length > 0 ? `equals ${listMembers(equal)}: the order between them is undefined` : undefined;
}

/** Where a module of `priority` lands among `members`: the neighbours that run just before and just after it. */
export function landingText(priority: number, members: readonly ChainMember[]): string {
  const collision = collisionText(priority, members);
  if (collision) return collision;
  const higher = members.filter((m) => m.priority > priority);
  const lower = members.filter((m) => m.priority < priority);
  const nearestHigher = higher.length ? Math.min(...higher.map((m) => m.priority)) : undefined;
  const nearestLower = lower.length ? Math.max(...lower.map((m) => m.priority)) : undefined;
  const runsAfter = higher.filter((m) => m.priority === nearestHigher);
  const runsBefore = lower.filter((m) => m.priority === nearestLower);
  if (runsAfter.length && runsBefore.length) return `runs after ${listMembers(runsAfter)} and before ${listMembers(runsBefore)}`;
  if (runsBefore.length) return `runs first, before ${listMembers(runsBefore)}`;
  if (runsAfter.length) return `runs last, after ${listMembers(runsAfter)}`;
  return 'runs alone: no built-in module or other plugin is on this chain';
}

// ---- shared checks ---------------------------------------------------------------------------------------------

/** The controller refuses every plugin object while the flag is off; say so at apply time, naming the switch. */
function checkPluginPolicyEnabled(ctx: ValidationContext, out: Findings): void {
  const flags = ctx.meshConfigSpec()?.featureFlags;
  if (isRecord(flags) && flags.enablePluginPolicy === false)
    out.forbidden(
      'spec',
      `${ctx.mesh.flavor.productWord} is prohibited to apply plugin policy: MeshConfig ${ctx.meshConfigRef()} sets featureFlags.enablePluginPolicy to false`,
      'plugin-policy-disabled',
    );
}


// ---- Plugin ------------------------------------------------------------------------------------------------------

function checkScript(out: Findings, script: unknown, name: string): void {
  // The controller writes the script to plugins/<name>.js; an empty one breaks every chain that mounts it.
  if (script === undefined || script === null || script === '') {
    out.required('spec.pipyscript', 'plugin-script', `plugin[${name}.] is missing pipy script`);
    return;
  }
  if (typeof script !== 'string') {
    out.invalid('spec.pipyscript', script, 'must be a string of PipyJS source', 'plugin-script');
    return;
  }
  // A NUL byte means binary content: Pipy cannot compile it and the sidecar fails to load the chain.
  const nul = script.indexOf('\u0000');
  if (nul >= 0)
    out.conflict('spec.pipyscript', `Invalid value: contains a NUL byte at offset ${nul}: must be PipyJS source text, not binary data`, 'plugin-script');
}

/** The informational warning saying where a mounted plugin runs (not a problem: the audit leaves it out). */
export const PLACEMENT_RULE = 'plugin-placement';

function warnPlacement(ctx: ValidationContext, out: Findings, name: string, priority: number): void {
  const table = builtinChains(ctx);
  const mounted = CHAIN_NAMES.filter((chain) => isMountedOn(ctx, chain, name)).map((chain) => ({ chain, names: mountedOn(ctx, chain) }));
  if (mounted.length === 0) {
    // Not mounted yet: only a tie with a built-in is worth saying now, it will bite on whichever chain mounts it.
    for (const chain of CHAIN_NAMES) {
      const equal = table[chain].filter((m) => m.priority === priority);
      if (equal.length > 0)
        out.warn('spec.priority', `${priority} equals ${listMembers(equal)} on ${chain}: the order between them would be undefined if the plugin is mounted there`, 'plugin-priority-tie');
    }
    return;
  }
  // The sidecar sorts a chain by priority (descending); equal priorities run in an undefined order.
  for (const { chain, names } of mounted) {
    const members = [...table[chain], ...pluginMembers(ctx, names, name)];
    // where it lands is information; a tie with another module is a problem (the order between them is undefined)
    out.warn('spec.priority', `${priority} on ${chain} ${landingText(priority, members)}`, collisionText(priority, members) ? 'plugin-priority-tie' : PLACEMENT_RULE);
  }
}

export function validatePlugin(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  checkPluginPolicyEnabled(ctx, out);
  // A spec that is not an object cannot be checked field by field: one cause says so.
  const spec = specOf(obj, out, { rule: 'spec-shape' });
  if (!spec) return;
  const name = nameOf(obj);
  checkScript(out, spec.pipyscript, name);
  const priority = spec.priority === undefined || spec.priority === null ? 0 : spec.priority;
  // Nothing bounds the priority in the CRD or the code; the docs promise 0-65535, and a fraction or a string sorts
  // unpredictably among the chain's modules.
  if (!checkIntRange(out, 'spec.priority', priority, PRIORITY_MIN, PRIORITY_MAX, 'plugin-priority-range')) return;
  warnPlacement(ctx, out, name, priority as number);
}

// ---- PluginChain -------------------------------------------------------------------------------------------------


/** True when the selector can only match the namespace `ns` (by its immutable name label). */
function pinnedToNamespace(sel: Record<string, unknown>, ns: string): boolean {
  if (asRecord(sel.matchLabels)[NAMESPACE_NAME_LABEL] === ns) return true;
  return asArray(sel.matchExpressions).some((e) => {
    const expr = asRecord(e);
    const values = asArray(expr.values);
    return expr.key === NAMESPACE_NAME_LABEL && expr.operator === 'In' && values.length > 0 && values.every((v) => v === ns);
  });
}

function checkSelectors(out: Findings, selectors: unknown, ns: string): void {
  if (selectors !== undefined && selectors !== null && !isRecord(selectors)) {
    out.invalid('spec.selectors', selectors, 'must be an object with podSelector and/or namespaceSelector', 'pluginchain-selector');
    return;
  }
  const sel = asRecord(selectors);
  // The controller drops the whole chain when a selector does not convert, silently un-mounting its plugins.
  checkLabelSelector(out, 'spec.selectors.podSelector', sel.podSelector, 'pluginchain-selector');
  checkLabelSelector(out, 'spec.selectors.namespaceSelector', sel.namespaceSelector, 'pluginchain-selector');
  // The selectors are not limited to the chain's own namespace: a chain here injects code into pods elsewhere.
  const podSel = sel.podSelector;
  const nsSel = sel.namespaceSelector;
  if ((podSel === undefined || podSel === null) && (nsSel === undefined || nsSel === null))
    out.warn('spec.selectors', 'no podSelector or namespaceSelector: the plugins are attached to every pod in the mesh, in every namespace', 'pluginchain-selector-scope');
  else if (nsSel === undefined || nsSel === null)
    out.warn('spec.selectors', `no namespaceSelector: the plugins are attached to matching pods in every namespace, not only ${ns}`, 'pluginchain-selector-scope');
  else if (isRecord(nsSel) && !pinnedToNamespace(nsSel, ns))
    out.warn('spec.selectors.namespaceSelector', `selects namespaces other than ${ns}: the plugins are attached to matching pods in each of them`, 'pluginchain-selector-scope');
}

interface ChainEntry {
  readonly index: number;
  readonly chain: ChainName;
  readonly plugins: ReadonlyArray<{ readonly index: number; readonly name: string }>;
}

function checkChainEntry(out: Findings, entry: unknown, i: number): ChainEntry | undefined {
  const p = `spec.chains[${i}]`;
  // An entry that is not an object names no chain and mounts nothing.
  if (!isRecord(entry)) {
    out.invalid(p, entry, 'must be an object with name and plugins', 'pluginchain-chain');
    return undefined;
  }
  // An unknown chain name (possible with the FSM CRD) matches no mount point: the plugins would silently never run.
  let chain: ChainName | undefined;
  if (entry.name === undefined || entry.name === null || entry.name === '') out.required(`${p}.name`, 'pluginchain-chain-name');
  else if (!isChainName(entry.name)) out.notSupported(`${p}.name`, entry.name, CHAIN_NAMES, 'pluginchain-chain-name');
  else chain = entry.name;
  // A chain entry without plugins mounts nothing; it is always a mistake in the manifest.
  const plugins: Array<{ index: number; name: string }> = [];
  if (checkArray(out, `${p}.plugins`, entry.plugins, 'pluginchain-plugins', { required: true, minItems: 1 })) {
    entry.plugins.forEach((v, j) => {
      const field = `${p}.plugins[${j}]`;
      // A name that cannot be a Plugin name (a cluster object name) can never resolve.
      if (checkRequiredString(out, field, v, 'pluginchain-plugins') && checkDns1123Subdomain(out, field, v, 'pluginchain-plugins'))
        plugins.push({ index: j, name: v });
    });
    // The same plugin twice in one chain runs twice per request.
    checkUnique(out, entry.plugins, (v) => (typeof v === 'string' ? v : undefined), (j) => `${p}.plugins[${j}]`, (v) => v, 'pluginchain-plugins');
  }
  return chain ? { index: i, chain, plugins } : undefined;
}

/**
 * The Plugins other than `self` with this priority that run on `chain`: mounted there by another PluginChain or by
 * this one (`own`), sorted by name. Only equal priorities are looked up (an index), not every plugin of the chain.
 */
function tiedPlugins(ctx: ValidationContext, chain: ChainName, priority: number, self: string, own: ReadonlySet<string>): ChainMember[] {
  const tied = ctx
    .candidates(PLUGIN_BY_PRIORITY, [String(priority)])
    .map(nameOf)
    .filter((name) => name !== self && (own.has(name) || isMountedOn(ctx, chain, name)));
  return pluginMembers(ctx, tied, self).filter((m) => m.priority === priority);
}

function warnChainPlugins(ctx: ValidationContext, out: Findings, entries: readonly ChainEntry[]): void {
  const table = builtinChains(ctx);
  for (const entry of entries) {
    const own = new Set(entries.filter((e) => e.chain === entry.chain).flatMap((e) => e.plugins.map((pl) => pl.name)));
    for (const pl of entry.plugins) {
      const field = `spec.chains[${entry.index}].plugins[${pl.index}]`;
      const plugin = ctx.get('Plugin', '', pl.name);
      // Proxies skip unknown plugin names and retry; not denied because Plugin and PluginChain may be applied in any order.
      if (!plugin) {
        out.warn(field, `Plugin ${pl.name} does not exist: proxies skip it until a Plugin of that name is created`, 'pluginchain-plugin-missing');
        continue;
      }
      const priority = pluginPriority(plugin);
      if (priority === undefined) continue;
      // Equal priorities run in an undefined order at runtime.
      const collision = collisionText(priority, [...table[entry.chain], ...tiedPlugins(ctx, entry.chain, priority, pl.name, own)]);
      if (collision) out.warn(field, `priority ${priority} of Plugin ${pl.name} on ${entry.chain} ${collision}`, 'pluginchain-priority-tie');
    }
  }
}

export function validatePluginChain(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  checkPluginPolicyEnabled(ctx, out);
  // A spec that is not an object cannot be checked field by field: one cause says so.
  const spec = specOf(obj, out, { rule: 'spec-shape' });
  if (!spec) return;
  const entries: ChainEntry[] = [];
  // A PluginChain without chains mounts nothing: its plugins never run.
  if (checkArray(out, 'spec.chains', spec.chains, 'pluginchain-chains', { required: true, minItems: 1 })) {
    spec.chains.forEach((c, i) => {
      const entry = checkChainEntry(out, c, i);
      if (entry) entries.push(entry);
    });
    // Two entries for one chain name make the mount order between them depend on list position only.
    checkUnique(out, spec.chains, (c) => (isRecord(c) && isChainName(c.name) ? c.name : undefined), (i) => `spec.chains[${i}].name`, (c) => asRecord(c).name, 'pluginchain-chain-name');
  }
  checkSelectors(out, spec.selectors, namespaceOf(obj));
  warnChainPlugins(ctx, out, entries);
}

// ---- PluginConfig ------------------------------------------------------------------------------------------------

/** Upper bound of `spec.config` as JSON: it is copied into the sidecar config of every proxy the plugin runs in. */
export const MAX_PLUGIN_CONFIG_BYTES = 64 * 1024;

function checkPluginRef(ctx: ValidationContext, out: Findings, plugin: unknown): string | undefined {
  // A config is for the Plugin it names: without a name it configures nothing.
  if (!checkRequiredString(out, 'spec.plugin', plugin, 'pluginconfig-plugin')) return undefined;
  // The config is skipped silently unless its Plugin exists and some PluginChain mounts it; warn (apply order may race).
  if (!ctx.get('Plugin', '', plugin))
    out.warn('spec.plugin', `Plugin ${plugin} does not exist: this config has no effect until a Plugin of that name is created`, 'pluginconfig-plugin-missing');
  else if (!CHAIN_NAMES.some((chain) => isMountedOn(ctx, chain, plugin)))
    out.warn('spec.plugin', `Plugin ${plugin} is not mounted by any PluginChain: this config has no effect until a chain lists it`, 'pluginconfig-plugin-unmounted');
  return plugin;
}

/** The Services other PluginConfigs configure for `plugin`, keyed `<namespace>/<name>`, with the config's own ref. */
function otherConfigTargets(ctx: ValidationContext, plugin: string): Map<string, string> {
  const targets = new Map<string, string>();
  // in name order, so that of two configs for one Service the message names the same one whatever the listing order
  for (const pc of ctx.candidates(PLUGINCONFIG_BY_PLUGIN, [plugin]).sort(byRef)) {
    const spec = asRecord(pc.spec);
    if (spec.plugin !== plugin) continue;
    for (const r of asArray(spec.destinationRefs)) {
      const ref = asRecord(r);
      if (ref.kind === 'Service' && typeof ref.namespace === 'string' && typeof ref.name === 'string')
        targets.set(`${ref.namespace}/${ref.name}`, `${namespaceOf(pc)}/${nameOf(pc)}`);
    }
  }
  return targets;
}

/** A Service name or namespace of a destination ref: required, and a DNS-1123 label (or it can never match). */
function checkRefName(out: Findings, field: string, v: unknown, detail?: string): boolean {
  if (v === undefined || v === null || v === '') {
    out.required(field, 'pluginconfig-destination', detail);
    return false;
  }
  return checkDns1123Label(out, field, v, 'pluginconfig-destination');
}

function checkDestinationRefs(ctx: ValidationContext, out: Findings, refs: unknown, plugin: string | undefined): void {
  // With no destination the config is attached to nothing: the PluginConfig is dead on arrival.
  if (!checkArray(out, 'spec.destinationRefs', refs, 'pluginconfig-destination', { required: true, minItems: 1 })) return;
  const others = plugin ? otherConfigTargets(ctx, plugin) : new Map<string, string>();
  refs.forEach((r, i) => {
    const p = `spec.destinationRefs[${i}]`;
    if (!isRecord(r)) {
      out.invalid(p, r, 'must be an object reference with kind, name and namespace', 'pluginconfig-destination');
      return;
    }
    // The controller uses only refs of kind Service; any other kind is silently ignored.
    let kindOk = false;
    if (r.kind === undefined || r.kind === null || r.kind === '') out.required(`${p}.kind`, 'pluginconfig-destination', 'must be Service');
    else if (r.kind !== 'Service') out.notSupported(`${p}.kind`, r.kind, ['Service'], 'pluginconfig-destination');
    else kindOk = true;
    const nameOk = checkRefName(out, `${p}.name`, r.name);
    // The ref is matched as given: an empty namespace is not defaulted to the PluginConfig's and matches no Service.
    const nsOk = checkRefName(out, `${p}.namespace`, r.namespace, "the Service's namespace; it is not defaulted to the PluginConfig's namespace");
    if (!kindOk || !nameOk || !nsOk) return;
    const name = r.name as string;
    const ns = r.namespace as string;
    // Until the Service exists the config reaches no proxy (not denied: apply order may race).
    if (!ctx.get('Service', ns, name)) out.warn(p, `Service ${ns}/${name} does not exist: this config reaches no proxy until it is created`, 'pluginconfig-service-missing');
    // Two configs for one plugin and Service: the sidecar keeps only one of them, which one is undefined.
    const other = others.get(`${ns}/${name}`);
    if (other)
      out.warn(p, `PluginConfig ${other} also configures Plugin ${plugin} for Service ${ns}/${name}: only one of the two configs takes effect`, 'pluginconfig-overlap');
  });
}

function checkConfig(out: Findings, config: unknown): void {
  if (config === undefined || config === null) {
    out.required('spec.config', 'pluginconfig-config', 'the plugin\'s configuration object (use {} for none)');
    return;
  }
  // The sidecar hands the config to the plugin as a JSON object; a scalar or a list breaks scripts that read fields.
  if (!isRecord(config)) {
    out.invalid('spec.config', config, 'must be an object (it reaches the plugin as a JSON object)', 'pluginconfig-config');
    return;
  }
  // Every proxy the plugin runs in receives the config in its sidecar configuration: keep it small.
  const bytes = Buffer.byteLength(JSON.stringify(config), 'utf8');
  if (bytes > MAX_PLUGIN_CONFIG_BYTES)
    out.invalid('spec.config', config, `must be at most ${MAX_PLUGIN_CONFIG_BYTES} bytes as JSON, is ${bytes} bytes`, 'pluginconfig-config');
}

export function validatePluginConfig(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  checkPluginPolicyEnabled(ctx, out);
  // A spec that is not an object cannot be checked field by field: one cause says so.
  const spec = specOf(obj, out, { rule: 'spec-shape' });
  if (!spec) return;
  const plugin = checkPluginRef(ctx, out, spec.plugin);
  checkDestinationRefs(ctx, out, spec.destinationRefs, plugin);
  checkConfig(out, spec.config);
}
