// `mesh-admission explain`: inject / skip / deny per Pod and pod template, with what would be added.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { explain, podFromWorkload, UUID_PLACEHOLDER } from '../../src/cli/explain.js';
import { readFiles } from '../../src/cli/offline.js';
import { injectPod } from '../../src/injector/inject.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { offlineView } from '../../src/cli/offline.js';
import { REPO_ROOT } from '../support/fixtures.js';

/** No cluster in the environment: explain decides offline unless told otherwise. */
const { KUBECONFIG: _kubeconfig, ...offlineEnv } = process.env;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, input: '', env: offlineEnv });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('explain', () => {
  it('turns every workload kind into the pod it would create', () => {
    const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['Deployment', { template }, 'ReplicaSet'],
      ['StatefulSet', { template }, 'StatefulSet'],
      ['DaemonSet', { template }, 'DaemonSet'],
      ['ReplicaSet', { template }, 'ReplicaSet'],
      ['Job', { template }, 'Job'],
      ['CronJob', { jobTemplate: { spec: { template } } }, 'Job'],
    ];
    for (const [kind, spec, owner] of cases) {
      const pod = podFromWorkload({ apiVersion: 'apps/v1', kind, metadata: { name: 'w', namespace: 'apps' }, spec });
      expect(pod?.spec).toEqual(template.spec);
      expect(pod?.metadata?.labels).toEqual({ app: 'x' });
      expect(pod?.metadata?.ownerReferences?.[0]?.kind).toBe(owner);
    }
    expect(podFromWorkload({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } })).toBeUndefined();
  });

  it('reports inject, skip and the added containers for the example pods', () => {
    const results = explain([join(REPO_ROOT, 'examples/pods')], meshIdentity('fsm'), { sidecarMode: 'classic' }, join(REPO_ROOT, 'examples/cluster'));
    expect(results.map((r) => [r.object, r.decision, r.reason])).toEqual([
      ['Pod curl/curl', 'inject', 'classic'],
      ['Pod httpbin/httpbin-probes', 'inject', 'classic'],
      ['Pod curl/curl-no-sidecar', 'skip', 'not-enabled'],
      ['Pod auth/ext-auth', 'skip', 'not-monitored'],
      ['Pod legacy/curl', 'skip', 'not-monitored'],
    ]);
    expect(results[1]?.added).toMatchObject({ initContainers: ['fsm-init'], containers: ['sidecar', 'fsm-healthcheck'], volumes: ['sidecar-bootstrap-config-volume'], labels: { 'fsm-proxy-uuid': '<proxy-uuid>' } });
  });

  it('prints text and exits 1 when a pod would be denied', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-explain-'));
    const file = join(dir, 'deploy.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: curl}
spec:
  template:
    metadata:
      annotations: {flomesh.io/outbound-port-exclusion-list: "80,0"}
    spec:
      containers: [{name: web, image: nginx}]
`,
    );
    const r = cli('explain', '-f', file, '--cluster-state', 'examples/cluster');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${file}:1: Deployment curl/web: DENY — Invalid port value '0' specified for annotation 'flomesh.io/outbound-port-exclusion-list' on Pod curl/web-*\n1 pod or template: 0 inject, 0 skip, 1 deny\n`);
    const ok = cli('explain', '-f', 'examples/pods/01-pod-curl.yaml', '--cluster-state', 'examples/cluster', '--sidecar-mode', 'native');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('examples/pods/01-pod-curl.yaml:4: Pod curl/curl: INJECT — sidecar injected (native mode)\n  mode: native\n  init containers: + fsm-init (flomesh/fsm-sidecar-init:1.6.0), sidecar (flomesh/pipy:1.5.14)\n');
  });

  it('-o yaml prints every document, the injected ones with the webhook\'s patch applied (like istioctl kube-inject)', () => {
    const state = readFiles([join(REPO_ROOT, 'examples/cluster')]);
    const podFile = join(REPO_ROOT, 'examples/pods/02-pod-httpbin-probes.yaml');
    const r = cli('explain', '-f', 'examples/pods/02-pod-httpbin-probes.yaml', '-f', 'examples/pods/03-pod-curl-injection-disabled.yaml', '--cluster-state', 'examples/cluster', '--sidecar-mode', 'classic', '-o', 'yaml');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject);
    // the pod as the webhook leaves it: the same patch, applied to the same pod
    const pod = parse(readFileSync(podFile, 'utf8')) as KubeObject;
    const plan = injectPod({ pod, uuid: UUID_PLACEHOLDER }, offlineView([], state.documents), { mesh: meshIdentity('fsm'), sidecarMode: 'classic' });
    if (plan.action !== 'inject') throw new Error(`expected an injection, got ${plan.action}`);
    expect(docs[0]).toEqual(fastJsonPatch.applyPatch(structuredClone(pod), plan.patch, true, false).newDocument);
    expect(docs[0]?.metadata?.labels?.['fsm-proxy-uuid']).toBe(UUID_PLACEHOLDER);
    // a skipped pod is printed unchanged
    expect(docs[1]).toEqual(parse(readFileSync(join(REPO_ROOT, 'examples/pods/03-pod-curl-injection-disabled.yaml'), 'utf8')));
  });

  it('-o yaml puts the injected pod back into a workload\'s template, passes other objects through, reads stdin', () => {
    const input = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: curl}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: curl}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'explain', '-f', '-', '--cluster-state', 'examples/cluster', '--sidecar-mode', 'classic', '-o', 'yaml'], { cwd: REPO_ROOT, encoding: 'utf8', input, env: offlineEnv });
    expect(r.status).toBe(0);
    const [svc, deploy] = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject & { spec: any });
    expect(svc).toEqual(parseAllDocuments(input)[0]!.toJS());
    const template = deploy!.spec.template;
    expect(template.metadata.labels).toEqual({ app: 'web', 'fsm-proxy-uuid': UUID_PLACEHOLDER, 'mesh-admission.io/mesh': 'fsm' });
    expect(template.metadata.generateName).toBeUndefined();
    expect(template.spec.containers.map((c: { name: string }) => c.name)).toEqual(['sidecar', 'web']);
    expect(template.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['fsm-init']);
    expect(deploy!.spec.selector).toEqual({ matchLabels: { app: 'web' } });
  });
  it('predicts Pod Security: DENY with the webhook\'s message where the namespace enforces a level the injected pod fails, the cluster default by flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'explain-psa-'));
    const ns = (labels: string) =>
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    flomesh.io/monitored-by: fsm\n${labels}  annotations:\n    flomesh.io/sidecar-injection: enabled\n---\n`;
    const deploy = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n';
    const refusal = (level: string, source = '') =>
      `namespace shop enforces Pod Security "${level}"${source}, which would refuse this pod once the sidecar is injected: non-default capabilities (container "fsm-init" must not include "NET_ADMIN" in securityContext.capabilities.add); container "fsm-init" sets up the traffic interception with iptables, which needs NET_ADMIN and root; ways out: label namespace shop pod-security.kubernetes.io/enforce=privileged, use node-level interception (MeshConfig spec.traffic.interceptionMode: NodeLevel) or disable injection for namespace shop (annotation flomesh.io/sidecar-injection: disabled)`;
    writeFileSync(join(dir, 'labelled.yaml'), ns('    pod-security.kubernetes.io/enforce: baseline\n') + deploy);
    const labelled = cli('explain', join(dir, 'labelled.yaml'), '--no-kubeconfig');
    expect(labelled.code).toBe(1);
    expect(labelled.stdout).toBe(`${join(dir, 'labelled.yaml')}:11: Deployment shop/web: DENY — Pod shop/web-*: ${refusal('baseline:latest')}\n1 pod or template: 0 inject, 0 skip, 1 deny\n`);
    writeFileSync(join(dir, 'plain.yaml'), ns('') + deploy);
    expect(cli('explain', join(dir, 'plain.yaml'), '--no-kubeconfig').code).toBe(0);
    const byDefault = cli('explain', join(dir, 'plain.yaml'), '--no-kubeconfig', '--pod-security-default', 'enforce=baseline,warn=restricted');
    expect(byDefault.code).toBe(1);
    expect(byDefault.stdout).toContain(`DENY — Pod shop/web-*: ${refusal('baseline:latest', ' (the cluster default)')}\n`);
    const bad = cli('explain', join(dir, 'plain.yaml'), '--no-kubeconfig', '--pod-security-default', 'enforce=strict');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`"enforce=strict": expected MODE=LEVEL[:VERSION], MODE enforce, warn or audit, LEVEL privileged, baseline or restricted, VERSION latest or v1.N (e.g. enforce=baseline:v1.28)`);
  });

  it('--healthcheck-image names the helper added for a TCP probe; without it, the flavor\'s default', () => {
    const input = `apiVersion: v1
kind: Pod
metadata: {name: db, namespace: curl}
spec:
  containers: [{name: db, image: postgres, ports: [{containerPort: 5432}], livenessProbe: {tcpSocket: {port: 5432}}}]
`;
    const run = (...extra: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'explain', '-f', '-', '--cluster-state', 'examples/cluster', '-o', 'json', ...extra], { cwd: REPO_ROOT, encoding: 'utf8', input, env: offlineEnv });
    const images = (r: ReturnType<typeof run>) => (JSON.parse(r.stdout) as { results: Array<{ added: { images: Record<string, string> } }> }).results[0]!.added.images['fsm-healthcheck'];
    expect(images(run('--healthcheck-image', 'mirror.example.com/fsm-healthcheck:1.6.0'))).toBe('mirror.example.com/fsm-healthcheck:1.6.0');
    expect(images(run())).toBe('flomesh/fsm-healthcheck:1.6.0');
  });
});
