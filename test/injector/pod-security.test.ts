// Pod Security predicted for the injected containers: the namespace labels as Kubernetes resolves them, and a table
// over each level, version, interception, flavor, sidecar mode and pod context, through the injector's entry point,
// with the exact answer each gets.
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import { injectPod, type InjectionPlan } from '../../src/injector/inject.js';
import { injectedViolations, namespacePolicy, parseLevelVersion, strictestLevelAllowing, type PodSecurityDefaults } from '../../src/injector/pod-security.js';
import { meshIdentity, type FlavorName } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { meshConfigObject, namespace, pod, UUID } from './helpers.js';

const PSA = 'pod-security.kubernetes.io';

describe('the namespace policy, as Kubernetes resolves the labels', () => {
  const ns = (labels: Record<string, string>): KubeObject => namespace('apps', { labels });

  it('reads each mode\'s level and version; an unlabelled mode takes the default, privileged:latest unless told', () => {
    expect(namespacePolicy(ns({}))).toEqual({ enforce: { level: 'privileged', version: 'latest' }, warn: { level: 'privileged', version: 'latest' }, audit: { level: 'privileged', version: 'latest' } });
    expect(namespacePolicy(ns({ [`${PSA}/enforce`]: 'baseline', [`${PSA}/enforce-version`]: 'v1.27', [`${PSA}/warn`]: 'restricted', [`${PSA}/audit`]: 'restricted', [`${PSA}/audit-version`]: 'latest' }))).toEqual({
      enforce: { level: 'baseline', version: 27 },
      warn: { level: 'restricted', version: 'latest' },
      audit: { level: 'restricted', version: 'latest' },
    });
    const defaults: PodSecurityDefaults = { enforce: { level: 'baseline', version: 25 }, warn: { level: 'restricted', version: 'latest' } };
    expect(namespacePolicy(ns({}), defaults)).toMatchObject({ enforce: { level: 'baseline', version: 25 }, warn: { level: 'restricted', version: 'latest' } });
    // a version label alone keeps the default level; a level label alone keeps the default version
    expect(namespacePolicy(ns({ [`${PSA}/enforce-version`]: 'v1.28' }), defaults).enforce).toEqual({ level: 'baseline', version: 28 });
    expect(namespacePolicy(ns({ [`${PSA}/enforce`]: 'privileged' }), defaults).enforce).toEqual({ level: 'privileged', version: 25 });
    expect(namespacePolicy(undefined, defaults).enforce).toEqual({ level: 'baseline', version: 25 });
  });

  it('an unparsable enforce level is restricted (fail closed), warn and audit privileged (fail open), a version latest', () => {
    const p = namespacePolicy(ns({ [`${PSA}/enforce`]: 'Baseline', [`${PSA}/warn`]: 'strict', [`${PSA}/audit`]: '', [`${PSA}/enforce-version`]: '1.28', [`${PSA}/warn-version`]: 'v2.0' }));
    expect(p).toEqual({ enforce: { level: 'restricted', version: 'latest' }, warn: { level: 'privileged', version: 'latest' }, audit: { level: 'privileged', version: 'latest' } });
  });

  it('parses a flag value LEVEL[:VERSION] and refuses anything else', () => {
    expect(parseLevelVersion('baseline')).toEqual({ level: 'baseline', version: 'latest' });
    expect(parseLevelVersion('restricted:v1.25')).toEqual({ level: 'restricted', version: 25 });
    for (const bad of ['', 'Baseline', 'baseline:1.25', 'baseline:v1.25:x', 'restricted:v1.025', 'none']) expect(parseLevelVersion(bad), bad).toBeUndefined();
  });
});

describe('the checks, on containers the injection adds (the API server\'s reasons and details)', () => {
  const init = { name: 'fsm-init', securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] }, runAsNonRoot: false, runAsUser: 0 } };
  const helper = { name: 'fsm-healthcheck', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } };

  it('baseline: privileged, then added capabilities outside the default set (sorted)', () => {
    expect(injectedViolations({}, [init], { level: 'baseline', version: 'latest' })).toEqual([
      { reason: 'privileged', detail: 'container "fsm-init" must not set securityContext.privileged=true', containers: ['fsm-init'] },
      { reason: 'non-default capabilities', detail: 'container "fsm-init" must not include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add', containers: ['fsm-init'] },
    ]);
    expect(injectedViolations({}, [{ name: 'x', securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'CHOWN'] } } }], { level: 'baseline', version: 'latest' })).toEqual([]);
  });

  it('restricted: several containers named together, pod-level fields covering ours, explicit values winning over implicit ones', () => {
    expect(injectedViolations({}, [init, helper], { level: 'restricted', version: 'latest' }).map((v) => `${v.reason} (${v.detail})`)).toEqual([
      'privileged (container "fsm-init" must not set securityContext.privileged=true)',
      'allowPrivilegeEscalation != false (container "fsm-init" must set securityContext.allowPrivilegeEscalation=false)',
      'unrestricted capabilities (container "fsm-init" must set securityContext.capabilities.drop=["ALL"]; container "fsm-init" must not include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add)',
      'runAsNonRoot != true (container "fsm-init" must not set securityContext.runAsNonRoot=false)',
      'runAsUser=0 (container "fsm-init" must not set runAsUser=0)',
      'seccompProfile (pod or containers "fsm-init", "fsm-healthcheck" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    ]);
    expect(injectedViolations({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } } }, [helper], { level: 'restricted', version: 'latest' }).map((v) => v.reason)).toEqual(['runAsNonRoot != true']);
    expect(injectedViolations({ securityContext: { runAsNonRoot: true, seccompProfile: { type: 'Localhost' } } }, [helper], { level: 'restricted', version: 'latest' })).toEqual([]);
    // a pod-level Unconfined profile does not cover ours
    expect(injectedViolations({ securityContext: { runAsNonRoot: true, seccompProfile: { type: 'Unconfined' } } }, [helper], { level: 'restricted', version: 'latest' }).map((v) => v.detail)).toEqual([
      'pod or container "fsm-healthcheck" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
    ]);
    expect(injectedViolations({}, [{ name: 'x', securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'Unconfined' } } }], { level: 'restricted', version: 'latest' })).toEqual([
      { reason: 'seccompProfile', detail: 'container "x" must not set securityContext.seccompProfile.type to "Unconfined"', containers: ['x'] },
    ]);
  });

  it('the strictest level the added containers meet', () => {
    expect(strictestLevelAllowing({}, [init])).toBe('privileged');
    expect(strictestLevelAllowing({}, [helper])).toBe('baseline');
    expect(strictestLevelAllowing({ securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } }, [helper])).toBe('restricted');
  });
});

interface Row {
  readonly title: string;
  readonly flavor?: FlavorName;
  readonly mode?: 'classic' | 'native';
  readonly labels?: Record<string, string>;
  readonly defaults?: PodSecurityDefaults;
  readonly meshConfig?: Record<string, unknown>;
  readonly spec?: Record<string, unknown>;
  /** admitted: the added containers; denied: the violations as the API server words them */
  readonly expect: { inject: string[]; warning?: string } | { deny: string };
}

const TCP_PROBE = { containers: [{ name: 'app', image: 'nginx', ports: [{ containerPort: 8080 }], livenessProbe: { tcpSocket: { port: 8080 } } }] };
const NON_ROOT = { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } };

const INIT_BASELINE = 'non-default capabilities (container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add)';
const INIT_WHY = 'container "fsm-init" sets up the traffic interception with iptables, which needs NET_ADMIN and root';
const OSM_INIT_WHY = INIT_WHY.replaceAll('fsm-init', 'osm-init');
const FSM_WAYS = (mode = 'enforce', level = 'privileged') =>
  `ways out: label namespace apps ${PSA}/${mode}=${level}, use node-level interception (MeshConfig spec.traffic.interceptionMode: NodeLevel) or disable injection for namespace apps (annotation flomesh.io/sidecar-injection: disabled)`;
const RESTRICTED_INIT = [
  'allowPrivilegeEscalation != false (container "fsm-init" must set securityContext.allowPrivilegeEscalation=false)',
  'unrestricted capabilities (container "fsm-init" must set securityContext.capabilities.drop=["ALL"]; container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add)',
  'runAsNonRoot != true (container "fsm-init" must not set securityContext.runAsNonRoot=false)',
  'runAsUser=0 (container "fsm-init" must not set runAsUser=0)',
  'seccompProfile (pod or container "fsm-init" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
];
const enforced = (level: string, violations: string, why: string, ways: string, source = ''): string =>
  `Pod apps/web-7c9f5d-*: namespace apps enforces Pod Security "${level}"${source}, which would refuse this pod once the sidecar is injected: ${violations}; ${why}; ${ways}`;

const ROWS: readonly Row[] = [
  { title: 'no labels, no default: privileged', expect: { inject: ['fsm-init', 'sidecar'] } },
  { title: 'privileged', labels: { [`${PSA}/enforce`]: 'privileged' }, expect: { inject: ['fsm-init', 'sidecar'] } },
  { title: 'baseline, iptables interception', labels: { [`${PSA}/enforce`]: 'baseline' }, expect: { deny: enforced('baseline:latest', INIT_BASELINE, INIT_WHY, FSM_WAYS()) } },
  {
    title: 'baseline, privileged init container (MeshConfig)',
    labels: { [`${PSA}/enforce`]: 'baseline' },
    meshConfig: { sidecar: { enablePrivilegedInitContainer: true } },
    expect: { deny: enforced('baseline:latest', `privileged (container "fsm-init" must not set securityContext.privileged=true), ${INIT_BASELINE}`, INIT_WHY, FSM_WAYS()) },
  },
  { title: 'baseline, FSM node-level interception (label only)', labels: { [`${PSA}/enforce`]: 'baseline' }, meshConfig: { traffic: { interceptionMode: 'NodeLevel' } }, expect: { inject: [] } },
  { title: 'baseline, osm-edge eBPF', flavor: 'osm-edge', labels: { [`${PSA}/enforce`]: 'baseline' }, meshConfig: { traffic: { interceptionMode: 'ebpf' } }, expect: { inject: ['sidecar'] } },
  { title: 'baseline, osm-edge eBPF, TCP probe helper', flavor: 'osm-edge', labels: { [`${PSA}/enforce`]: 'baseline' }, meshConfig: { traffic: { interceptionMode: 'ebpf' } }, spec: TCP_PROBE, expect: { inject: ['sidecar', 'osm-healthcheck'] } },
  {
    title: 'baseline, osm-edge iptables',
    flavor: 'osm-edge',
    labels: { [`${PSA}/enforce`]: 'baseline' },
    expect: {
      deny: enforced(
        'baseline:latest',
        INIT_BASELINE.replace('fsm-init', 'osm-init'),
        OSM_INIT_WHY,
        `ways out: label namespace apps ${PSA}/enforce=privileged, use eBPF interception (MeshConfig spec.traffic.interceptionMode: ebpf) or disable injection for namespace apps (annotation openservicemesh.io/sidecar-injection: disabled)`,
      ),
    },
  },
  { title: 'restricted, iptables interception', labels: { [`${PSA}/enforce`]: 'restricted' }, expect: { deny: enforced('restricted:latest', RESTRICTED_INIT.join(', '), INIT_WHY, FSM_WAYS()) } },
  {
    title: 'restricted, iptables, the pod sets a seccomp profile for all its containers',
    labels: { [`${PSA}/enforce`]: 'restricted' },
    spec: { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'app.json' } } },
    expect: { deny: enforced('restricted:latest', RESTRICTED_INIT.slice(0, 4).join(', '), INIT_WHY, FSM_WAYS()) },
  },
  { title: 'restricted:v1.21 (before drop ALL and runAsUser 0 were checked)', labels: { [`${PSA}/enforce`]: 'restricted', [`${PSA}/enforce-version`]: 'v1.21' }, expect: { deny: enforced('restricted:v1.21', [RESTRICTED_INIT[0], RESTRICTED_INIT[2], RESTRICTED_INIT[4]].join(', '), INIT_WHY, FSM_WAYS()) } },
  { title: 'restricted:v1.22 (drop ALL checked)', labels: { [`${PSA}/enforce`]: 'restricted', [`${PSA}/enforce-version`]: 'v1.22' }, expect: { deny: enforced('restricted:v1.22', [RESTRICTED_INIT[0], RESTRICTED_INIT[1], RESTRICTED_INIT[2], RESTRICTED_INIT[4]].join(', '), INIT_WHY, FSM_WAYS()) } },
  {
    title: 'restricted, a Windows pod from v1.25 (escalation, capabilities and seccomp are not checked there)',
    labels: { [`${PSA}/enforce`]: 'restricted' },
    spec: { os: { name: 'windows' } },
    expect: { deny: enforced('restricted:latest', [RESTRICTED_INIT[2], RESTRICTED_INIT[3]].join(', '), INIT_WHY, FSM_WAYS()) },
  },
  { title: 'restricted, FSM node-level interception', labels: { [`${PSA}/enforce`]: 'restricted' }, meshConfig: { traffic: { interceptionMode: 'NodeLevel' } }, expect: { inject: [] } },
  { title: 'restricted, osm-edge eBPF: the sidecar meets restricted', flavor: 'osm-edge', labels: { [`${PSA}/enforce`]: 'restricted' }, meshConfig: { traffic: { interceptionMode: 'ebpf' } }, expect: { inject: ['sidecar'] } },
  { title: 'restricted, osm-edge eBPF, native sidecar', flavor: 'osm-edge', mode: 'native', labels: { [`${PSA}/enforce`]: 'restricted' }, meshConfig: { traffic: { interceptionMode: 'ebpf' } }, expect: { inject: ['sidecar'] } },
  {
    title: 'restricted, osm-edge eBPF, TCP probe helper without a pod-level runAsNonRoot',
    flavor: 'osm-edge',
    labels: { [`${PSA}/enforce`]: 'restricted' },
    meshConfig: { traffic: { interceptionMode: 'ebpf' } },
    spec: TCP_PROBE,
    expect: {
      deny: enforced(
        'restricted:latest',
        'runAsNonRoot != true (pod or container "osm-healthcheck" must set securityContext.runAsNonRoot=true)',
        'container "osm-healthcheck" answers the pod\'s TCP and HTTPS probes and runs as its image\'s user',
        `ways out: label namespace apps ${PSA}/enforce=baseline, give the pod spec.securityContext.runAsNonRoot: true or probes other than tcpSocket and HTTPS (the helper is added for those only) or disable injection for namespace apps (annotation openservicemesh.io/sidecar-injection: disabled)`,
      ),
    },
  },
  { title: 'restricted, osm-edge eBPF, TCP probe helper, the pod runs as non-root', flavor: 'osm-edge', labels: { [`${PSA}/enforce`]: 'restricted' }, meshConfig: { traffic: { interceptionMode: 'ebpf' } }, spec: { ...TCP_PROBE, ...NON_ROOT }, expect: { inject: ['sidecar', 'osm-healthcheck'] } },
  { title: 'an unparsable enforce level is restricted', labels: { [`${PSA}/enforce`]: 'strict' }, expect: { deny: enforced('restricted:latest', RESTRICTED_INIT.join(', '), INIT_WHY, FSM_WAYS()) } },
  { title: 'no label, the cluster default given by flag', defaults: { enforce: { level: 'baseline', version: 'latest' } }, expect: { deny: enforced('baseline:latest', INIT_BASELINE, INIT_WHY, FSM_WAYS(), ' (the cluster default)') } },
  { title: 'a label overrides the cluster default', labels: { [`${PSA}/enforce`]: 'privileged' }, defaults: { enforce: { level: 'restricted', version: 'latest' } }, expect: { inject: ['fsm-init', 'sidecar'] } },
  {
    title: 'warn: admitted with a warning',
    labels: { [`${PSA}/warn`]: 'baseline' },
    expect: {
      inject: ['fsm-init', 'sidecar'],
      warning: `Pod Security "baseline:latest" (warn) would refuse this pod once injected: non-default capabilities in injected container "fsm-init"; ways out: ${PSA}/warn=privileged, interceptionMode NodeLevel, injection disabled`,
    },
  },
  {
    // the API server cuts warnings at 256 characters (its own warning lists every failed check in full)
    title: 'warn restricted: the warning names the checks only where it fits in 256 characters',
    labels: { [`${PSA}/warn`]: 'restricted', [`${PSA}/warn-version`]: 'v1.28' },
    expect: { inject: ['fsm-init', 'sidecar'], warning: `Pod Security "restricted:v1.28" (warn) would refuse this pod once injected: injected container "fsm-init"; ways out: ${PSA}/warn=privileged, interceptionMode NodeLevel, injection disabled` },
  },
  {
    title: 'warn restricted, osm-edge eBPF, TCP probe helper',
    flavor: 'osm-edge',
    labels: { [`${PSA}/warn`]: 'restricted' },
    meshConfig: { traffic: { interceptionMode: 'ebpf' } },
    spec: TCP_PROBE,
    expect: {
      inject: ['sidecar', 'osm-healthcheck'],
      warning: `Pod Security "restricted:latest" (warn) would refuse this pod once injected: runAsNonRoot != true in injected container "osm-healthcheck"; ways out: ${PSA}/warn=baseline, pod runAsNonRoot: true, injection disabled`,
    },
  },
  { title: 'audit: nothing at admission (the API server records it)', labels: { [`${PSA}/audit`]: 'restricted' }, expect: { inject: ['fsm-init', 'sidecar'] } },
  { title: 'enforce privileged, warn restricted, eBPF: no warning', flavor: 'osm-edge', labels: { [`${PSA}/enforce`]: 'privileged', [`${PSA}/warn`]: 'restricted' }, meshConfig: { traffic: { interceptionMode: 'ebpf' } }, expect: { inject: ['sidecar'] } },
];

function decide(row: Row): InjectionPlan {
  const flavor = row.flavor ?? 'fsm';
  const mesh = meshIdentity(flavor);
  const ns = namespace('apps', { flavor, labels: row.labels ?? {} });
  const view = new MemoryView([ns, ...(row.meshConfig ? [meshConfigObject(mesh, row.meshConfig)] : [])]);
  return injectPod({ pod: pod({ spec: row.spec ?? {} }), namespace: 'apps', uuid: UUID }, view, { mesh, sidecarMode: row.mode ?? 'classic', ...(row.defaults ? { podSecurityDefaults: row.defaults } : {}) });
}

describe('Pod Security at injection, each combination', () => {
  for (const row of ROWS)
    it(row.title, () => {
      const plan = decide(row);
      if ('deny' in row.expect) {
        expect(plan).toEqual({ action: 'deny', reason: 'pod-security', message: row.expect.deny, warnings: [] });
        return;
      }
      if (plan.action !== 'inject') throw new Error(`${plan.action}: ${plan.message}`);
      expect([...plan.summary.initContainers, ...plan.summary.containers]).toEqual(row.expect.inject);
      expect(plan.warnings).toEqual(row.expect.warning ? [row.expect.warning] : []);
      for (const w of plan.warnings) expect(w.length, w).toBeLessThanOrEqual(256);
    });
});
