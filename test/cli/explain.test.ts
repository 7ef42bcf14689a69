// `mesh-admission explain`: inject / skip / deny per Pod and pod template, with what would be added.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, podFromWorkload } from '../../src/cli/explain.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { REPO_ROOT } from '../support/fixtures.js';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
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
    expect(r.stdout).toBe(`Deployment curl/web (${file}): DENY — Invalid port value '0' specified for annotation 'flomesh.io/outbound-port-exclusion-list' on Pod curl/web-*\n`);
    const ok = cli('explain', '-f', 'examples/pods/01-pod-curl.yaml', '--cluster-state', 'examples/cluster', '--sidecar-mode', 'native');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Pod curl/curl (examples/pods/01-pod-curl.yaml): INJECT — sidecar injected (native mode)\n  mode: native\n  init containers: + fsm-init (flomesh/fsm-sidecar-init:1.6.0), sidecar (flomesh/pipy:1.5.14)\n');
  });
});
