// Interception settings of one pod: what the init container's iptables script excludes from / includes in the
// sidecar's traffic capture (docs/injection.md#annotations-that-tune-interception). Pure: parses the pod annotations
// and the MeshConfig spec, merges them as the Go injector does, and reports every bad item instead of stopping at the
// first.
//
// Everything accepted here ends up inside a shell heredoc (iptables.ts), so the accepted alphabets are deliberately
// narrow: ports are ASCII digits, CIDRs are what parseCidr accepts (hex digits, '.', ':', '/'), interface names match
// INTERFACE_NAME_RE. None of them can contain '$', '`', '\\', whitespace or a newline.
import type { Flavor } from '../mesh/flavor.js';
import { isRecord } from '../mesh/objects.js';
import { parseCidr } from '../mesh/cidr.js';

export type LocalProxyMode = 'Localhost' | 'PodIP';

export interface InterceptionSettings {
  /** 'FSM' | 'OSM': chain names are `<chainPrefix>_PROXY_*` */
  chainPrefix: string;
  /** merged: global (MeshConfig) first, then pod; de-duplicated */
  outboundPortExclusions: number[];
  /** merged: global (MeshConfig) first, then pod; de-duplicated */
  inboundPortExclusions: number[];
  /** merged: pod first, then global; de-duplicated by exact string; IPv4 and IPv6 */
  outboundIPRangeExclusions: string[];
  /** merged: pod first, then global; de-duplicated by exact string; IPv4 and IPv6 */
  outboundIPRangeInclusions: string[];
  /** MeshConfig only */
  networkInterfaceExclusions: string[];
  localProxyMode: LocalProxyMode;
  /** osm-edge flavor only: adds the UDP DNS DNAT rule */
  localDnsProxy: boolean;
}

/**
 * Interface names go into the init container's shell script. 15 = IFNAMSIZ - 1. The alphabet excludes every
 * character the shell or iptables-restore treats specially (spaces, quotes, '$', '`', '\\', ';', newlines).
 */
export const INTERFACE_NAME_RE = /^[A-Za-z0-9_.:-]{1,15}$/;

/** The four pod annotation keys of this flavor. */
export function interceptionAnnotationKeys(flavor: Flavor): {
  outboundPortExclusion: string;
  inboundPortExclusion: string;
  outboundIPRangeExclusion: string;
  outboundIPRangeInclusion: string;
} {
  const d = flavor.domain;
  return {
    outboundPortExclusion: `${d}/outbound-port-exclusion-list`,
    inboundPortExclusion: `${d}/inbound-port-exclusion-list`,
    outboundIPRangeExclusion: `${d}/outbound-ip-range-exclusion-list`,
    outboundIPRangeInclusion: `${d}/outbound-ip-range-inclusion-list`,
  };
}

export interface Parsed<T> {
  /** the valid items, in order (duplicates kept; the merge collapses them) */
  values: T[];
  /** one message per bad item */
  errors: string[];
}

/** A port as a plain decimal string: no sign, no spaces, no exponent, no hex. */
const PORT_TEXT_RE = /^[0-9]+$/;

function portFromText(item: string): number | undefined {
  if (!PORT_TEXT_RE.test(item)) return undefined;
  const n = Number(item);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** How an offending MeshConfig value is shown where a string was expected: strings as they are, others as JSON. */
function show(v: unknown): string {
  return typeof v === 'string' ? v : json(v);
}

/** Where the type itself is wrong, strings are quoted so `"true"` or `"443"` do not read like valid values. */
function json(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * A port-list annotation (TestGetPortExclusionListForPod). Absent → no ports. Each comma-separated item is trimmed
 * and must be a decimal port 1–65535. Unlike the Go `strconv.Atoi` check, "+80" and values above 65535 are errors
 * (a port > 65535 made iptables-restore fail in the init container: crash-loop instead of a denial).
 */
export function parsePortListAnnotation(annotations: Record<string, string> | undefined, key: string): Parsed<number> {
  const values: number[] = [];
  const errors: string[] = [];
  const raw = annotations?.[key];
  if (raw === undefined) return { values, errors };
  // An empty value or a trailing comma yields an empty item: reported like any other bad item, as the Go code does.
  for (const part of String(raw).split(',')) {
    const item = part.trim();
    const port = portFromText(item);
    if (port === undefined) errors.push(`Invalid port value '${item}' specified for annotation '${key}'`);
    else values.push(port);
  }
  return { values, errors };
}

/**
 * A CIDR-list annotation (TestGetOutboundIPRangeListForPod). Absent → no ranges. Each item is trimmed and must be an
 * IPv4 or IPv6 CIDR; a bare IP is an error (as with Go's net.ParseCIDR). The trimmed text is kept as written.
 */
export function parseIPRangeListAnnotation(annotations: Record<string, string> | undefined, key: string): Parsed<string> {
  const values: string[] = [];
  const errors: string[] = [];
  const raw = annotations?.[key];
  if (raw === undefined) return { values, errors };
  for (const part of String(raw).split(',')) {
    const item = part.trim();
    if (parseCidr(item)) values.push(item);
    else errors.push(`Invalid IP range '${item}' specified for annotation '${key}'`);
  }
  return { values, errors };
}

/** Order-preserving de-duplication (exact equality). */
function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

/** Ports: global (MeshConfig) first, then pod; duplicates collapse (TestMergePortExclusionLists). */
export function mergePortExclusionLists(global: readonly number[] | undefined, pod: readonly number[] | undefined): number[] {
  return unique([...(global ?? []), ...(pod ?? [])]);
}

/** CIDRs: pod first, then global; duplicates (same string) collapse (TestMergeIPRangeLists). */
export function mergeIPRangeLists(pod: readonly string[] | undefined, global: readonly string[] | undefined): string[] {
  return unique([...(pod ?? []), ...(global ?? [])]);
}

const TRAFFIC_PORT_LISTS = ['outboundPortExclusionList', 'inboundPortExclusionList'] as const;
const TRAFFIC_CIDR_LISTS = ['outboundIPRangeExclusionList', 'outboundIPRangeInclusionList'] as const;

/** A MeshConfig list field: absent/null → empty; anything but an array → one error. */
function meshConfigList(parent: Record<string, unknown> | undefined, key: string, path: string, errors: string[]): unknown[] {
  const v = parent?.[key];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  errors.push(`Invalid value '${json(v)}' for MeshConfig ${path}: must be a list`);
  return [];
}

/** A MeshConfig section (`spec.traffic`, `spec.sidecar`, ...): absent/null → undefined; a non-object → one error. */
function meshConfigSection(parent: Record<string, unknown> | undefined, key: string, path: string, errors: string[]): Record<string, unknown> | undefined {
  const v = parent?.[key];
  if (v === undefined || v === null) return undefined;
  if (isRecord(v)) return v;
  errors.push(`Invalid value '${json(v)}' for MeshConfig ${path}: must be an object`);
  return undefined;
}

interface GlobalSettings {
  outboundPortExclusionList: number[];
  inboundPortExclusionList: number[];
  outboundIPRangeExclusionList: string[];
  outboundIPRangeInclusionList: string[];
  networkInterfaceExclusionList: string[];
  localProxyMode: LocalProxyMode;
  localDnsProxyEnabled: boolean;
}

/** The MeshConfig part. Bad values are errors, not silently dropped: they would otherwise fail every pod's init. */
export function parseMeshConfigInterception(meshConfigSpec: Record<string, unknown> | undefined): { global: GlobalSettings; errors: string[] } {
  const errors: string[] = [];
  const global: GlobalSettings = {
    outboundPortExclusionList: [],
    inboundPortExclusionList: [],
    outboundIPRangeExclusionList: [],
    outboundIPRangeInclusionList: [],
    networkInterfaceExclusionList: [],
    localProxyMode: 'Localhost',
    localDnsProxyEnabled: false,
  };
  const spec = isRecord(meshConfigSpec) ? meshConfigSpec : undefined;

  const traffic = meshConfigSection(spec, 'traffic', 'spec.traffic', errors);
  for (const key of TRAFFIC_PORT_LISTS) {
    const path = `spec.traffic.${key}`;
    meshConfigList(traffic, key, path, errors).forEach((v, i) => {
      if (isPort(v)) global[key].push(v);
      else errors.push(`Invalid port value '${json(v)}' in MeshConfig ${path}[${i}]: must be an integer 1-65535`);
    });
  }
  for (const key of TRAFFIC_CIDR_LISTS) {
    const path = `spec.traffic.${key}`;
    meshConfigList(traffic, key, path, errors).forEach((v, i) => {
      if (typeof v === 'string' && parseCidr(v)) global[key].push(v);
      else errors.push(`Invalid IP range '${show(v)}' in MeshConfig ${path}[${i}]: must be an IPv4 or IPv6 CIDR`);
    });
  }
  {
    const path = 'spec.traffic.networkInterfaceExclusionList';
    meshConfigList(traffic, 'networkInterfaceExclusionList', path, errors).forEach((v, i) => {
      // Pasted into the init container's shell script: anything outside the narrow alphabet is refused here.
      if (typeof v === 'string' && INTERFACE_NAME_RE.test(v)) global.networkInterfaceExclusionList.push(v);
      else errors.push(`Invalid network interface name '${show(v)}' in MeshConfig ${path}[${i}]: must match ${INTERFACE_NAME_RE.source}`);
    });
  }

  const sidecar = meshConfigSection(spec, 'sidecar', 'spec.sidecar', errors);
  const mode = sidecar?.localProxyMode;
  // "" is what Go's zero value decodes to and behaves as Localhost there.
  if (mode === 'PodIP') global.localProxyMode = 'PodIP';
  else if (mode !== undefined && mode !== null && mode !== '' && mode !== 'Localhost')
    errors.push(`Invalid value '${show(mode)}' for MeshConfig spec.sidecar.localProxyMode: must be Localhost or PodIP`);
  const dns = meshConfigSection(sidecar, 'localDNSProxy', 'spec.sidecar.localDNSProxy', errors);
  const enable = dns?.enable;
  if (enable === true) global.localDnsProxyEnabled = true;
  else if (enable !== undefined && enable !== null && enable !== false)
    errors.push(`Invalid value '${json(enable)}' for MeshConfig spec.sidecar.localDNSProxy.enable: must be a boolean`);

  return { global, errors };
}

/**
 * The interception settings of one pod. `errors` lists every bad annotation item and MeshConfig value (one string
 * each); when it is non-empty the caller must deny (annotations) or refuse to inject, and `settings` holds only the
 * valid items. Annotation errors come first, in the order outbound ports, inbound ports, exclusions, inclusions.
 */
export function resolveInterception(
  flavor: Flavor,
  podAnnotations: Record<string, string> | undefined,
  meshConfigSpec: Record<string, unknown> | undefined,
): { settings: InterceptionSettings; errors: string[] } {
  const keys = interceptionAnnotationKeys(flavor);
  const outPorts = parsePortListAnnotation(podAnnotations, keys.outboundPortExclusion);
  const inPorts = parsePortListAnnotation(podAnnotations, keys.inboundPortExclusion);
  const exclusions = parseIPRangeListAnnotation(podAnnotations, keys.outboundIPRangeExclusion);
  const inclusions = parseIPRangeListAnnotation(podAnnotations, keys.outboundIPRangeInclusion);
  const { global, errors: meshErrors } = parseMeshConfigInterception(meshConfigSpec);

  const settings: InterceptionSettings = {
    chainPrefix: flavor.prefix.toUpperCase(),
    outboundPortExclusions: mergePortExclusionLists(global.outboundPortExclusionList, outPorts.values),
    inboundPortExclusions: mergePortExclusionLists(global.inboundPortExclusionList, inPorts.values),
    outboundIPRangeExclusions: mergeIPRangeLists(exclusions.values, global.outboundIPRangeExclusionList),
    outboundIPRangeInclusions: mergeIPRangeLists(inclusions.values, global.outboundIPRangeInclusionList),
    networkInterfaceExclusions: unique(global.networkInterfaceExclusionList),
    localProxyMode: global.localProxyMode,
    // FSM has no DNS DNAT rule: it points the pod's resolver at the controller instead (docs/injection.md#classic-mode).
    localDnsProxy: flavor.name === 'osm-edge' && global.localDnsProxyEnabled,
  };
  const errors = [...outPorts.errors, ...inPorts.errors, ...exclusions.errors, ...inclusions.errors, ...meshErrors];
  return { settings, errors };
}
