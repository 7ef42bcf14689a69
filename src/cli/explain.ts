// `mesh-admission explain`: what the mutating webhook would do to a pod created from each Pod or pod template.
import type { MeshIdentity } from '../mesh/flavor.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { injectPod, podNamespace, type AddedSummary } from '../injector/inject.js';
import type { InjectorOptions } from '../injector/settings.js';
import { loadOffline } from './offline.js';

/** Shown where the per-pod proxy UUID would go. */
export const UUID_PLACEHOLDER = '<proxy-uuid>';

export interface ExplainResult {
  readonly source: string;
  /** e.g. `Deployment curl/curl` */
  readonly object: string;
  readonly decision: 'inject' | 'skip' | 'deny' | 'noop' | 'reidentify';
  readonly reason: string;
  readonly message: string;
  readonly warnings: readonly string[];
  readonly added?: AddedSummary;
}

/** Where each workload kind keeps its pod template, and what owns the pods it creates. */
const TEMPLATES: Readonly<Record<string, { path: readonly string[]; owner: (name: string) => { kind: string; name: string } }>> = {
  Deployment: { path: ['spec', 'template'], owner: (n) => ({ kind: 'ReplicaSet', name: `${n}-5d8f7c9b6d` }) },
  StatefulSet: { path: ['spec', 'template'], owner: (n) => ({ kind: 'StatefulSet', name: n }) },
  DaemonSet: { path: ['spec', 'template'], owner: (n) => ({ kind: 'DaemonSet', name: n }) },
  ReplicaSet: { path: ['spec', 'template'], owner: (n) => ({ kind: 'ReplicaSet', name: n }) },
  Job: { path: ['spec', 'template'], owner: (n) => ({ kind: 'Job', name: n }) },
  CronJob: { path: ['spec', 'jobTemplate', 'spec', 'template'], owner: (n) => ({ kind: 'Job', name: `${n}-28999999` }) },
};

function dig(obj: unknown, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = isRecord(cur) ? cur[p] : undefined;
  return cur;
}

/** The pod the API server would see: the template's metadata and spec, the workload's namespace, its owner. */
export function podFromWorkload(obj: KubeObject): KubeObject | undefined {
  if (obj.kind === 'Pod') return obj;
  const t = TEMPLATES[obj.kind ?? ''];
  if (!t) return undefined;
  const template = dig(obj, t.path);
  if (!isRecord(template)) return undefined;
  const name = obj.metadata?.name ?? '';
  const owner = t.owner(name);
  const meta = isRecord(template.metadata) ? template.metadata : {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...meta, generateName: `${name}-`, namespace: obj.metadata?.namespace, ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: '<owner-uid>', controller: true }] },
    spec: template.spec,
  };
}

export function explain(files: readonly string[], mesh: MeshIdentity, opts: Omit<InjectorOptions, 'mesh'>, stateDir?: string): ExplainResult[] {
  const { given, view } = loadOffline(files, stateDir);
  const results: ExplainResult[] = [];
  for (const { object, source } of given) {
    const pod = podFromWorkload(object);
    if (!pod) continue;
    const request = { pod, uuid: UUID_PLACEHOLDER };
    const label = `${object.kind} ${podNamespace(request)}/${object.metadata?.name ?? object.metadata?.generateName ?? ''}`;
    const plan = injectPod(request, view, { ...opts, mesh });
    const base = { source, object: label, decision: plan.action, reason: plan.reason, message: plan.message, warnings: plan.warnings };
    results.push(plan.action === 'inject' || plan.action === 'reidentify' ? { ...base, added: plan.summary } : base);
  }
  return results;
}

export function formatExplainText(results: readonly ExplainResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.object} (${r.source}): ${r.decision.toUpperCase()} — ${r.message}`);
    for (const w of r.warnings) lines.push(`  Warning: ${w}`);
    const a = r.added;
    if (!a) continue;
    const list = (names: readonly string[]) => names.map((n) => (a.images[n] ? `${n} (${a.images[n]})` : n)).join(', ');
    lines.push(`  mode: ${a.mode}`);
    if (a.initContainers.length) lines.push(`  init containers: + ${list(a.initContainers)}`);
    if (a.containers.length) lines.push(`  containers: + ${list(a.containers)}`);
    if (a.volumes.length) lines.push(`  volumes: + ${a.volumes.join(', ')}`);
    const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`);
    if (labels.length) lines.push(`  labels: + ${labels.join(', ')}`);
    const annotations = Object.entries(a.annotations).map(([k, v]) => `${k}=${v}`);
    if (annotations.length) lines.push(`  annotations: + ${annotations.join(', ')}`);
    if (a.rewrittenProbes.length) lines.push(`  probes rewritten: ${a.rewrittenProbes.join(', ')}`);
    if (a.volumes.length || r.decision === 'reidentify') lines.push(`  bootstrap Secret: sidecar-bootstrap-config-${UUID_PLACEHOLDER}`);
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}
