// Property test of the patch (docs/injection.md#the-patch): over many generated pods, under both flavors and both sidecar modes,
//   1. the patch applies cleanly (RFC 6902, validated) to the request object;
//   2. the result is exactly the intended pod: the original with only the documented additions and probe rewrites,
//      every unknown field (top level, metadata, spec, containers, probes, volumes, dnsConfig) and every native-sidecar
//      field of the user's init containers preserved;
//   3. the patch is minimal: only add/replace, only at the allowed paths, never a rewrite of an existing array or map;
//   4. a second admission of the result is a no-op (docs/injection.md#already-injected-pods).
import fc from 'fast-check';
import type { V1Container } from '@kubernetes/client-node';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import { bootstrapSecretPlan, injectPod, type InjectionPlan } from '../../src/injector/inject.js';
import { originalProbesFromPod, rewriteProbes } from '../../src/injector/probes.js';
import { meshConfigObject } from './helpers.js';
import { DEFAULT_IMAGES } from '../../src/injector/settings.js';
import { meshIdentity, type FlavorName } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { scenario, type Json, type Scenario } from './arbitraries.js';
import { UUID, UUID2 } from './helpers.js';

const NUM_RUNS = 300;
const BOOTSTRAP_VOLUME = 'sidecar-bootstrap-config-volume';
const PROM = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15010', 'prometheus.io/path': '/stats/prometheus' };
const PROBE_FIELDS = [
  { field: 'livenessProbe', port: 15901, portName: 'liveness-port' },
  { field: 'readinessProbe', port: 15902, portName: 'readiness-port' },
  { field: 'startupProbe', port: 15903, portName: 'startup-port' },
] as const;

const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const isObj = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function run(s: Scenario, pod: KubeObject = s.pod, uuid = UUID): InjectionPlan {
  const mesh = meshIdentity(s.flavor);
  const view = new MemoryView([s.namespaceObject, ...(s.meshConfigSpec ? [meshConfigObject(mesh, s.meshConfigSpec)] : []), ...(s.controllerService ? [s.controllerService] : [])]);
  return injectPod({ pod, namespace: 'apps', uuid }, view, { mesh, sidecarMode: s.modeFlag });
}

/** The patch as the API server receives it (JSON), applied with validation to a copy of the request object. */
function apply(pod: KubeObject, patch: Operation[]): Json {
  return fastJsonPatch.applyPatch(wire(pod), wire(patch), true, false).newDocument;
}

// ---------------------------------------------------------------------------------------------------------------
// What the injector is meant to do, written independently of src/ from the contract (docs/injection.md: what is
// added, native sidecar mode, probes).

function boolWord(v: unknown): boolean | undefined {
  if (typeof v !== 'string') return undefined;
  const w = v.trim().toLowerCase();
  return ['enabled', 'yes', 'true'].includes(w) ? true : ['disabled', 'no', 'false'].includes(w) ? false : undefined;
}

interface Intent {
  prefix: string;
  healthPath: string;
  uuidLabel: string;
  /** the label this server marks its pods with, and its value (the mesh's name) */
  injectedBy: [string, string];
  mode: 'classic' | 'native';
  hold: boolean;
  metrics: boolean;
  /** the local DNS proxy changes dnsPolicy/dnsConfig */
  dns: { nameservers: string[]; searches: string[]; options: Json[] } | undefined;
  hostAlias: Json | undefined;
}

function intent(s: Scenario): Intent {
  const mesh = meshIdentity(s.flavor);
  const d = mesh.flavor.domain;
  const p = mesh.flavor.prefix;
  const podAnn: Record<string, string> = (s.pod.metadata?.annotations as Record<string, string> | undefined) ?? {};
  const nsAnn: Record<string, string> = (s.namespaceObject.metadata?.annotations as Record<string, string> | undefined) ?? {};
  const layered = (key: string) => [podAnn[key], nsAnn[key]].find((v) => typeof v === 'string' && v.trim() !== '');
  const modeWord = layered(`${d}/sidecar-mode`)?.trim().toLowerCase() ?? s.modeFlag;
  const sidecarCfg: Json = (s.meshConfigSpec?.sidecar as Json) ?? {};
  const hold = s.flavor === 'fsm' && (boolWord(layered(`${d}/hold-application-until-proxy-starts`)) ?? sidecarCfg.holdApplicationUntilProxyStarts !== false);
  const ip = (s.controllerService?.spec as Json)?.clusterIP as string | undefined;
  let dns: Intent['dns'];
  if (sidecarCfg.localDNSProxy?.enable === true) {
    const ndots = [{ name: 'ndots', value: '5' }];
    if (s.flavor === 'osm-edge') dns = { nameservers: ['127.0.0.153'], searches: ['svc.cluster.local', 'cluster.local'], options: ndots };
    else if (ip) dns = { nameservers: [ip], searches: ['apps.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ndots };
  }
  return {
    prefix: p,
    healthPath: `/${p}-healthcheck`,
    uuidLabel: `${p}-proxy-uuid`,
    injectedBy: ['mesh-admission.io/mesh', mesh.meshName],
    mode: modeWord === 'native' ? 'native' : 'classic', // auto without a Kubernetes version is classic
    hold,
    metrics: boolWord(nsAnn[`${d}/metrics`]) === true,
    dns,
    hostAlias: dns && ip ? { ip, hostnames: [`${p}-controller.${p}-system`] } : undefined,
  };
}

interface ProbeIntent {
  probe: Json;
  rewritten: boolean;
  /** rewritten to an httpGet through the sidecar's probe port of this kind */
  viaSidecarPort: boolean;
  /** needs the healthcheck helper (TCP or HTTPS) */
  viaHealthcheck: boolean;
  grpcPort?: number;
}

/** Probes: HTTP → 1590x + path + Original-Http-Port/Path; HTTPS → HTTP + Original-Tcp-Port; TCP → 15904; gRPC, exec, already rewritten: unchanged. */
function probeIntent(c: Json, probe: Json, kind: (typeof PROBE_FIELDS)[number], healthPath: string): ProbeIntent {
  const same = { probe, rewritten: false, viaSidecarPort: false, viaHealthcheck: false };
  if (!isObj(probe)) return same;
  const resolve = (port: number | string): number => (typeof port === 'number' ? port : (c.ports as Json[]).find((p) => p.name === port).containerPort);
  if (isObj(probe.httpGet)) {
    const get = probe.httpGet;
    if (get.path === healthPath && [15901, 15902, 15903, 15904].includes(Number(get.port))) return same;
    const port = String(resolve(get.port));
    const headers: Json[] = get.httpHeaders ?? [];
    if (get.scheme === 'HTTPS')
      return { probe: { ...probe, httpGet: { ...get, port: kind.port, path: healthPath, scheme: 'HTTP', httpHeaders: [...headers, { name: 'Original-Tcp-Port', value: port }] } }, rewritten: true, viaSidecarPort: true, viaHealthcheck: true };
    return {
      probe: { ...probe, httpGet: { ...get, port: kind.port, path: healthPath, httpHeaders: [...headers, { name: 'Original-Http-Port', value: port }, { name: 'Original-Http-Path', value: get.path ?? '' }] } },
      rewritten: true,
      viaSidecarPort: true,
      viaHealthcheck: false,
    };
  }
  if (isObj(probe.tcpSocket)) {
    const { tcpSocket, ...rest } = probe;
    return { probe: { ...rest, httpGet: { port: 15904, path: healthPath, httpHeaders: [{ name: 'Original-Tcp-Port', value: String(resolve(tcpSocket.port)) }] } }, rewritten: true, viaSidecarPort: false, viaHealthcheck: true };
  }
  if (isObj(probe.grpc)) return { ...same, grpcPort: probe.grpc.port };
  return same;
}

interface Expected {
  pod: Json;
  /** container index → probe fields rewritten */
  rewrites: Set<string>;
  usesHealthcheck: boolean;
  sidecarPortNames: string[];
  grpcPorts: number[];
  denyDns: boolean;
}

/** The intended pod, with the injected containers taken from `out` (their own content is checked separately). */
function expectedPod(s: Scenario, it: Intent, out: Json | undefined): Expected {
  const pod: Json = wire(s.pod);
  const rewrites = new Set<string>();
  let usesHealthcheck = false;
  const portKinds = new Set<string>();
  const grpcPorts: number[] = [];
  const containers = (pod.spec.containers as Json[]).map((c, i) => {
    const next = { ...c };
    for (const kind of PROBE_FIELDS) {
      if (!(kind.field in c)) continue;
      const r = probeIntent(c, c[kind.field], kind, it.healthPath);
      next[kind.field] = r.probe;
      if (r.rewritten) rewrites.add(`${i}/${kind.field}`);
      if (r.viaSidecarPort) portKinds.add(kind.portName);
      usesHealthcheck ||= r.viaHealthcheck;
      if (r.grpcPort !== undefined && !grpcPorts.includes(r.grpcPort)) grpcPorts.push(r.grpcPort);
    }
    return next;
  });
  const sidecarPortNames = ['proxy-admin', 'proxy-inbound', 'proxy-metrics', ...PROBE_FIELDS.map((k) => k.portName).filter((n) => portKinds.has(n))];
  const userDns: Json = isObj(pod.spec.dnsConfig) ? pod.spec.dnsConfig : undefined;
  const nameservers = it.dns ? [...new Set([...it.dns.nameservers, ...(userDns?.nameservers ?? [])])] : [];
  const base = { rewrites, usesHealthcheck, sidecarPortNames, grpcPorts, denyDns: nameservers.length > 3 };
  if (!out) return { pod: undefined, ...base };

  const all: Json[] = [...(out.spec?.containers ?? []), ...(out.spec?.initContainers ?? [])];
  const named = (n: string) => all.find((c) => c.name === n);
  const sidecar = named('sidecar');
  const init = named(`${it.prefix}-init`);
  const hc = usesHealthcheck ? [named(`${it.prefix}-healthcheck`)] : [];

  pod.metadata ??= {};
  pod.metadata.labels = { ...(pod.metadata.labels ?? {}), [it.uuidLabel]: UUID, [it.injectedBy[0]]: it.injectedBy[1] };
  if (it.metrics) pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), ...PROM };
  pod.spec.volumes = [...(pod.spec.volumes ?? []), { name: BOOTSTRAP_VOLUME, secret: { secretName: `sidecar-bootstrap-config-${UUID}` } }];
  const userInits: Json[] = pod.spec.initContainers ?? [];
  if (it.mode === 'native') {
    pod.spec.containers = containers;
    pod.spec.initContainers = [init, sidecar, ...hc, ...userInits];
  } else {
    pod.spec.containers = [...(it.hold ? [sidecar, ...containers] : [...containers, sidecar]), ...hc];
    pod.spec.initContainers = [...userInits, init];
  }
  if (it.dns) {
    const userOptions: Json[] = (userDns?.options ?? []).filter(isObj);
    pod.spec.dnsPolicy = 'None';
    pod.spec.dnsConfig = {
      ...(userDns ?? {}), // unknown dnsConfig fields are the user's: merged, not dropped
      nameservers,
      searches: [...new Set([...it.dns.searches, ...(userDns?.searches ?? [])])],
      options: [...userOptions, ...it.dns.options.filter((o) => !userOptions.some((u) => u.name === o.name))],
    };
    if (it.hostAlias) pod.spec.hostAliases = [...(pod.spec.hostAliases ?? []), it.hostAlias];
  }
  return { pod, ...base };
}

// ---------------------------------------------------------------------------------------------------------------
// The patch itself.

const unescape = (seg: string) => seg.replace(/~1/g, '/').replace(/~0/g, '~');
const pointer = (path: string) => path.split('/').slice(1).map(unescape);

const PROBE_PATH = /^\/spec\/containers\/(\d+)\/(livenessProbe|readinessProbe|startupProbe)$/;
const ALLOWED_ADD = [
  /^\/metadata$/,
  /^\/metadata\/(labels|annotations)(\/[^/]+)?$/,
  /^\/spec\/(volumes|hostAliases)(\/-)?$/,
  /^\/spec\/(initContainers|containers)(\/(-|\d+))?$/,
  /^\/spec\/(dnsPolicy|dnsConfig)$/,
];

/** The patch: explicit minimal operations; returns nothing, fails through expect. */
function checkMinimal(s: Scenario, it: Intent, exp: Expected, patch: Operation[]): void {
  const pod: Json = s.pod;
  const spec = pod.spec;
  const seen = { labels: 0, annotations: 0, volumes: 0, containers: 0, initContainers: 0, dns: 0, hostAliases: 0, probes: new Set<string>() };
  for (const op of patch) {
    const where = `${op.op} ${op.path}`;
    expect(['add', 'replace'], where).toContain(op.op);
    if (op.op === 'replace') {
      const m = PROBE_PATH.exec(op.path);
      expect(m, `${where}: replace outside a probe`).not.toBeNull();
      const key = `${m![1]}/${m![2]}`;
      expect(exp.rewrites.has(key), `${where}: probe not meant to be rewritten`).toBe(true);
      expect(seen.probes.has(key), `${where}: twice`).toBe(false);
      seen.probes.add(key);
      continue;
    }
    if (op.op !== 'add') continue;
    expect(ALLOWED_ADD.some((r) => r.test(op.path)), `${where}: path outside the allowed set`).toBe(true);
    const segs = pointer(op.path);
    const [top, field, key] = segs;
    if (top === 'metadata') {
      if (field === undefined) {
        expect(pod.metadata, `${where}: metadata existed`).toBeUndefined();
        expect(op.value).toEqual({});
        continue;
      }
      const map = pod.metadata?.[field!];
      const allowedKeys = field === 'labels' ? [it.uuidLabel, it.injectedBy[0]] : Object.keys(PROM);
      if (key === undefined) {
        // a whole map only when the pod had none, and holding only the new keys
        expect(map, `${where}: rewrites an existing map`).toBeUndefined();
        expect(Object.keys(op.value).sort(), where).toEqual([...allowedKeys].sort());
      } else {
        expect(map, `${where}: key added to a missing map`).toBeDefined();
        expect(allowedKeys, `${where}: unexpected key`).toContain(key);
      }
      if (field === 'labels') seen.labels++;
      else seen.annotations++;
      continue;
    }
    // spec
    const existing = spec[field!];
    if (field === 'dnsPolicy' || field === 'dnsConfig') {
      seen.dns++;
      continue;
    }
    if (key === undefined) expect(existing, `${where}: rewrites an existing array`).toBeUndefined();
    else expect(Array.isArray(existing), `${where}: item added to a missing array`).toBe(true);
    if (key !== undefined && key !== '-') {
      // inserting at an index: only the native-mode prepend of init containers, or the hold-application sidecar
      const ok = (field === 'initContainers' && it.mode === 'native') || (field === 'containers' && key === '0' && it.mode === 'classic' && it.hold);
      expect(ok, `${where}: unexpected insertion`).toBe(true);
    }
    seen[field as 'volumes' | 'containers' | 'initContainers' | 'hostAliases']++;
  }

  expect(seen.probes.size, 'every intended probe rewrite is a single replace').toBe(exp.rewrites.size);
  expect(seen.labels).toBe(isObj(pod.metadata?.labels) ? 2 : 1);
  expect(seen.annotations).toBe(!it.metrics ? 0 : isObj(pod.metadata?.annotations) ? 3 : 1);
  expect(seen.volumes).toBe(1);
  const added = 1 + (exp.usesHealthcheck ? 1 : 0);
  if (it.mode === 'native') {
    expect(seen.containers).toBe(0);
    expect(seen.initContainers).toBe(Array.isArray(spec.initContainers) ? added + 1 : 1);
  } else {
    expect(seen.containers).toBe(added);
    expect(seen.initContainers).toBe(1);
  }
  expect(seen.dns).toBe(it.dns ? 2 : 0);
  expect(seen.hostAliases).toBe(it.hostAlias ? 1 : 0);
}

/** The containers this injector adds (classic and native mode). */
function checkInjectedContainers(s: Scenario, it: Intent, exp: Expected, out: Json): void {
  const containers: Json[] = out.spec.containers;
  const inits: Json[] = out.spec.initContainers ?? [];
  const count = (n: string) => [...containers, ...inits].filter((c) => c.name === n).length;
  expect(count('sidecar')).toBe(1);
  expect(count(`${it.prefix}-init`)).toBe(1);
  expect(count(`${it.prefix}-healthcheck`)).toBe(exp.usesHealthcheck ? 1 : 0);
  const images = DEFAULT_IMAGES[s.flavor];

  const sidecar = (it.mode === 'native' ? inits : containers).find((c) => c.name === 'sidecar');
  expect(sidecar, `sidecar in ${it.mode === 'native' ? 'initContainers' : 'containers'}`).toBeDefined();
  expect(sidecar.image).toBe(images.sidecar);
  expect(sidecar.ports.map((p: Json) => p.name)).toEqual(exp.sidecarPortNames);
  expect(sidecar.volumeMounts).toEqual([{ name: BOOTSTRAP_VOLUME, mountPath: '/etc/pipy', readOnly: true }]);
  expect(sidecar.securityContext).toEqual({ runAsUser: 1500, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
  if (it.mode === 'native') {
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.startupProbe?.tcpSocket?.port).toBe(15000);
    expect(sidecar.lifecycle?.postStart).toBeUndefined();
  } else {
    expect(sidecar.restartPolicy).toBeUndefined();
    expect(sidecar.lifecycle?.postStart).toEqual(it.hold ? { exec: { command: ['/usr/local/bin/wait-pipy'] } } : undefined);
  }

  const init = inits.find((c) => c.name === `${it.prefix}-init`);
  expect(init.image).toBe(images.init);
  expect(init.restartPolicy).toBeUndefined();
  expect(init.command).toEqual(['/bin/sh']);
  expect(init.args[0]).toBe('-c');
  expect(init.securityContext.capabilities).toEqual({ add: ['NET_ADMIN'] });
  for (const port of exp.grpcPorts)
    expect(init.args[1], `gRPC probe port ${port} bypasses inbound interception`).toMatch(new RegExp(`_PROXY_INBOUND -p tcp --match multiport --dports (\\d+,)*${port}(,\\d+)* -j RETURN`));

  if (exp.usesHealthcheck) {
    const hc = (it.mode === 'native' ? inits : containers).find((c) => c.name === `${it.prefix}-healthcheck`);
    expect(hc.image).toBe(images.healthcheck);
    expect(hc.restartPolicy).toBe(it.mode === 'native' ? 'Always' : undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const COMBOS: [FlavorName, 'classic' | 'native'][] = [
  ['fsm', 'classic'],
  ['fsm', 'native'],
  ['osm-edge', 'classic'],
  ['osm-edge', 'native'],
];

describe.each(COMBOS)('the patch over generated pods: %s, --sidecar-mode %s', (flavor, modeFlag) => {
  const arb = scenario(flavor, modeFlag);

  it('applies cleanly and yields exactly the intended pod, unknown and native-sidecar fields included', () => {
    fc.assert(
      fc.property(arb, (s) => {
        const before = JSON.stringify(s.pod);
        const r = run(s);
        expect(JSON.stringify(s.pod), 'planInjection leaves its input alone').toBe(before);
        const it = intent(s);
        if (expectedPod(s, it, undefined).denyDns) {
          expect(r).toMatchObject({ action: 'deny', reason: 'invalid-pod', message: expect.stringContaining('at most 3 in all') });
          return;
        }
        expect(r.action, r.message).toBe('inject');
        if (r.action !== 'inject') return;
        expect(r.reason).toBe(it.mode);
        const out = apply(s.pod, r.patch);
        const exp = expectedPod(s, it, out);
        checkInjectedContainers(s, it, exp, out);
        expect(out).toStrictEqual(exp.pod);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('is minimal: add/replace only, at the allowed paths, never rewriting an existing array or map', () => {
    fc.assert(
      fc.property(arb, (s) => {
        const r = run(s);
        const it = intent(s);
        if (expectedPod(s, it, undefined).denyDns) return;
        expect(r.action, r.message).toBe('inject');
        if (r.action !== 'inject') return;
        checkMinimal(s, it, expectedPod(s, it, undefined), r.patch);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('the Secret\'s creator recomputes, from the stored pod alone, exactly the bootstrap plan admission made', () => {
    fc.assert(
      fc.property(arb, (s) => {
        const r = run(s);
        if (r.action !== 'inject' || !r.secret) return;
        const mesh = meshIdentity(s.flavor);
        const stored = { ...(apply(s.pod, r.patch) as KubeObject) };
        stored.metadata = { ...stored.metadata, namespace: 'apps' };
        const view = new MemoryView([s.namespaceObject, ...(s.meshConfigSpec ? [meshConfigObject(mesh, s.meshConfigSpec)] : [])]);
        expect(bootstrapSecretPlan(stored, view, { mesh, sidecarMode: s.modeFlag })).toStrictEqual(r.secret);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('reading probes back from their rewritten form gives exactly what the rewrite recorded', () => {
    fc.assert(
      fc.property(arb, (s) => {
        const containers = ((s.pod.spec as { containers?: V1Container[] }).containers ?? []).map((c) => structuredClone(c));
        const path = `/${meshIdentity(s.flavor).flavor.prefix}-healthcheck`;
        const rw = rewriteProbes(containers, path);
        if (rw.errors.length > 0) return;
        for (const ch of rw.changes) (containers[ch.container] as unknown as Record<string, unknown>)[ch.field] = ch.probe;
        expect(originalProbesFromPod(wire(containers), path)).toStrictEqual(rw.original);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('a second admission of the result is a no-op', () => {
    fc.assert(
      fc.property(arb, (s) => {
        const r = run(s);
        if (expectedPod(s, intent(s), undefined).denyDns) return;
        expect(r.action, r.message).toBe('inject');
        if (r.action !== 'inject') return;
        const out = wire(apply(s.pod, r.patch)) as KubeObject;
        expect(run(s, out, UUID2)).toEqual({ action: 'noop', reason: 'already-injected', message: 'the sidecar and proxy UUID label are present', warnings: [] });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// The local DNS proxy merges spec.dnsConfig; a dnsConfig field this server does not know must survive the merge
// (fields this server does not know pass through untouched). This property found that it once did not.
describe('the patch keeps unknown spec.dnsConfig fields when the local DNS proxy merges it', () => {
  const arb = fc.oneof(...COMBOS.map(([flavor, mode]) => scenario(flavor, mode, { unknownDnsConfigFields: true })));

  it('yields exactly the intended pod, the user dnsConfig\'s unknown fields included', () => {
    fc.assert(
      fc.property(arb, (s) => {
        const r = run(s);
        const it = intent(s);
        if (expectedPod(s, it, undefined).denyDns) return;
        expect(r.action, r.message).toBe('inject');
        if (r.action !== 'inject') return;
        const out = apply(s.pod, r.patch);
        expect(out).toStrictEqual(expectedPod(s, it, out).pod);
      }),
      { numRuns: 100 },
    );
  });
});
