// The injector's decisions and the patch it builds (docs/injection.md).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { applied, namespace, plan, pod, UUID, UUID2 } from './helpers.js';

const asPod = (o: unknown) => o as V1Pod;
const names = (cs: V1Container[] | undefined) => (cs ?? []).map((c) => c.name);

describe('who is injected', () => {
  it('skips host-network pods, with a warning only when the pod asked for injection', () => {
    expect(plan(pod({ spec: { hostNetwork: true } }))).toEqual({ action: 'skip', reason: 'host-network', message: 'the pod uses the host network', warnings: [] });
    const asked = plan(pod({ spec: { hostNetwork: true }, annotations: { 'flomesh.io/sidecar-injection': 'enabled' } }));
    expect(asked.warnings).toEqual(['sidecar not injected although flomesh.io/sidecar-injection asks for it: the pod uses the host network']);
  });

  it('skips system and mesh namespaces', () => {
    for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'fsm-system'])
      expect(plan(pod(), { nsName: ns, ns: namespace(ns) })).toMatchObject({ action: 'skip', reason: 'system-namespace' });
  });

  it('skips namespaces not monitored by this mesh, or ignored, or unknown', () => {
    expect(plan(pod(), { ns: namespace('apps', { monitored: false }) })).toMatchObject({ action: 'skip', reason: 'not-monitored', message: 'namespace apps is not labelled flomesh.io/monitored-by=fsm' });
    expect(plan(pod(), { ns: namespace('apps', { labels: { 'flomesh.io/monitored-by': 'other-mesh' } }) })).toMatchObject({ reason: 'not-monitored' });
    expect(plan(pod(), { ns: namespace('apps', { labels: { 'flomesh.io/ignore': 'false' } }) })).toMatchObject({ reason: 'not-monitored', message: 'namespace apps is labelled flomesh.io/ignore' });
    expect(plan(pod(), { ns: null })).toMatchObject({ reason: 'not-monitored', message: 'namespace apps is not known to the webhook' });
  });

  it('follows the pod annotation, then the namespace annotation (case-insensitive, spaces ignored)', () => {
    const nsOff = namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': 'disabled' } });
    const nsNone = namespace('apps', { annotations: {} });
    expect(plan(pod(), { ns: nsNone })).toMatchObject({ action: 'skip', reason: 'not-enabled' });
    expect(plan(pod(), { ns: nsOff })).toMatchObject({ action: 'skip', reason: 'not-enabled' });
    expect(plan(pod())).toMatchObject({ action: 'inject' });
    for (const v of ['enabled', 'YES', ' true ', 'True'])
      expect(plan(pod({ annotations: { 'flomesh.io/sidecar-injection': v } }), { ns: nsOff }).action).toBe('inject');
    for (const v of ['disabled', 'No', ' FALSE'])
      expect(plan(pod({ annotations: { 'flomesh.io/sidecar-injection': v } }))).toMatchObject({ action: 'skip', reason: 'not-enabled', message: 'flomesh.io/sidecar-injection is disabled on the pod' });
  });

  it('denies an injection annotation that is neither yes nor no, naming key, object and value', () => {
    expect(plan(pod({ annotations: { 'flomesh.io/sidecar-injection': 'maybe' } }))).toEqual({
      action: 'deny',
      reason: 'invalid-annotation',
      message: 'invalid value "maybe" for annotation "flomesh.io/sidecar-injection" on Pod apps/web-7c9f5d-*: expected enabled, yes, true, disabled, no or false',
      warnings: [],
    });
    const badNs = namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': '' } });
    expect(plan(pod({ annotations: { 'flomesh.io/sidecar-injection': 'enabled' } }), { ns: badNs })).toMatchObject({
      action: 'deny',
      message: 'invalid value "" for annotation "flomesh.io/sidecar-injection" on Namespace apps: expected enabled, yes, true, disabled, no or false',
    });
  });

  it('uses the osm-edge names under that flavor', () => {
    const r = plan(pod({ annotations: { 'openservicemesh.io/sidecar-injection': 'bogus' } }), { flavor: 'osm-edge' });
    expect(r).toMatchObject({ action: 'deny', message: expect.stringContaining('annotation "openservicemesh.io/sidecar-injection"') });
  });
});

describe('classic mode', () => {
  it('adds label, volume, init container and sidecar with minimal operations', () => {
    const p = pod();
    const r = plan(p, { meshConfig: { sidecar: { holdApplicationUntilProxyStarts: false, gracefulExitUntilDownstreamEnds: false } } });
    if (r.action !== 'inject') throw new Error(r.action);
    expect(r.patch.map((o) => `${o.op} ${o.path}`)).toEqual(['add /metadata/labels/fsm-proxy-uuid', 'add /metadata/labels/mesh-admission.io~1mesh', 'add /spec/volumes', 'add /spec/initContainers', 'add /spec/containers/-']);
    const out = asPod(applied(p, r));
    expect(out.metadata?.labels).toEqual({ app: 'web', 'fsm-proxy-uuid': UUID, 'mesh-admission.io/mesh': 'fsm' });
    expect(out.spec?.volumes).toEqual([{ name: 'sidecar-bootstrap-config-volume', secret: { secretName: `sidecar-bootstrap-config-${UUID}` } }]);
    expect(names(out.spec?.initContainers)).toEqual(['fsm-init']);
    expect(names(out.spec?.containers)).toEqual(['app', 'sidecar']);
    const sidecar = out.spec?.containers[1];
    expect(sidecar?.args).toEqual(['pipy', '--log-level=error', '--admin-port=6060', `http://fsm-controller.fsm-system:6060/repo/fsm-sidecar/${UUID}.sidecar.web.apps/`]);
    expect(sidecar?.lifecycle).toBeUndefined();
    expect(sidecar?.securityContext).toEqual({ runAsUser: 1500, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(sidecar?.volumeMounts).toEqual([{ name: 'sidecar-bootstrap-config-volume', mountPath: '/etc/pipy', readOnly: true }]);
    expect(sidecar?.env?.map((e) => e.name)).toEqual(['MESH_NAME', 'POD_UID', 'POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'SERVICE_ACCOUNT', 'POD_CONTROLLER_KIND', 'POD_CONTROLLER_NAME']);
    const init = out.spec?.initContainers?.[0];
    expect(init?.command).toEqual(['/bin/sh']);
    expect(init?.securityContext).toEqual({ privileged: false, capabilities: { add: ['NET_ADMIN'] }, runAsNonRoot: false, runAsUser: 0 });
    expect(r.secret).toMatchObject({ name: `sidecar-bootstrap-config-${UUID}`, namespace: 'apps', commonName: `${UUID}.sidecar.web.apps.cluster.local`, keyType: 'ec', repoHost: 'fsm-controller.fsm-system.svc.cluster.local', repoPort: 6060 });
  });

  it('the sidecar meets Pod Security restricted in both flavors and modes; a pod-level seccomp profile is inherited, not overridden', () => {
    const restricted = { runAsUser: 1500, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };
    for (const flavor of ['fsm', 'osm-edge'] as const)
      for (const mode of ['classic', 'native'] as const) {
        const p = pod();
        const out = asPod(applied(p, plan(p, { flavor, mode })));
        const sidecar = [...(out.spec?.containers ?? []), ...(out.spec?.initContainers ?? [])].find((c) => c.name === 'sidecar');
        expect(sidecar?.securityContext, `${flavor} ${mode}`).toEqual(restricted);
        const own = pod({ spec: { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/app.json' } } } });
        const mine = asPod(applied(own, plan(own, { flavor, mode })));
        const inherited = [...(mine.spec?.containers ?? []), ...(mine.spec?.initContainers ?? [])].find((c) => c.name === 'sidecar');
        const { seccompProfile: _omitted, ...rest } = restricted;
        expect(inherited?.securityContext, `${flavor} ${mode} with the pod's profile`).toEqual(rest);
      }
  });

  it('the TCP-probe helper drops every capability and escalation, keeping its image\'s user', () => {
    const p = pod({ spec: { containers: [{ name: 'app', image: 'nginx', livenessProbe: { tcpSocket: { port: 8080 } } }] } });
    const out = asPod(applied(p, plan(p)));
    const helper = out.spec?.containers.find((c) => c.name === 'fsm-healthcheck');
    expect(helper?.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('holds the application by default: sidecar first with wait-pipy, graceful exit with gkill', () => {
    const p = pod();
    const r = plan(p);
    const out = asPod(applied(p, r));
    expect(names(out.spec?.containers)).toEqual(['sidecar', 'app']);
    expect(out.spec?.containers[0]?.lifecycle).toEqual({ postStart: { exec: { command: ['/usr/local/bin/wait-pipy'] } }, preStop: { exec: { command: ['/usr/local/bin/gkill'] } } });
  });

  it('reads hold/graceful from pod, then namespace, then MeshConfig; a bad value is denied', () => {
    const nsNoHold = namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': 'enabled', 'flomesh.io/hold-application-until-proxy-starts': 'false' } });
    let out = asPod(applied(pod(), plan(pod(), { ns: nsNoHold })));
    expect(names(out.spec?.containers)).toEqual(['app', 'sidecar']);
    out = asPod(applied(pod(), plan(pod({ annotations: { 'flomesh.io/hold-application-until-proxy-starts': 'yes' } }), { ns: nsNoHold })));
    expect(names(out.spec?.containers)).toEqual(['sidecar', 'app']);
    expect(plan(pod({ annotations: { 'flomesh.io/graceful-exit-until-downstream-ends': 'sometimes' } }))).toMatchObject({
      action: 'deny',
      message: 'invalid value "sometimes" for annotation "flomesh.io/graceful-exit-until-downstream-ends" on Pod apps/web-7c9f5d-*: expected enabled, yes, true, disabled, no or false',
    });
  });

  it('reports a ReplicaSet owner as its Deployment', () => {
    const p = pod({ metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9f5d', uid: 'u', controller: true }] } });
    const sidecar = asPod(applied(p, plan(p))).spec?.containers[0];
    expect(sidecar?.env?.slice(6)).toEqual([{ name: 'POD_CONTROLLER_KIND', value: 'Deployment' }, { name: 'POD_CONTROLLER_NAME', value: 'web' }]);
  });

  it('takes images from pod annotation, namespace annotation, MeshConfig, then defaults', () => {
    const mc = { sidecar: { sidecarImage: 'mc/pipy:1', initContainerImage: 'mc/init:1' } };
    const img = (p = pod(), ns = namespace('apps'), meshConfig: Record<string, unknown> | null = mc) => {
      const out = asPod(applied(p, plan(p, { ns, ...(meshConfig ? { meshConfig } : {}) })));
      return [out.spec?.containers.find((c) => c.name === 'sidecar')?.image, out.spec?.initContainers?.[0]?.image];
    };
    expect(img(pod(), namespace('apps'), null)).toEqual(['flomesh/pipy:1.5.14', 'flomesh/fsm-sidecar-init:1.6.0']);
    expect(img()).toEqual(['mc/pipy:1', 'mc/init:1']);
    expect(img(pod(), namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': 'enabled', 'flomesh.io/sidecar-image': 'ns/pipy:2' } }))).toEqual(['ns/pipy:2', 'mc/init:1']);
    expect(img(pod({ annotations: { 'flomesh.io/sidecar-image': 'pod/pipy:3' } }))).toEqual(['pod/pipy:3', 'mc/init:1']);
  });

  it('overrides sidecar resources per key from annotations and denies invalid quantities', () => {
    const mc = { sidecar: { resources: { limits: { cpu: '1', memory: '256Mi' }, requests: { cpu: '100m' } } } };
    const ns = namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': 'enabled', 'flomesh.io/sidecar-resource-limits-memory': '512Mi', 'flomesh.io/sidecar-resource-requests-cpu': '200m' } });
    const p = pod({ annotations: { 'flomesh.io/sidecar-resource-requests-cpu': '300m' } });
    const sidecar = asPod(applied(p, plan(p, { ns, meshConfig: mc }))).spec?.containers.find((c) => c.name === 'sidecar');
    expect(sidecar?.resources).toEqual({ limits: { cpu: '1', memory: '512Mi' }, requests: { cpu: '300m' } });
    expect(plan(pod({ annotations: { 'flomesh.io/sidecar-resource-limits-cpu': 'lots' } }))).toMatchObject({
      action: 'deny',
      message: 'invalid value "lots" for annotation "flomesh.io/sidecar-resource-limits-cpu" on Pod apps/web-7c9f5d-*: expected a Kubernetes quantity such as 100m, 128Mi or 1Gi',
    });
  });

  it('denies bad exclusion annotations with the mesh\'s own message, before anything is created', () => {
    const r = plan(pod({ annotations: { 'flomesh.io/outbound-port-exclusion-list': '6060, 70000', 'flomesh.io/outbound-ip-range-exclusion-list': 'foobar' } }));
    expect(r.action).toBe('deny');
    expect(r.message).toContain("Invalid port value '70000' specified for annotation 'flomesh.io/outbound-port-exclusion-list' on Pod apps/web-7c9f5d-*");
    expect(r.message).toContain("Invalid IP range 'foobar' specified for annotation 'flomesh.io/outbound-ip-range-exclusion-list' on Pod apps/web-7c9f5d-*");
    expect('secret' in r).toBe(false);
  });

  it('adds Prometheus annotations when the namespace enables metrics, warning when a user value is replaced', () => {
    const ns = namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': 'enabled', 'flomesh.io/metrics': 'enabled' } });
    const p = pod({ annotations: { 'prometheus.io/port': '9090', 'team/owner': 'a' } });
    const r = plan(p, { ns });
    expect(r.warnings).toEqual(['metadata.annotations: prometheus.io/port "9090" replaced by "15010" because namespace apps enables sidecar metrics']);
    if (r.action !== 'inject') throw new Error(r.action);
    expect(r.patch.filter((o) => o.path.startsWith('/metadata/annotations')).map((o) => o.path)).toEqual(['/metadata/annotations/prometheus.io~1scrape', '/metadata/annotations/prometheus.io~1port', '/metadata/annotations/prometheus.io~1path']);
    expect(asPod(applied(p, r)).metadata?.annotations).toEqual({ 'team/owner': 'a', 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15010', 'prometheus.io/path': '/stats/prometheus' });
    expect(plan(pod(), { ns: namespace('apps', { annotations: { 'flomesh.io/sidecar-injection': 'enabled', 'flomesh.io/metrics': 'perhaps' } }) })).toMatchObject({ action: 'deny' });
  });

  it('adds only the proxy UUID label under FSM NodeLevel interception', () => {
    const r = plan(pod(), { meshConfig: { traffic: { interceptionMode: 'NodeLevel' } } });
    expect(r).toMatchObject({ action: 'inject', reason: 'node-level-interception', secret: undefined });
    if (r.action !== 'inject') throw new Error(r.action);
    expect(r.patch).toEqual([
      { op: 'add', path: '/metadata/labels/fsm-proxy-uuid', value: UUID },
      { op: 'add', path: '/metadata/labels/mesh-admission.io~1mesh', value: 'fsm' },
    ]);
  });

  it('adds no init container for osm-edge ebpf interception', () => {
    const p = pod({ annotations: {} });
    const out = asPod(applied(p, plan(p, { flavor: 'osm-edge', meshConfig: { traffic: { interceptionMode: 'ebpf' } } })));
    expect(out.spec?.initContainers).toBeUndefined();
    expect(names(out.spec?.containers)).toEqual(['app', 'sidecar']);
  });
});

describe('native sidecar mode', () => {
  it('puts init then sidecar (restartPolicy Always, startupProbe) ahead of the pod\'s own init containers', () => {
    const p = pod({ spec: { initContainers: [{ name: 'migrate', image: 'm' }] } });
    const r = plan(p, { mode: 'native' });
    const out = asPod(applied(p, r));
    expect(names(out.spec?.initContainers)).toEqual(['fsm-init', 'sidecar', 'migrate']);
    expect(names(out.spec?.containers)).toEqual(['app']);
    const sidecar = out.spec?.initContainers?.[1];
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.startupProbe?.tcpSocket?.port).toBe(15000);
    expect(sidecar?.lifecycle).toEqual({ preStop: { exec: { command: ['/usr/local/bin/gkill'] } } });
  });

  it('is chosen by auto from Kubernetes 1.33, and per pod by annotation', () => {
    expect(plan(pod(), { mode: 'auto', kubernetesMinor: 33 })).toMatchObject({ reason: 'native' });
    expect(plan(pod(), { mode: 'auto', kubernetesMinor: 32 })).toMatchObject({ reason: 'classic' });
    expect(plan(pod(), { mode: 'auto' })).toMatchObject({ reason: 'classic' });
    expect(plan(pod({ annotations: { 'flomesh.io/sidecar-mode': 'native' } }))).toMatchObject({ reason: 'native' });
    expect(plan(pod({ annotations: { 'flomesh.io/sidecar-mode': 'sidecar' } }))).toMatchObject({ action: 'deny', message: expect.stringContaining('expected classic, native or auto') });
  });
});

describe('probes', () => {
  const probed = () =>
    pod({
      spec: {
        containers: [
          {
            name: 'app',
            image: 'a',
            ports: [{ name: 'http', containerPort: 8080 }],
            livenessProbe: { httpGet: { path: '/live', port: 'http' }, timeoutSeconds: 2 },
            readinessProbe: { tcpSocket: { port: 8080 } },
            startupProbe: { httpGet: { path: '/s', port: 8443, scheme: 'HTTPS' } },
          },
        ],
      },
    });

  it('routes HTTP, HTTPS and TCP probes through the sidecar and records the originals', () => {
    const p = probed();
    const r = plan(p, { meshConfig: { sidecar: { holdApplicationUntilProxyStarts: false } } });
    if (r.action !== 'inject') throw new Error(r.action);
    const out = asPod(applied(p, r));
    const app = out.spec?.containers[0];
    expect(app?.livenessProbe).toEqual({ httpGet: { path: '/fsm-healthcheck', port: 15901, httpHeaders: [{ name: 'Original-Http-Port', value: '8080' }, { name: 'Original-Http-Path', value: '/live' }] }, timeoutSeconds: 2 });
    expect(app?.readinessProbe).toEqual({ httpGet: { port: 15904, path: '/fsm-healthcheck', httpHeaders: [{ name: 'Original-Tcp-Port', value: '8080' }] } });
    expect(app?.startupProbe).toEqual({ httpGet: { path: '/fsm-healthcheck', port: 15903, scheme: 'HTTP', httpHeaders: [{ name: 'Original-Tcp-Port', value: '8443' }] } });
    expect(names(out.spec?.containers)).toEqual(['app', 'sidecar', 'fsm-healthcheck']);
    expect(out.spec?.containers[1]?.ports?.map((x) => x.name)).toEqual(['proxy-admin', 'proxy-inbound', 'proxy-metrics', 'liveness-port', 'startup-port']);
    expect(r.secret?.originalHealthProbes).toEqual({
      liveness: { path: '/live', port: 8080, timeoutSeconds: 2, isHTTP: true, isTCPSocket: false },
      readiness: { path: '', port: 8080, timeoutSeconds: 1, isHTTP: false, isTCPSocket: true },
      startup: { path: '', port: 8443, timeoutSeconds: 1, isHTTP: false, isTCPSocket: true },
    });
  });

  it('never rewrites a probe twice', () => {
    const p = probed();
    const once = asPod(applied(p, plan(p)));
    // Strip the identity so the pod is injected again from scratch: the probes must stay as they are.
    const copy = structuredClone(once) as V1Pod;
    copy.spec!.containers = copy.spec!.containers.filter((c) => c.name === 'app');
    copy.spec!.volumes = [];
    const again = plan(copy as never, { uuid: UUID2 });
    if (again.action !== 'inject') throw new Error(again.action);
    expect(again.patch.some((o) => o.path.includes('Probe'))).toBe(false);
  });

  it('denies a named port that does not resolve in that container', () => {
    const p = pod({ spec: { containers: [{ name: 'app', image: 'a', livenessProbe: { httpGet: { path: '/', port: 'admin' } } }] } });
    expect(plan(p)).toMatchObject({
      action: 'deny',
      message: 'Pod apps/web-7c9f5d-*: container "app" liveness probe uses port "admin", which does not resolve to a port of that container (declare it in the container\'s ports or use a number)',
    });
  });

  it('leaves gRPC and exec probes alone and excludes the gRPC port from inbound interception', () => {
    const p = pod({ spec: { containers: [{ name: 'app', image: 'a', livenessProbe: { grpc: { port: 9000 } }, readinessProbe: { exec: { command: ['true'] } } }] } });
    const r = plan(p);
    if (r.action !== 'inject') throw new Error(r.action);
    expect(r.warnings).toEqual(['container "app" liveness probe is gRPC on port 9000: that port is excluded from inbound interception so the kubelet can reach it']);
    const out = asPod(applied(p, r));
    expect(out.spec?.containers.find((c) => c.name === 'app')).toEqual(p.spec && (p.spec as { containers: unknown[] }).containers[0]);
    expect(out.spec?.initContainers?.[0]?.args?.[1]).toContain('-I FSM_PROXY_INBOUND -p tcp --match multiport --dports 9000 -j RETURN');
  });
});

describe('already-injected pods', () => {
  it('a reinvocation of an injected pod is a no-op', () => {
    const p = pod();
    const once = applied(p, plan(p));
    expect(plan(once, { uuid: UUID2 })).toEqual({ action: 'noop', reason: 'already-injected', message: 'the sidecar and proxy UUID label are present', warnings: [] });
  });

  it('a pod another injector injected (sidecar and proxy UUID without this server\'s label) is left as it is', () => {
    const p = pod();
    const byMesh = structuredClone(applied(p, plan(p)));
    delete byMesh.metadata!.labels!['mesh-admission.io/mesh'];
    expect(plan(byMesh, { uuid: UUID2 })).toEqual({
      action: 'noop',
      reason: 'other-injector',
      message: 'the sidecar and proxy UUID label are present without mesh-admission.io/mesh=fsm: another injector injected this pod',
      warnings: [],
    });
    // injected for another mesh of the same flavor: not this server's either
    byMesh.metadata!.labels!['mesh-admission.io/mesh'] = 'other';
    expect(plan(byMesh, { uuid: UUID2 })).toMatchObject({ action: 'noop', reason: 'other-injector' });
  });

  it('a kubectl debug --copy-to copy gets a new identity; containers and probes untouched; its Secret from its probes', () => {
    const p = pod({ spec: { containers: [{ name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }], livenessProbe: { httpGet: { path: '/live', port: 'http' }, timeoutSeconds: 2 } }] } });
    const first = plan(p);
    const copy = structuredClone(applied(p, first));
    delete copy.metadata!.labels!['fsm-proxy-uuid'];
    const r = plan(copy, { uuid: UUID2 });
    if (r.action !== 'reidentify') throw new Error(r.action);
    expect(r.patch).toEqual([
      { op: 'add', path: '/metadata/labels/fsm-proxy-uuid', value: UUID2 },
      { op: 'add', path: '/metadata/labels/mesh-admission.io~1mesh', value: 'fsm' },
      { op: 'replace', path: '/spec/volumes/0/secret/secretName', value: `sidecar-bootstrap-config-${UUID2}` },
    ]);
    // the new Secret records the original probes, read back from the copy's rewritten ones: the old Secret is not needed
    expect(r.secret).toMatchObject({ name: `sidecar-bootstrap-config-${UUID2}`, commonName: `${UUID2}.sidecar.web.apps.cluster.local`, originalHealthProbes: { liveness: { path: '/live', port: 8080, timeoutSeconds: 2, isHTTP: true, isTCPSocket: false }, readiness: null, startup: null } });
    expect(r.secret?.originalHealthProbes).toEqual('secret' in first ? first.secret?.originalHealthProbes : undefined);
  });

  it('denies a user volume that takes the bootstrap volume name without being a Secret volume', () => {
    const p = pod({ spec: { volumes: [{ name: 'sidecar-bootstrap-config-volume', emptyDir: {} }] } });
    expect(plan(p)).toMatchObject({ action: 'deny', reason: 'invalid-pod', message: expect.stringContaining('volume "sidecar-bootstrap-config-volume" is reserved') });
  });
});

describe('local DNS proxy', () => {
  const controller = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'fsm-controller', namespace: 'fsm-system' }, spec: { clusterIP: '10.96.0.20' } };
  const mc = { sidecar: { localDNSProxy: { enable: true } } };

  it('FSM: points DNS at the controller and merges a user dnsConfig instead of replacing it', () => {
    const p = pod({ spec: { dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '2' }] } } });
    const r = plan(p, { meshConfig: mc, controllerService: controller });
    const out = asPod(applied(p, r));
    expect(out.spec?.dnsPolicy).toBe('None');
    expect(out.spec?.dnsConfig).toEqual({ nameservers: ['10.96.0.20', '1.1.1.1'], searches: ['apps.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: [{ name: 'ndots', value: '2' }] });
    expect(out.spec?.hostAliases).toEqual([{ ip: '10.96.0.20', hostnames: ['fsm-controller.fsm-system'] }]);
    expect(r.warnings).toContain('spec.dnsConfig merged with the local DNS proxy settings');
  });

  it('denies when the merge would exceed three nameservers', () => {
    const p = pod({ spec: { dnsConfig: { nameservers: ['1.1.1.1', '8.8.8.8', '9.9.9.9'] } } });
    expect(plan(p, { meshConfig: mc, controllerService: controller })).toMatchObject({ action: 'deny', message: expect.stringContaining('at most 3 in all') });
  });

  it('FSM without a controller Service leaves DNS alone, with a warning', () => {
    const r = plan(pod(), { meshConfig: mc });
    expect(r.warnings).toContain('local DNS proxy not configured: Service fsm-system/fsm-controller has no cluster IP in the webhook\'s view');
    expect(asPod(applied(pod(), r)).spec?.dnsPolicy).toBeUndefined();
  });
});

describe('malformed pods are answered, not crashed on', () => {
  it.each([
    [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }, 'the pod has no spec'],
    [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [] } }, 'the pod has no containers'],
    [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: 'app' } }, 'the pod has no containers'],
    [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ image: 'a' }] } }, 'spec.containers must be a list of containers with names'],
    [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'a' }], volumes: [1] } }, 'spec.volumes must be a list of volumes'],
  ])('%j', (p, message) => {
    expect(plan(p as never)).toEqual({ action: 'deny', reason: 'invalid-pod', message: `Pod apps/x: ${message}`, warnings: [] });
  });
});
