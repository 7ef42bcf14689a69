// manifests/ as `kubectl apply -k` sees it: each flavor's overlay, and an overlay with every parameter changed, rendered
// with `kubectl kustomize`; every object checked for the properties the install promises (README.md, "Installing in a
// cluster") and against what src/install/ builds for that mesh, every field name checked against the Kubernetes API
// models, and the generated files checked to be what `npm run manifests` writes from the kind table today.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
// the generated model serializer of @kubernetes/client-node: drops every field its typed models do not know
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { FLAVOR_NAMES, generateManifests, INSTALL, REPO_ROOT } from '../scripts/manifests.js';
import { meshIdentity, type MeshIdentity } from '../src/mesh/flavor.js';
import { installName } from '../src/mesh/names.js';
import { accessReviewRules, clusterRole, clusterRoleBinding, meshNamespaceRole, metricsReaderClusterRole } from '../src/install/rbac.js';
import { DEFAULT_IMAGES } from '../src/injector/settings.js';
import { webhookConfigurations, webhookNames } from '../src/install/webhook-config.js';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

function findKubectl(): string | undefined {
  for (const p of [process.env.KUBECTL, '/usr/bin/kubectl', '/usr/local/bin/kubectl']) if (p && existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const KUBECTL = findKubectl();
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'Namespace']);

describe('generated manifests', () => {
  it('are up to date with the kind table (run `npm run manifests` if this fails)', () => {
    for (const [path, text] of Object.entries(generateManifests())) {
      expect(readFileSync(join(REPO_ROOT, path), 'utf8'), `${path} is stale: run npm run manifests`).toBe(text);
    }
  });

  it('each overlay holds the parameters of its flavor\'s default mesh', () => {
    for (const flavor of FLAVOR_NAMES) {
      const mesh = meshIdentity(flavor);
      const dir = join(REPO_ROOT, 'manifests/overlays', flavor);
      const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJSON() as Obj;
      expect(k.resources).toEqual([`../../flavors/${flavor}`]);
      expect(k.namespace).toBe(mesh.meshNamespace);
      const params = parseAllDocuments(readFileSync(join(dir, 'parameters.yaml'), 'utf8'))[0]!.toJSON() as Obj;
      expect(params.data).toEqual({ meshName: mesh.meshName, failurePolicy: 'Fail', monitoringNamespace: 'monitoring', healthcheckImage: DEFAULT_IMAGES[flavor].healthcheck });
    }
  });
});

/** What an install is parameterised with. */
interface Params {
  readonly mesh: MeshIdentity;
  readonly image: string;
  readonly replicas: number;
  readonly failurePolicy: string;
  /** the overlay includes the NetworkPolicy component, with this monitoring namespace */
  readonly monitoringNamespace?: string;
  readonly healthcheckImage: string;
}

/** A user's overlay outside the repository: a copy of the flavor's overlay with every parameter changed. */
function customOverlay(flavor: 'fsm' | 'osm-edge', p: Params): string {
  const dir = mkdtempSync(join(tmpdir(), `mesh-admission-overlay-${flavor}-`));
  const src = join(REPO_ROOT, 'manifests/overlays', flavor);
  for (const f of ['kustomization.yaml', 'parameters.yaml', 'replacements.yaml']) copyFileSync(join(src, f), join(dir, f));
  const [name, tag] = p.image.split(':');
  const k = readFileSync(join(dir, 'kustomization.yaml'), 'utf8')
    .replace(`../../flavors/${flavor}`, relative(dir, join(REPO_ROOT, 'manifests/flavors', flavor)))
    .replace(/^namespace: .*$/m, `namespace: ${p.mesh.meshNamespace}`)
    .replace('newName: mesh-admission', `newName: ${name}`)
    .replace('newTag: latest', `newTag: ${tag}`)
    .replace('count: 2', `count: ${p.replicas}`);
  const component = p.monitoringNamespace ? `components:\n  - ${relative(dir, join(REPO_ROOT, 'manifests/components/network-policy'))}\n` : '';
  writeFileSync(join(dir, 'kustomization.yaml'), k + component);
  const params = readFileSync(join(dir, 'parameters.yaml'), 'utf8')
    .replace(/meshName: .*/, `meshName: ${p.mesh.meshName}`)
    .replace(/failurePolicy: .*/, `failurePolicy: ${p.failurePolicy}`)
    .replace(/monitoringNamespace: .*/, `monitoringNamespace: ${p.monitoringNamespace ?? 'monitoring'}`)
    .replace(/healthcheckImage: .*/, `healthcheckImage: ${p.healthcheckImage}`);
  writeFileSync(join(dir, 'parameters.yaml'), params);
  return dir;
}

const defaults = (flavor: 'fsm' | 'osm-edge'): Params => ({ mesh: meshIdentity(flavor), image: 'mesh-admission:latest', replicas: 2, failurePolicy: 'Fail', healthcheckImage: DEFAULT_IMAGES[flavor].healthcheck });
const INSTALLS: ReadonlyArray<{ title: string; dir: () => string; params: Params }> = [
  { title: 'manifests/ (fsm, defaults)', dir: () => join(REPO_ROOT, 'manifests'), params: defaults('fsm') },
  { title: 'manifests/overlays/fsm', dir: () => join(REPO_ROOT, 'manifests/overlays/fsm'), params: defaults('fsm') },
  { title: 'manifests/overlays/osm-edge', dir: () => join(REPO_ROOT, 'manifests/overlays/osm-edge'), params: defaults('osm-edge') },
  ...(['fsm', 'osm-edge'] as const).map((flavor) => {
    // a mesh name with a dash: the names of the cluster-scoped objects are split at dashes to carry it
    const params: Params = { mesh: meshIdentity(flavor, 'blue-2', 'blue-mesh'), image: 'registry.example.com/mesh-admission:v9', replicas: 3, failurePolicy: 'Ignore', monitoringNamespace: 'observability', healthcheckImage: 'mirror.example.com/healthcheck:v9' };
    return { title: `a copied ${flavor} overlay with every parameter changed and the NetworkPolicy component`, dir: () => customOverlay(flavor, params), params };
  }),
];

if (KUBECTL)
  describe('manifests/monitoring (kubectl kustomize)', () => {
    it('a ServiceMonitor scraping the metrics port over HTTPS with a token, and Prometheus bound to the install\'s metrics-reader ClusterRole', () => {
      const docs = parseAllDocuments(execFileSync(KUBECTL!, ['kustomize', join(REPO_ROOT, 'manifests/monitoring')], { encoding: 'utf8' })).map((d) => d.toJSON() as Obj);
      const sm = docs.find((d) => d.kind === 'ServiceMonitor')!;
      expect(sm.metadata.namespace).toBe('fsm-system');
      expect(sm.spec.endpoints).toEqual([
        { port: 'metrics', scheme: 'https', path: '/metrics', interval: '30s', bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token', tlsConfig: { serverName: 'mesh-admission.fsm-system.svc', ca: { secret: { name: 'fsm-admission-tls', key: 'ca.crt' } } } },
      ]);
      const binding = docs.find((d) => d.kind === 'ClusterRoleBinding')!;
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: metricsReaderClusterRole(meshIdentity('fsm')).metadata.name });
    });
  });

describe.skipIf(!KUBECTL)('an install that only validates (README: "Replacing the mesh\'s own webhooks")', () => {
  it('the README\'s patch, in a copied overlay for another mesh, drops the injection webhook and nothing else', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const patch = /To keep this server as the validator[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    const dir = customOverlay('fsm', { ...defaults('fsm'), mesh: meshIdentity('fsm', 'blue', 'blue-system') });
    const k = readFileSync(join(dir, 'kustomization.yaml'), 'utf8').replace('  - path: parameters.yaml\n', `  - path: parameters.yaml\n${patch}`);
    writeFileSync(join(dir, 'kustomization.yaml'), k);
    const docs = parseAllDocuments(execFileSync(KUBECTL!, ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJSON() as Obj);
    expect(docs.filter((d) => d.kind === 'MutatingWebhookConfiguration')).toEqual([]);
    expect(docs.filter((d) => d.kind === 'ValidatingWebhookConfiguration').map((d) => d.metadata.name)).toEqual(['mesh-admission-blue']);
    // the install's other objects, the metrics-reader ClusterRole among them
    expect(docs).toHaveLength(10);
  });
});

if (!KUBECTL) {
  describe('manifests/ (kubectl kustomize)', () => {
    it.skip('kubectl is not installed: the kustomizations were not rendered (install kubectl to check them)', () => undefined);
  });
} else {
  for (const install of INSTALLS) describeInstall(install.title, install.dir, install.params);
}

function describeInstall(title: string, dir: () => string, { mesh, image, replicas, failurePolicy, monitoringNamespace, healthcheckImage }: Params): void {
  let docs: Obj[] = [];
  const one = (kind: string, name = CLUSTER_SCOPED.has(kind) ? installName(mesh) : 'mesh-admission'): Obj => {
    const found = docs.filter((d) => d.kind === kind && d.metadata.name === name);
    expect(found, `${kind} ${name}`).toHaveLength(1);
    return found[0]!;
  };
  const NS = mesh.meshNamespace;
  const labels = { 'app.kubernetes.io/name': 'mesh-admission', 'app.kubernetes.io/instance': mesh.meshName };

  describe(`${title} (kubectl kustomize)`, () => {
    beforeAll(() => {
      const rendered = execFileSync(KUBECTL!, ['kustomize', dir()], { encoding: 'utf8' });
      docs = parseAllDocuments(rendered).map((d) => d.toJSON() as Obj).filter(Boolean);
    });

    it('renders exactly the install: no Namespace (it belongs to the mesh), every namespaced object in the mesh namespace', () => {
      expect(docs.map((d) => d.kind).sort()).toEqual(
        ['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration', ...(monitoringNamespace ? ['NetworkPolicy'] : [])].sort(),
      );
      for (const d of docs) {
        if (CLUSTER_SCOPED.has(d.kind)) expect(d.metadata.namespace, `${d.kind} is cluster-scoped`).toBeUndefined();
        else expect(d.metadata.namespace, `${d.kind}/${d.metadata.name}`).toBe(NS);
        expect(d.metadata.labels, `${d.kind} labels`).toMatchObject(labels);
        expect(JSON.stringify(d), `${d.kind}: no internal kustomize annotation left`).not.toContain('config.kubernetes.io');
      }
      for (const b of [one('ClusterRoleBinding'), one('RoleBinding')]) expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'mesh-admission', namespace: NS }]);
    });

    it('every cluster-scoped object carries the mesh name (two meshes\' installs never share one); namespaced ones live in the mesh namespace', () => {
      const scoped = `mesh-admission-${mesh.meshName}`;
      for (const d of docs) {
        if (CLUSTER_SCOPED.has(d.kind)) expect([scoped, `${scoped}-metrics-reader`], d.kind).toContain(d.metadata.name);
        else expect(d.metadata.name, d.kind).toBe('mesh-admission');
      }
      expect(docs.filter((d) => d.kind === 'ClusterRole').map((d) => d.metadata.name).sort()).toEqual([scoped, `${scoped}-metrics-reader`]);
    });

    it('every field is known to the Kubernetes API models (a stand-in for kubectl apply --dry-run=client, which needs a cluster)', () => {
      const sorted = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().filter((k) => (v as any)[k] !== undefined).map((k) => [k, sorted((v as any)[k])])) : v;
      for (const d of docs) {
        const type = `V1${d.kind}`;
        const back = ObjectSerializer.serialize(ObjectSerializer.deserialize(d, type, ''), type, '');
        expect(sorted(back), `${d.kind}/${d.metadata.name}: a field the API does not know`).toEqual(sorted(d));
      }
    });

    it('Deployment: 2 replicas, spread, no unavailability on rollout, probes, preStop, grace', () => {
      const dep = one('Deployment');
      expect(dep.spec.replicas).toBe(replicas);
      expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      const pod = dep.spec.template.spec;
      expect(dep.spec.selector.matchLabels).toEqual(labels);
      expect(dep.spec.template.metadata.labels).toMatchObject(dep.spec.selector.matchLabels);
      const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
      expect(anti).toEqual([{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: dep.spec.selector.matchLabels } } }]);
      expect(pod.serviceAccountName).toBe('mesh-admission');
      expect(pod.containers).toHaveLength(1);
      const c = pod.containers[0];
      expect(c.image).toBe(image);
      const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]));
      expect(ports).toEqual({ webhook: 9443, metrics: 9091, health: 8081 });
      // the probes on the plain health port; the metrics port is HTTPS behind RBAC, announced by no prometheus.io/*
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health', scheme: 'HTTP' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health', scheme: 'HTTP' });
      expect(Object.keys(dep.spec.template.metadata.annotations ?? {}).filter((k) => k.startsWith('prometheus.io/'))).toEqual([]);
      // preStop: an exec of a sleep binary the image has; the grace period covers it plus the server's own drain
      const cmd: string[] = c.lifecycle.preStop.exec.command;
      expect(cmd[0]).toBe('/bin/sleep');
      const preStop = Number(cmd[1]);
      expect(preStop).toBeGreaterThanOrEqual(5);
      const args: string[] = c.args;
      const arg = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
      expect(args[0]).toBe('serve');
      // the flavor and mesh name reach the server through the environment the args expand
      expect(arg('--flavor')).toBe('$(MESH_FLAVOR)');
      expect(arg('--mesh-name')).toBe('$(MESH_NAME)');
      const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
      expect(env).toMatchObject({ MESH_FLAVOR: mesh.flavor.name, MESH_NAME: mesh.meshName, HEALTHCHECK_IMAGE: healthcheckImage });
      expect(arg('--healthcheck-image')).toBe('$(HEALTHCHECK_IMAGE)');
      expect(arg('--host')).toBe('0.0.0.0');
      expect(arg('--mesh-namespace')).toBe('$(POD_NAMESPACE)');
      expect(arg('--port')).toBe('9443');
      expect(arg('--metrics-port')).toBe('9091');
      expect(arg('--health-port')).toBe('8081');
      expect(args).not.toContain('--insecure-metrics');
      const grace = Number(arg('--shutdown-grace-seconds') ?? '20');
      const delay = Number(arg('--shutdown-delay-seconds') ?? '5');
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + delay + grace);
      expect(c.env).toContainEqual({ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
      // writable paths are all under the mounted emptyDir
      const mounts: string[] = c.volumeMounts.map((m: any) => m.mountPath);
      for (const dir of [arg('--certs-dir'), arg('--secrets-dir')]) {
        expect(dir, 'certs/secrets dirs must be set explicitly').toBeDefined();
        expect(mounts.some((m) => dir!.startsWith(m + '/')), `${dir} on a mounted volume`).toBe(true);
      }
      const tmp = c.volumeMounts.find((m: any) => m.mountPath === '/tmp');
      expect(pod.volumes.find((v: any) => v.name === tmp.name).emptyDir).toBeDefined();
    });

    it('Deployment: non-root numeric user, read-only root, no capabilities, RuntimeDefault seccomp, resources', () => {
      const pod = one('Deployment').spec.template.spec;
      const c = pod.containers[0];
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(Number.isInteger(c.securityContext.runAsUser ?? pod.securityContext.runAsUser)).toBe(true);
      expect(c.securityContext.capabilities.add).toBeUndefined();
      for (const k of ['requests', 'limits']) {
        expect(c.resources[k].cpu, `${k}.cpu`).toBeDefined();
        expect(c.resources[k].memory, `${k}.memory`).toBeDefined();
      }
      // from the measured resident memory (README "Memory"): the request above the 338 MB peak at 10,000 objects
      expect(c.resources.requests.memory).toBe('384Mi');
      expect(c.resources.limits.memory).toBe('768Mi');
    });

    it('PodDisruptionBudget maxUnavailable 1 over the Deployment’s pods', () => {
      const pdb = one('PodDisruptionBudget');
      expect(pdb.apiVersion).toBe('policy/v1');
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(pdb.spec.minAvailable).toBeUndefined();
      expect(pdb.spec.selector.matchLabels).toEqual(one('Deployment').spec.selector.matchLabels);
    });

    it('Service: 443 → webhook port, and the metrics port, selecting the Deployment’s pods', () => {
      const svc = one('Service');
      expect(svc.metadata.name).toBe(INSTALL.serviceName);
      expect(svc.spec.selector).toEqual(one('Deployment').spec.selector.matchLabels);
      const byName = Object.fromEntries(svc.spec.ports.map((p: any) => [p.name, p]));
      expect(byName.webhook).toMatchObject({ port: 443, targetPort: 'webhook' });
      expect(byName.metrics).toMatchObject({ port: 9091, targetPort: 'metrics', appProtocol: 'https' });
      expect(Object.keys(byName).sort()).toEqual(['metrics', 'webhook']);
    });

    it('RBAC: no wildcard anywhere; the ClusterRole and Role are the generated ones', () => {
      for (const d of docs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
        for (const r of d.rules) {
          for (const s of [...(r.apiGroups ?? []), ...(r.resources ?? []), ...(r.verbs ?? []), ...(r.resourceNames ?? []), ...(r.nonResourceURLs ?? [])]) {
            expect(s, `${d.kind} rule ${JSON.stringify(r)}`).not.toContain('*');
          }
        }
      }
      expect(one('ClusterRole')).toEqual(clusterRole(mesh));
      expect(one('ClusterRole', `${installName(mesh)}-metrics-reader`)).toEqual(metricsReaderClusterRole(mesh));
      // the server asks the API server who a metrics caller is and what it may do
      expect(one('ClusterRole').rules).toEqual(expect.arrayContaining(accessReviewRules()));
      expect(one('Role')).toEqual(meshNamespaceRole(mesh));
      expect(one('ClusterRoleBinding')).toEqual(clusterRoleBinding(mesh));
      expect(one('ClusterRoleBinding').roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `mesh-admission-${mesh.meshName}` });
      expect(one('RoleBinding').roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mesh-admission' });
    });

    if (monitoringNamespace)
      it('NetworkPolicy (component): the webhook port open, the metrics port from the monitoring namespace only, nothing else', () => {
        const np = one('NetworkPolicy');
        expect(np.spec).toEqual({
          podSelector: { matchLabels: one('Deployment').spec.selector.matchLabels },
          policyTypes: ['Ingress'],
          ingress: [
            { ports: [{ port: 'webhook', protocol: 'TCP' }] },
            { ports: [{ port: 'metrics', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': monitoringNamespace } } }] },
          ],
        });
        // the named ports exist on the pods it selects
        const ports = one('Deployment').spec.template.spec.containers[0].ports.map((p: any) => p.name);
        expect(ports).toEqual(expect.arrayContaining(['webhook', 'metrics']));
      });

    it('webhook configurations: as built from the kind table for this mesh, through the Service, without caBundle', () => {
      const n = webhookNames(mesh);
      const { mutating, validating } = webhookConfigurations(mesh, { target: { service: { name: INSTALL.serviceName, namespace: NS, port: INSTALL.port } } });
      // the failure policy parameter applies to the two webhooks that may deny; the warning-only entries stay Ignore
      for (const w of [...mutating.webhooks, ...validating.webhooks]) if (w.name === n.inject || w.name === n.validate) w.failurePolicy = failurePolicy;
      const m = one('MutatingWebhookConfiguration');
      const v = one('ValidatingWebhookConfiguration');
      expect(m).toEqual(mutating);
      expect(v).toEqual(validating);
      expect(m.webhooks[0]).toMatchObject({ name: n.inject, failurePolicy, sideEffects: 'None', timeoutSeconds: 10, reinvocationPolicy: 'Never', admissionReviewVersions: ['v1', 'v1beta1'] });
      expect(m.webhooks[0].namespaceSelector.matchExpressions[0]).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', NS] });
      expect(m.webhooks[0].namespaceSelector.matchLabels).toEqual({ [`${mesh.flavor.domain}/monitored-by`]: mesh.meshName });
      expect(v.webhooks.find((w: any) => w.name === n.validate)).toMatchObject({ failurePolicy, timeoutSeconds: 5 });
      expect(v.webhooks.find((w: any) => w.name === n.validateServices)).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 5 });
      for (const w of [...m.webhooks, ...v.webhooks]) {
        expect(w.clientConfig.caBundle).toBeUndefined();
        expect(w.clientConfig.service).toMatchObject({ name: one('Service').metadata.name, namespace: NS, port: 443 });
      }
    });
  });
}
