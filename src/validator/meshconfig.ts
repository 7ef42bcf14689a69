// MeshConfig (config.flomesh.io / config.openservicemesh.io). Neither mesh has a webhook for it, and the FSM CRD has
// almost no constraints, yet a bad value here reaches every proxy of the mesh at once. Only the constraints
// whose violation silently breaks traffic are re-checked.
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { checkArray, checkCidr, checkIntRange, checkPort, checkRequiredString, checkUnique } from './checks.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { CHAIN_NAMES, PRIORITY_MAX, PRIORITY_MIN, collisionText, isChainName, mountedOn, pluginMembers, type ChainMember } from './plugin.js';

/** Union of the osm-edge CRD enum and the FSM levels, so a MeshConfig valid for either flavor passes. */
const SIDECAR_LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off', 'fatal', 'panic', 'disabled'] as const;

const PORT_LISTS = ['inboundPortExclusionList', 'outboundPortExclusionList'] as const;
const CIDR_LISTS = ['outboundIPRangeExclusionList', 'outboundIPRangeInclusionList', 'inboundIPRangeExclusionList', 'inboundIPRangeInclusionList'] as const;

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** A nested section of the spec as a map; absent is fine, a non-object is one cause. */
function section(out: Findings, parent: Record<string, unknown>, key: string, field: string): Record<string, unknown> | undefined {
  const v = parent[key];
  if (!present(v)) return undefined;
  if (isRecord(v)) return v;
  // A section that is not an object cannot be decoded by the controller, which then cannot read the MeshConfig at all.
  out.invalid(field, v, 'must be an object', 'meshconfig-shape');
  return undefined;
}

function checkOptionalPort(out: Findings, parent: Record<string, unknown> | undefined, field: string, rule: string): void {
  if (parent && present(parent.port)) checkPort(out, field, parent.port, rule);
}

function checkChainEntries(out: Findings, chain: (typeof CHAIN_NAMES)[number], entries: unknown[], mounted: readonly ChainMember[]): void {
  const p = `spec.pluginChains.${chain}`;
  const enabled: ChainMember[] = [];
  entries.forEach((e, i) => {
    const ep = `${p}[${i}]`;
    if (!isRecord(e)) {
      out.invalid(ep, e, 'must be an object with plugin, priority and disable', 'meshconfig-plugin-chain');
      return;
    }
    // The controller loads `<plugin>.js` from the repo: an entry without a name breaks the whole chain.
    const pluginOk = checkRequiredString(out, `${ep}.plugin`, e.plugin, 'meshconfig-plugin-chain');
    let priorityOk = false;
    if (!present(e.priority)) out.required(`${ep}.priority`, 'meshconfig-plugin-chain');
    // Same range as Plugin priorities: both are sorted together in one chain, and no CRD bounds this one either.
    else priorityOk = checkIntRange(out, `${ep}.priority`, e.priority, PRIORITY_MIN, PRIORITY_MAX, 'plugin-priority-range');
    // A non-boolean `disable` cannot be decoded by the controller, which then cannot read the MeshConfig at all.
    if (present(e.disable) && typeof e.disable !== 'boolean') out.invalid(`${ep}.disable`, e.disable, 'must be a boolean', 'meshconfig-plugin-chain');
    if (!pluginOk || !priorityOk || e.disable === true) return;
    const member = { name: e.plugin as string, priority: e.priority as number };
    // Equal priorities run in an undefined order, between modules and against the Plugins mounted on the chain.
    const collision = collisionText(member.priority, [...enabled, ...mounted]);
    if (collision) out.warn(`${ep}.priority`, `${member.priority} on ${chain} ${collision}`, 'meshconfig-priority-tie');
    enabled.push(member);
  });
  // The same module twice runs twice per connection or request.
  checkUnique(out, entries, (e) => (isRecord(e) && typeof e.plugin === 'string' && e.plugin ? e.plugin : undefined), (i) => `${p}[${i}].plugin`, (e) => (isRecord(e) ? e.plugin : e), 'meshconfig-plugin-chain');
}

function checkPluginChains(ctx: ValidationContext, out: Findings, spec: Record<string, unknown>): void {
  const chains = section(out, spec, 'pluginChains', 'spec.pluginChains');
  if (!chains) return;
  for (const [chain, entries] of Object.entries(chains)) {
    // Any other key matches no mount point of the sidecar: its modules would silently never run.
    if (!isChainName(chain)) {
      out.notSupported('spec.pluginChains', chain, CHAIN_NAMES, 'meshconfig-plugin-chain');
      continue;
    }
    if (!checkArray(out, `spec.pluginChains.${chain}`, entries, 'meshconfig-plugin-chain')) continue;
    checkChainEntries(out, chain, entries, pluginMembers(ctx, mountedOn(ctx, chain), ''));
  }
}

function checkSidecar(out: Findings, spec: Record<string, unknown>): void {
  const sidecar = section(out, spec, 'sidecar', 'spec.sidecar');
  if (!sidecar) return;
  // The level reaches every sidecar as given and the FSM CRD has no enum: a misspelling misconfigures all proxies.
  const level = sidecar.logLevel;
  if (present(level) && !(typeof level === 'string' && (SIDECAR_LOG_LEVELS as readonly string[]).includes(level)))
    out.notSupported('spec.sidecar.logLevel', level, SIDECAR_LOG_LEVELS, 'meshconfig-log-level');
  // Sidecars dial the controller on this port: out of range, no proxy ever gets its configuration.
  const drivers = sidecar.sidecarDrivers;
  if (checkArray(out, 'spec.sidecar.sidecarDrivers', drivers, 'meshconfig-port'))
    drivers.forEach((d, i) => {
      if (isRecord(d) && present(d.proxyServerPort)) checkPort(out, `spec.sidecar.sidecarDrivers[${i}].proxyServerPort`, d.proxyServerPort, 'meshconfig-port');
    });
}

function checkTraffic(out: Findings, spec: Record<string, unknown>): void {
  const traffic = section(out, spec, 'traffic', 'spec.traffic');
  if (!traffic) return;
  // The init container turns these lists into iptables rules; one bad entry fails pod start-up mesh-wide.
  for (const key of PORT_LISTS) {
    const list = traffic[key];
    if (checkArray(out, `spec.traffic.${key}`, list, 'meshconfig-port')) list.forEach((v, i) => checkPort(out, `spec.traffic.${key}[${i}]`, v, 'meshconfig-port'));
  }
  // The same for the address ranges: one invalid CIDR makes iptables-restore fail in every injected pod.
  for (const key of CIDR_LISTS) {
    const list = traffic[key];
    if (checkArray(out, `spec.traffic.${key}`, list, 'meshconfig-cidr')) list.forEach((v, i) => checkCidr(out, `spec.traffic.${key}[${i}]`, v, 'meshconfig-cidr'));
  }
  // Every inbound request is authorized against this port when external authorization is on.
  checkOptionalPort(out, section(out, traffic, 'inboundExternalAuthorization', 'spec.traffic.inboundExternalAuthorization'), 'spec.traffic.inboundExternalAuthorization.port', 'meshconfig-port');
}

function checkObservability(out: Findings, spec: Record<string, unknown>): void {
  const observability = section(out, spec, 'observability', 'spec.observability');
  if (!observability) return;
  // Sidecars export spans and logs to these ports; out of range, the exporters fail in every proxy.
  checkOptionalPort(out, section(out, observability, 'tracing', 'spec.observability.tracing'), 'spec.observability.tracing.port', 'meshconfig-port');
  checkOptionalPort(out, section(out, observability, 'remoteLogging', 'spec.observability.remoteLogging'), 'spec.observability.remoteLogging.port', 'meshconfig-port');
}

function checkFeatureFlags(out: Findings, spec: Record<string, unknown>): void {
  const flags = section(out, spec, 'featureFlags', 'spec.featureFlags');
  if (!flags) return;
  // A string such as "false" cannot be decoded by the controller, which then cannot read the MeshConfig at all.
  for (const [key, v] of Object.entries(flags)) if (present(v) && typeof v !== 'boolean') out.invalid(`spec.featureFlags.${key}`, v, 'must be a boolean', 'meshconfig-feature-flag');
}

export function validateMeshConfig(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  // A spec that is not an object cannot be checked field by field: one cause says so.
  if (present(obj.spec) && !isRecord(obj.spec)) {
    out.invalid('spec', obj.spec, 'must be an object', 'spec-shape');
    return;
  }
  const spec = isRecord(obj.spec) ? obj.spec : {};
  checkPluginChains(ctx, out, spec);
  checkSidecar(out, spec);
  checkTraffic(out, spec);
  checkObservability(out, spec);
  checkFeatureFlags(out, spec);
}
