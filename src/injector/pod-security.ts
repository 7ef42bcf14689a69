// Pod Security admission, predicted for what the injection adds. The API server's PodSecurity plugin judges the pod
// after every mutating webhook: a pod in a namespace labelled `pod-security.kubernetes.io/enforce=baseline` is refused
// a moment after this server injected it (and a Deployment's pods never appear, the reason only in the ReplicaSet's
// events). Deciding here, from the same labels and the same rules, lets the webhook refuse with the reason and the ways
// out, `warn` give a warning, and `explain` and the audit say so before anything is applied.
//
// Only the containers the injection adds are judged, in the context of the pod's own pod-level fields (a pod-level
// runAsNonRoot or seccomp profile covers our containers too): whatever the pod itself breaks is the user's, and the
// API server says it in its own words. The rules are Kubernetes' own (the pod-security-admission policy checks), for
// the fields an injected container can carry: privileged and added capabilities (baseline); privilege escalation,
// dropped capabilities, runAsNonRoot, runAsUser 0 and the seccomp profile (restricted), each from the version it
// appeared in, with the reasons and details worded as the API server words them, and in its order. Pure: no I/O.
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { isRecord, type KubeObject } from '../mesh/objects.js';

export const POD_SECURITY_LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type PodSecurityLevel = (typeof POD_SECURITY_LEVELS)[number];
export const POD_SECURITY_MODES = ['enforce', 'warn', 'audit'] as const;
export type PodSecurityMode = (typeof POD_SECURITY_MODES)[number];

/** A level at a version of its rules: `latest`, or the minor version of `v1.<minor>`. */
export interface LevelVersion {
  readonly level: PodSecurityLevel;
  readonly version: 'latest' | number;
}

/**
 * The cluster's defaults for namespaces without the labels. Set in the API server's admission configuration, they are
 * invisible to a webhook, so the operator states them (`--pod-security-default`); unset modes are `privileged:latest`,
 * as in Kubernetes.
 */
export type PodSecurityDefaults = Readonly<Partial<Record<PodSecurityMode, LevelVersion>>>;

export type PodSecurityPolicy = Readonly<Record<PodSecurityMode, LevelVersion>>;

export const PRIVILEGED_LATEST: LevelVersion = { level: 'privileged', version: 'latest' };

export const levelLabel = (mode: PodSecurityMode): string => `pod-security.kubernetes.io/${mode}`;
export const versionLabel = (mode: PodSecurityMode): string => `pod-security.kubernetes.io/${mode}-version`;

export function levelVersionText(lv: LevelVersion): string {
  return `${lv.level}:${lv.version === 'latest' ? 'latest' : `v1.${lv.version}`}`;
}

const isLevel = (v: string): v is PodSecurityLevel => (POD_SECURITY_LEVELS as readonly string[]).includes(v);

/** `latest` or `v1.<minor>`, as Kubernetes parses it; undefined when it is neither. */
export function parseVersion(v: string): LevelVersion['version'] | undefined {
  if (v === 'latest') return 'latest';
  const m = /^v1\.(0|[1-9][0-9]*)$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** `LEVEL` or `LEVEL:VERSION` (a flag's value); undefined when not one of those. */
export function parseLevelVersion(v: string): LevelVersion | undefined {
  const [level = '', version = 'latest', ...rest] = v.split(':');
  const parsed = parseVersion(version);
  return isLevel(level) && parsed !== undefined && rest.length === 0 ? { level, version: parsed } : undefined;
}

/**
 * The namespace's policy as Kubernetes resolves it: each mode's label over the default; an unparsable enforce level is
 * `restricted` (fail closed), an unparsable warn or audit level `privileged` (fail open), an unparsable version
 * `latest`.
 */
export function namespacePolicy(namespace: KubeObject | undefined, defaults: PodSecurityDefaults = {}): PodSecurityPolicy {
  const labels = isRecord(namespace?.metadata?.labels) ? namespace.metadata.labels : {};
  const resolve = (mode: PodSecurityMode): LevelVersion => {
    const base = defaults[mode] ?? PRIVILEGED_LATEST;
    const levelValue = labels[levelLabel(mode)];
    const versionValue = labels[versionLabel(mode)];
    const level = typeof levelValue !== 'string' ? base.level : isLevel(levelValue) ? levelValue : mode === 'enforce' ? 'restricted' : 'privileged';
    const version = typeof versionValue !== 'string' ? base.version : (parseVersion(versionValue) ?? 'latest');
    return { level, version };
  };
  return { enforce: resolve('enforce'), warn: resolve('warn'), audit: resolve('audit') };
}

/** One failed check, as the API server reports it: `<reason> (<detail>)`. */
export interface Violation {
  readonly reason: string;
  readonly detail: string;
  /** the injected containers it names */
  readonly containers: readonly string[];
}

export const violationText = (v: Violation): string => `${v.reason} (${v.detail})`;

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

const quote = (xs: readonly string[]): string => xs.map((x) => JSON.stringify(x)).join(', ');
const containerWord = (xs: readonly string[]): string => `${xs.length === 1 ? 'container' : 'containers'} ${quote(xs)}`;
const applies = (version: LevelVersion['version'], minor: number): boolean => version === 'latest' || version >= minor;
const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

interface Context {
  readonly containers: readonly V1Container[];
  readonly pod: V1PodSpec['securityContext'];
  /** from v1.25, some restricted checks do not apply to Windows pods (the fields do not exist there) */
  readonly windows: boolean;
  readonly version: LevelVersion['version'];
}

type Check = (c: Context) => Violation | undefined;

const names = (cs: readonly V1Container[]): string[] => cs.map((c) => c.name);

const privileged: Check = ({ containers }) => {
  const bad = names(containers.filter((c) => c.securityContext?.privileged === true));
  return bad.length ? { reason: 'privileged', detail: `${containerWord(bad)} must not set securityContext.privileged=true`, containers: bad } : undefined;
};

const capabilitiesBaseline: Check = ({ containers }) => {
  const added = new Set<string>();
  const bad = names(
    containers.filter((c) => {
      const extra = (c.securityContext?.capabilities?.add ?? []).filter((cap) => !BASELINE_CAPABILITIES.has(cap));
      extra.forEach((cap) => added.add(cap));
      return extra.length > 0;
    }),
  );
  return bad.length ? { reason: 'non-default capabilities', detail: `${containerWord(bad)} must not include ${quote(sorted(added))} in securityContext.capabilities.add`, containers: bad } : undefined;
};

const allowPrivilegeEscalation: Check = ({ containers, windows, version }) => {
  if (windows && applies(version, 25)) return undefined;
  const bad = names(containers.filter((c) => c.securityContext?.allowPrivilegeEscalation !== false));
  return bad.length ? { reason: 'allowPrivilegeEscalation != false', detail: `${containerWord(bad)} must set securityContext.allowPrivilegeEscalation=false`, containers: bad } : undefined;
};

const capabilitiesRestricted: Check = ({ containers, windows, version }) => {
  if (!applies(version, 22) || (windows && applies(version, 25))) return undefined;
  const missingDrop = names(containers.filter((c) => !(c.securityContext?.capabilities?.drop ?? []).includes('ALL')));
  const forbidden = new Set<string>();
  const adding = names(
    containers.filter((c) => {
      const extra = (c.securityContext?.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
      extra.forEach((cap) => forbidden.add(cap));
      return extra.length > 0;
    }),
  );
  const details = [
    ...(missingDrop.length ? [`${containerWord(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`] : []),
    ...(adding.length ? [`${containerWord(adding)} must not include ${quote(sorted(forbidden))} in securityContext.capabilities.add`] : []),
  ];
  return details.length ? { reason: 'unrestricted capabilities', detail: details.join('; '), containers: sorted([...missingDrop, ...adding]) } : undefined;
};

const runAsNonRoot: Check = ({ containers, pod }) => {
  const podNonRoot = pod?.runAsNonRoot === true;
  const explicit = names(containers.filter((c) => c.securityContext?.runAsNonRoot === false));
  if (explicit.length) return { reason: 'runAsNonRoot != true', detail: `${containerWord(explicit)} must not set securityContext.runAsNonRoot=false`, containers: explicit };
  const implicit = podNonRoot ? [] : names(containers.filter((c) => c.securityContext?.runAsNonRoot === undefined));
  return implicit.length ? { reason: 'runAsNonRoot != true', detail: `pod or ${containerWord(implicit)} must set securityContext.runAsNonRoot=true`, containers: implicit } : undefined;
};

const runAsUser: Check = ({ containers, version }) => {
  if (!applies(version, 23)) return undefined;
  const bad = names(containers.filter((c) => c.securityContext?.runAsUser === 0));
  return bad.length ? { reason: 'runAsUser=0', detail: `${containerWord(bad)} must not set runAsUser=0`, containers: bad } : undefined;
};

const validSeccomp = (type: string | undefined): boolean => type === 'RuntimeDefault' || type === 'Localhost';

const seccompRestricted: Check = ({ containers, pod, windows, version }) => {
  if (windows && applies(version, 25)) return undefined;
  const podSet = pod?.seccompProfile !== undefined && validSeccomp(pod.seccompProfile.type);
  const explicit = containers.filter((c) => c.securityContext?.seccompProfile !== undefined && !validSeccomp(c.securityContext.seccompProfile.type));
  if (explicit.length)
    return { reason: 'seccompProfile', detail: `${containerWord(names(explicit))} must not set securityContext.seccompProfile.type to ${quote(sorted(explicit.map((c) => c.securityContext?.seccompProfile?.type ?? '')))}`, containers: names(explicit) };
  const implicit = podSet ? [] : names(containers.filter((c) => c.securityContext?.seccompProfile === undefined));
  return implicit.length ? { reason: 'seccompProfile', detail: `pod or ${containerWord(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`, containers: implicit } : undefined;
};

// The API server's order: baseline checks, then at baseline the ones restricted replaces (added capabilities), else
// the restricted checks; each group in the order of the checks' names.
const BASELINE: readonly Check[] = [privileged];
const BASELINE_ONLY: readonly Check[] = [capabilitiesBaseline];
const RESTRICTED: readonly Check[] = [allowPrivilegeEscalation, capabilitiesRestricted, runAsNonRoot, runAsUser, seccompRestricted];

/**
 * The checks of `lv` that the added containers fail, in the pod's context (its pod-level securityContext and OS).
 * Empty at `privileged`, and when the added containers meet the level.
 */
export function injectedViolations(podSpec: Record<string, unknown>, added: readonly V1Container[], lv: LevelVersion): Violation[] {
  if (lv.level === 'privileged' || added.length === 0) return [];
  const pod = isRecord(podSpec.securityContext) ? (podSpec.securityContext as V1PodSpec['securityContext']) : undefined;
  const windows = isRecord(podSpec.os) && podSpec.os.name === 'windows';
  const ctx: Context = { containers: added, pod, windows, version: lv.version };
  const checks = lv.level === 'baseline' ? [...BASELINE, ...BASELINE_ONLY] : [...BASELINE, ...RESTRICTED];
  return checks.map((check) => check(ctx)).filter((v): v is Violation => v !== undefined);
}

/** What each mode of the namespace's policy says of the injected pod: only the modes whose level the added containers fail. */
export type PodSecurityVerdict = Readonly<Partial<Record<PodSecurityMode, { readonly level: LevelVersion; readonly violations: readonly Violation[] }>>>;

export function podSecurityVerdict(policy: PodSecurityPolicy, podSpec: Record<string, unknown>, added: readonly V1Container[]): PodSecurityVerdict {
  const out: Partial<Record<PodSecurityMode, { level: LevelVersion; violations: Violation[] }>> = {};
  for (const mode of POD_SECURITY_MODES) {
    const violations = injectedViolations(podSpec, added, policy[mode]);
    if (violations.length) out[mode] = { level: policy[mode], violations };
  }
  return out;
}

/** The strictest level the added containers meet: the namespace level to suggest as a way out. */
export function strictestLevelAllowing(podSpec: Record<string, unknown>, added: readonly V1Container[]): PodSecurityLevel {
  if (injectedViolations(podSpec, added, { level: 'restricted', version: 'latest' }).length === 0) return 'restricted';
  return injectedViolations(podSpec, added, { level: 'baseline', version: 'latest' }).length === 0 ? 'baseline' : 'privileged';
}

/** The API server's words for a refusal, after `violates PodSecurity`. */
export function violatesText(level: LevelVersion, violations: readonly Violation[]): string {
  return `violates PodSecurity "${levelVersionText(level)}": ${violations.map(violationText).join(', ')}`;
}
