// `mesh-admission explain`: what the mutating webhook would do to a pod created from each Pod or pod template, as a
// report (text, JSON) or as the manifests themselves with the injection applied (-o yaml, like istioctl kube-inject).
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { isMap, isSeq, type Document } from 'yaml';
import type { MemoryView } from '../cluster/memory.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { injectPod, podNamespace, type AddedSummary } from '../injector/inject.js';
import type { InjectorOptions } from '../injector/settings.js';
import type { Input } from './input.js';
import { offlineView, readFiles, readStateFolder, STATE_FLAGS, withNamespace } from './offline.js';

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
  /** the decision depends on a Namespace that is not known: the webhook may decide otherwise */
  readonly unverified?: boolean;
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

/** What an unknown namespace lacks, and the three ways to give it. */
export const NAMESPACE_HINT = `give it with ${STATE_FLAGS}, or put the Namespace in the input`;

/** One entry per given document: its explanation when it is a Pod or a workload, undefined otherwise. */
export function explainDocuments(given: Input, mesh: MeshIdentity, opts: Omit<InjectorOptions, 'mesh'>, state?: Input, cluster?: MemoryView, namespace?: string): Array<ExplainResult | undefined> {
  const placed = withNamespace(given.documents, namespace);
  const view = offlineView(placed, state?.documents, cluster);
  return placed.map(({ object, source, line }) => {
    const pod = podFromWorkload(object);
    if (!pod) return undefined;
    const request = { pod, uuid: UUID_PLACEHOLDER };
    const ns = podNamespace(request);
    const label = `${object.kind} ${ns}/${object.metadata?.name ?? object.metadata?.generateName ?? ''}`;
    const plan = injectPod(request, view, { ...opts, mesh });
    // Without its Namespace the webhook's answer cannot be known: say so, and how to give it.
    const unknown = plan.action === 'skip' && plan.reason === 'not-monitored' && !view.get('Namespace', '', ns);
    const message = unknown ? `namespace ${ns} is not known: ${NAMESPACE_HINT}` : plan.message;
    const base = { source, line, object: label, decision: plan.action, reason: plan.reason, message, warnings: plan.warnings, ...(unknown ? { unverified: true } : {}) };
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

// ---- -o yaml: the input printed back, the injections applied in place ------------------------------------------

type Segment = string | number;

/** RFC 6901 pointer → segments (`~1` is `/`, `~0` is `~`). */
const pointer = (path: string): string[] =>
  path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/**
 * Where a pod patch's path lands in the object as written: the pod itself, or the workload's template (its labels,
 * annotations and spec; the rest of the pod's metadata is the API server's, not the workload's).
 */
function workloadPath(kind: string, podPath: readonly string[]): Segment[] | undefined {
  if (kind === 'Pod') return [...podPath];
  const template = TEMPLATES[kind]?.path;
  if (!template) return undefined;
  const [top, key] = podPath;
  if (top === 'spec') return [...template, ...podPath];
  if (top === 'metadata' && (key === 'labels' || key === 'annotations')) return [...template, ...podPath];
  return undefined;
}

/** Applies an add/replace/remove at `path` to the document, keeping every other node (and comment) as it was. */
function applyToDocument(doc: Document, op: Operation, path: readonly Segment[]): void {
  // seq indexes are numbers, map keys strings, decided by the node met at each step
  const resolved: Segment[] = [];
  let node: unknown = doc.contents;
  for (const seg of path) {
    const key = isSeq(node) && /^\d+$/.test(String(seg)) ? Number(seg) : seg;
    resolved.push(key);
    node = isSeq(node) || isMap(node) ? node.get(key, true) : undefined;
  }
  const last = path[path.length - 1];
  const parent = doc.getIn(resolved.slice(0, -1), true);
  if (op.op === 'add' && isSeq(parent)) {
    const item = doc.createNode(op.value);
    if (last === '-') parent.items.push(item);
    else parent.items.splice(Number(last), 0, item);
  } else if (op.op === 'add' || op.op === 'replace') doc.setIn(resolved, doc.createNode((op as { value: unknown }).value));
  else if (op.op === 'remove') doc.deleteIn(resolved);
}

/** The layout choices of a text, so that an edited document keeps its author's style where the library allows. */
function styleOf(text: string): { indentSeq: boolean; flowCollectionPadding: boolean } {
  return {
    // block sequences at the indentation of their key (`key:\n- item`), as kubectl writes them
    indentSeq: !/^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(text),
    // `{a: 1}` rather than `{ a: 1 }`
    flowCollectionPadding: !/[{[][^\s}\]]/.test(text) || /[{[] /.test(text),
  };
}

/**
 * Every given text printed back as it was read, each document the webhook would change edited in place (comments
 * and the rest of its layout kept), every other document byte for byte, `List`s kept as Lists: what kube-inject would
 * print, and what `diff` against the input shows as the injection only.
 */
export function formatExplainYaml(given: Input, results: ReadonlyArray<ExplainResult | undefined>): string {
  const changes = new Map<string, Array<{ object: KubeObject; item?: number; patch: readonly Operation[] }>>();
  given.documents.forEach((d, i) => {
    const patch = results[i]?.patch;
    if (!patch || !d.place) return;
    const key = `${d.place.text}/${d.place.document}`;
    const list = changes.get(key) ?? [];
    list.push({ object: d.object, ...(d.place.item !== undefined ? { item: d.place.item } : {}), patch });
    changes.set(key, list);
  });
  const out: string[] = [];
  (given.texts ?? []).forEach((t, ti) => {
    let text = '';
    let end = 0;
    for (const d of t.documents) {
      end = d.offset + d.text.length;
      const edits = changes.get(`${ti}/${d.index}`);
      if (!edits) {
        text += d.text;
        continue;
      }
      for (const e of edits)
        for (const op of e.patch) {
          const path = workloadPath(e.object.kind ?? '', pointer(op.path));
          if (path) applyToDocument(d.doc, op, e.item !== undefined ? ['items', e.item, ...path] : path);
        }
      // the blank lines that followed the document belong to the layout too
      text += d.doc.toString({ lineWidth: 0, ...styleOf(d.text) }) + (/\n(\s*)$/.exec(d.text)?.[1] ?? '');
    }
    text += t.text.slice(end);
    if (text === '') return;
    // a text that does not start a document of its own would run on into the previous one
    if (out.length > 0 && !/^(?:[ \t]*(?:#[^\n]*)?\n)*---(?:\s|$)/.test(text)) out.push('---\n');
    out.push(text.endsWith('\n') ? text : `${text}\n`);
  });
  return out.join('');
}

/** `5 pods and templates: 2 inject, 3 skip (3 unverified)`: the decisions add up to the count. */
export function explainSummary(results: readonly ExplainResult[]): string {
  const n = (d: ExplainResult['decision']): number => results.filter((r) => r.decision === d).length;
  const decisions = (['inject', 'reidentify', 'noop', 'skip', 'deny'] as const).filter((d) => d === 'inject' || d === 'skip' || d === 'deny' || n(d) > 0).map((d) => `${n(d)} ${d}`);
  const unverified = results.filter((r) => r.unverified).length;
  return `${results.length} ${results.length === 1 ? 'pod or template' : 'pods and templates'}: ${decisions.join(', ')}${unverified ? ` (${unverified} unverified)` : ''}`;
}

export function formatExplainText(results: readonly ExplainResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.source}${r.line > 0 ? `:${r.line}` : ''}: ${r.object}: ${r.unverified ? 'UNVERIFIED ' : ''}${r.decision.toUpperCase()} — ${r.message}`);
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
