// `mesh-admission explain`: what the mutating webhook would do to a pod created from each Pod or pod template, as a
// report (text, JSON) or as the manifests themselves with the injection applied (-o yaml, like istioctl kube-inject).
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { stringify } from 'yaml';
import type { MemoryView } from '../cluster/memory.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { injectPod, podNamespace, type AddedSummary } from '../injector/inject.js';
import type { InjectorOptions } from '../injector/settings.js';
import type { Input } from './input.js';
import { offlineView, readFiles, readStateFolder } from './offline.js';

/** Shown where the per-pod proxy UUID would go. */
export const UUID_PLACEHOLDER = '<proxy-uuid>';

export interface ExplainResult {
  readonly source: string;
  /** 1-based line of the workload in its source */
  readonly line: number;
  /** e.g. `Deployment curl/curl` */
  readonly object: string;
  readonly decision: 'inject' | 'skip' | 'deny' | 'noop' | 'reidentify';
  readonly reason: string;
  readonly message: string;
  readonly warnings: readonly string[];
  readonly added?: AddedSummary;
  /** the webhook's JSON patch for the pod (inject, reidentify) */
  readonly patch?: readonly Operation[];
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

/** One entry per given document: its explanation when it is a Pod or a workload, undefined otherwise. */
export function explainDocuments(given: Input, mesh: MeshIdentity, opts: Omit<InjectorOptions, 'mesh'>, state?: Input, cluster?: MemoryView): Array<ExplainResult | undefined> {
  const view = offlineView(given.documents, state?.documents, cluster);
  return given.documents.map(({ object, source, line }) => {
    const pod = podFromWorkload(object);
    if (!pod) return undefined;
    const request = { pod, uuid: UUID_PLACEHOLDER };
    const label = `${object.kind} ${podNamespace(request)}/${object.metadata?.name ?? object.metadata?.generateName ?? ''}`;
    const plan = injectPod(request, view, { ...opts, mesh });
    const base = { source, line, object: label, decision: plan.action, reason: plan.reason, message: plan.message, warnings: plan.warnings };
    return plan.action === 'inject' || plan.action === 'reidentify' ? { ...base, added: plan.summary, patch: plan.patch } : base;
  });
}

/** The Pods and workloads of some files, explained (for tests and scripts). */
export function explain(paths: readonly string[], mesh: MeshIdentity, opts: Omit<InjectorOptions, 'mesh'>, stateDir?: string): ExplainResult[] {
  return explainDocuments(readFiles(paths), mesh, opts, stateDir ? readStateFolder(stateDir) : undefined).filter((r): r is ExplainResult => r !== undefined);
}

/**
 * The object with the webhook's patch applied: the pod itself, or the workload whose template now holds the injected
 * pod's labels, annotations and spec (the metadata the API server would add to the pod is not copied back).
 */
export function injectedObject(object: KubeObject, patch: readonly Operation[]): KubeObject {
  const pod = podFromWorkload(object);
  if (!pod) return object;
  const patched = fastJsonPatch.applyPatch(structuredClone(pod), structuredClone([...patch]), true, false).newDocument as KubeObject;
  if (object.kind === 'Pod') return patched;
  const copy = structuredClone(object);
  const path = TEMPLATES[object.kind ?? '']!.path;
  const template = dig(copy, path) as Record<string, unknown>;
  const meta = isRecord(template.metadata) ? { ...template.metadata } : {};
  for (const key of ['labels', 'annotations'] as const) if (patched.metadata?.[key] !== undefined) meta[key] = patched.metadata[key];
  if (Object.keys(meta).length > 0) template.metadata = meta;
  template.spec = patched.spec;
  return copy;
}

/** Every given document in order, the injected ones with their injection applied: what kube-inject would print. */
export function formatExplainYaml(given: Input, results: ReadonlyArray<ExplainResult | undefined>): string {
  return given.documents
    .map((d, i) => {
      const r = results[i];
      const object = r?.patch ? injectedObject(d.object, r.patch) : d.object;
      return `---\n${stringify(object, { lineWidth: 0 })}`;
    })
    .join('');
}

export function formatExplainText(results: readonly ExplainResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.source}:${r.line}: ${r.object}: ${r.decision.toUpperCase()} — ${r.message}`);
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
