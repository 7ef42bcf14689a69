// The audit: what slipped past admission. Every existing policy object is judged by the validator's entry point as if
// it were created now (same causes, same field paths as a denial), and every pod of the mesh's namespaces is compared
// with what the injector's entry point would do with it now. Pure and synchronous, like the two engines it joins: the
// view, the pods and the names of the bootstrap Secrets come in, findings go out. Used by `mesh-admission audit`, by
// the server's continuous audit, and by the tests.
import type { MeshIdentity } from '../mesh/flavor.js';
import { findKind, KINDS } from '../mesh/kinds.js';
import { isMonitoredNamespace, isUnmeshedNamespace, proxyUuidLabel } from '../mesh/names.js';
import { isRecord, splitApiVersion, type KubeObject } from '../mesh/objects.js';
import type { ClusterView } from '../cluster/view.js';
import { SIDECAR_CONTAINER } from '../injector/containers.js';
import { bootstrapSecretPlan, injectPod, podNamespace, sidecarImageFor } from '../injector/inject.js';
import type { InjectorOptions } from '../injector/settings.js';
import { PLACEMENT_RULE } from '../validator/plugin.js';
import { validate } from '../validator/validate.js';
import type { OwnWebhooks, WebhookConfigurations } from '../mesh/webhook-conflicts.js';
import type { Finding, Severity } from './finding.js';
import { webhookFindings } from './webhooks.js';

export type { Finding, Severity } from './finding.js';

export interface AuditInput {
  /** the cluster as the webhooks see it: policies, Namespaces, Services, the MeshConfig */
  readonly view: ClusterView;
  /** the pods of the namespaces to audit, as stored (status included) */
  readonly pods: readonly KubeObject[];
  /** `<namespace>/<name>` of the bootstrap Secrets that exist; undefined when they could not be listed (not checked) */
  readonly bootstrapSecrets?: ReadonlySet<string>;
  /** why the bootstrap Secrets were not listed, for the report (when `bootstrapSecrets` is undefined) */
  readonly bootstrapSecretsNotListed?: string;
  /** audit only this namespace's objects and pods (cluster-scoped objects are then left out) */
  readonly namespace?: string;
  /** epoch ms: pods younger than `secretGraceMs` are not yet expected to have their bootstrap Secret */
  readonly now: number;
  /** the cluster's webhook configurations and this server's own: other webhooks conflicting with it are findings */
  readonly webhooks?: { readonly configurations: WebhookConfigurations; readonly own: OwnWebhooks };
  /** why the webhook configurations were not read, for the report (when `webhooks` is undefined) */
  readonly webhooksNotListed?: string;
}

export interface AuditOptions {
  readonly mesh: MeshIdentity;
  readonly injector: InjectorOptions;
  /** how long a new pod may wait for its bootstrap Secret (created from the pod watch) before it counts (default 60 s) */
  readonly secretGraceMs?: number;
}

export interface AuditReport {
  /** sorted by kind (table order, pods last), namespace, name, then errors before warnings */
  readonly findings: Finding[];
  /** how many policy objects and pods were judged */
  readonly objects: number;
  readonly pods: number;
  /** checks that did not run, and why */
  readonly notChecked: string[];
}

/** Warnings that describe rather than warn (where a Plugin lands in its chains): not findings. */
const INFORMATIONAL_RULES = new Set([PLACEMENT_RULE]);
/** The UUID handed to the injector: the audit only reads the decision, never the patch. */
const AUDIT_UUID = '00000000-0000-4000-8000-000000000000';
const DEFAULT_SECRET_GRACE_MS = 60_000;

const KIND_ORDER = new Map(KINDS.map((k, i) => [k.kind, i]));

/** The audit in one go (the CLI, the tests). */
export function audit(input: AuditInput, opts: AuditOptions): AuditReport {
  const steps = auditSteps(input, opts);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The audit one object or pod at a time: the generator yields after each, so that a server can spread a run over
 * short slices of its event loop (admission requests are answered between them) instead of blocking it for the
 * length of the run. Objects are taken from the view as it is at each step.
 */
export function* auditSteps(input: AuditInput, opts: AuditOptions): Generator<void, AuditReport> {
  const findings: Finding[] = [];
  const objects = yield* auditObjects(input, opts, findings);
  const notChecked: string[] = [];
  // cluster-wide: not part of a one-namespace audit
  if (input.namespace === undefined) {
    if (input.webhooks) findings.push(...webhookFindings(opts.mesh, input.webhooks.own, input.webhooks.configurations, input.view.list('Namespace')));
    else if (input.webhooksNotListed) notChecked.push(`webhook configurations (${input.webhooksNotListed})`);
  }
  if (!input.bootstrapSecrets) notChecked.push(`bootstrap Secrets (${input.bootstrapSecretsNotListed ?? 'they could not be listed'})`);
  const pods = yield* auditPods(input, opts, findings);
  yield* auditNamespaces(input, opts, findings);
  findings.sort(byObject);
  return { findings, objects, pods, notChecked };
}

/** A namespace the webhooks cover: monitored by this mesh, not ignored, not a system or the mesh's own namespace. */
function inMesh(view: ClusterView, mesh: MeshIdentity, namespace: string): boolean {
  if (isUnmeshedNamespace(mesh, namespace)) return false;
  const labels = view.get('Namespace', '', namespace)?.metadata?.labels;
  return isMonitoredNamespace(mesh, isRecord(labels) ? labels : undefined);
}

/** The namespaces whose pods the audit looks at (those the injection webhook covers). */
export function meshNamespaces(view: ClusterView, mesh: MeshIdentity): string[] {
  return view
    .list('Namespace')
    .map((ns) => ns.metadata?.name ?? '')
    .filter((name) => name !== '' && inMesh(view, mesh, name))
    .sort();
}

function* auditObjects(input: AuditInput, opts: AuditOptions, findings: Finding[]): Generator<void, number> {
  const { view, namespace } = input;
  let count = 0;
  for (const entry of KINDS) {
    if (namespace !== undefined && entry.scope === 'Cluster') continue;
    for (const obj of [...view.list(entry.kind, namespace)]) {
      yield;
      const ns = obj.metadata?.namespace ?? '';
      // Services are checked where their webhook entry applies: the mesh's namespaces (not kube-system's).
      if (entry.warningsOnly && !inMesh(view, opts.mesh, ns)) continue;
      const { group } = splitApiVersion(obj.apiVersion);
      // an object stored under a group the table does not know for this kind is not the mesh's
      if (!findKind(group, entry.kind)) continue;
      count++;
      const verdict = validate({ operation: 'CREATE', kind: { group, kind: entry.kind }, object: obj }, view, opts.mesh);
      const at = { kind: entry.kind, group, namespace: verdict.target.namespace, name: verdict.target.name };
      for (const e of verdict.errors) findings.push({ severity: 'error', ...at, rule: e.rule, field: e.field, message: e.message });
      for (const w of verdict.warningDetails)
        if (!INFORMATIONAL_RULES.has(w.rule ?? '')) findings.push({ severity: 'warning', ...at, rule: w.rule ?? 'warning', field: w.field, message: w.message });
    }
  }
  return count;
}

interface ContainerAt {
  readonly field: string;
  readonly image: unknown;
}

/** The sidecar container wherever the injector puts it (containers in classic mode, initContainers in native mode). */
function sidecarOf(spec: Record<string, unknown>): ContainerAt | undefined {
  for (const list of ['containers', 'initContainers'] as const) {
    const items = Array.isArray(spec[list]) ? (spec[list] as unknown[]) : [];
    const i = items.findIndex((c) => isRecord(c) && c.name === SIDECAR_CONTAINER);
    if (i >= 0) return { field: `spec.${list}[${i}]`, image: (items[i] as Record<string, unknown>).image };
  }
  return undefined;
}

/** Pods that no longer run, or whose fate admission never decided (mirror pods of static manifests). */
function outOfScope(pod: KubeObject): boolean {
  const phase = isRecord(pod.status) ? pod.status.phase : undefined;
  if (phase === 'Succeeded' || phase === 'Failed') return true;
  if (pod.metadata?.deletionTimestamp) return true;
  return typeof pod.metadata?.annotations?.['kubernetes.io/config.mirror'] === 'string';
}

function* auditPods(input: AuditInput, opts: AuditOptions, findings: Finding[]): Generator<void, number> {
  const { view } = input;
  const { mesh } = opts;
  const grace = opts.secretGraceMs ?? DEFAULT_SECRET_GRACE_MS;
  let count = 0;
  for (const pod of input.pods) {
    const namespace = podNamespace({ pod });
    if (input.namespace !== undefined && namespace !== input.namespace) continue;
    if (!inMesh(view, mesh, namespace) || outOfScope(pod) || !isRecord(pod.spec)) continue;
    yield;
    count++;
    const name = pod.metadata?.name ?? '';
    const found = (severity: Severity, rule: string, field: string, message: string): void => {
      findings.push({ severity, kind: 'Pod', group: '', namespace, name, rule, field, message });
    };
    const plan = injectPod({ pod, namespace, uuid: AUDIT_UUID }, view, opts.injector);
    const sidecar = sidecarOf(pod.spec);
    switch (plan.action) {
      case 'inject':
        // NodeLevel interception adds only the UUID label: a pod that has it is as the injector leaves it.
        if (plan.secret === undefined && pod.metadata?.labels?.[proxyUuidLabel(mesh)]) break;
        // Created before the namespace joined the mesh or enabled injection, or while the injector was down (or
        // failing open): the pod runs outside the mesh, and in strict mode meshed clients cannot reach it.
        found('warning', 'pod-sidecar-missing', 'spec.containers', 'no sidecar, although injection is enabled for this pod: it was created before injection was enabled or while the injector was unavailable; recreate it (e.g. kubectl rollout restart of its workload)');
        break;
      case 'reidentify':
        // A sidecar without its proxy UUID label was not added by an injector: nothing ties the proxy to its pod, and no
        // bootstrap Secret is created for it.
        found('warning', 'pod-proxy-uuid-missing', 'metadata.labels', `the pod carries a sidecar but no ${proxyUuidLabel(mesh)} label: it was not created through the injector (a copy made while the injector was unavailable?); recreate it`);
        break;
      case 'deny':
        // Its controller's next replacement pod would be refused: a scale-up or an eviction leaves the workload short.
        found('error', 'pod-injection-denied', '', `the injector would refuse this pod if it were created now: ${plan.message}`);
        break;
      case 'skip':
        // A sidecar the injector would no longer add (injection disabled, or the namespace out of the mesh since): the
        // pod's traffic still goes through a proxy the mesh may no longer configure.
        if (sidecar) found('warning', 'pod-sidecar-unexpected', sidecar.field, `the pod carries a sidecar, but the injector would not inject one now: ${plan.message}`);
        break;
      case 'noop': {
        const expected = sidecarImageFor(pod, view, opts.injector);
        // A sidecar left on an old image after a mesh upgrade: it keeps the old proxy's behaviour and fixes.
        if (sidecar && sidecar.image !== expected)
          found('warning', 'pod-sidecar-image', `${sidecar.field}.image`, `sidecar image ${JSON.stringify(sidecar.image ?? '')} differs from the one the injector uses now, ${JSON.stringify(expected)}: restart the pod to upgrade its proxy`);
        const secret = input.bootstrapSecrets ? bootstrapSecretPlan(pod, view, opts.injector) : undefined;
        const created = Date.parse(pod.metadata?.creationTimestamp ?? '');
        const settled = Number.isNaN(created) || input.now - created >= grace;
        // Without its bootstrap Secret the sidecar cannot start (the volume never mounts) nor restart.
        if (secret && settled && !input.bootstrapSecrets?.has(`${secret.namespace}/${secret.name}`))
          found('error', 'pod-bootstrap-secret-missing', 'spec.volumes', `the sidecar's bootstrap Secret ${secret.namespace}/${secret.name} does not exist: the sidecar cannot start or restart; recreate the pod (the injector then creates a new Secret)`);
        break;
      }
    }
  }
  return count;
}

/** The pod a namespace's check imagines: no annotations (the namespace decides injection), no security context. */
const PROBE_POD_PREFIX = 'any-pod-';

/**
 * Namespaces of the mesh whose Pod Security level (enforce) refuses the pods injected there: every new pod would be
 * refused, and a Deployment's replacement pods never appear. Judged by the injector's entry point on a plain pod, so
 * that the finding names the same level, containers and ways out as the webhook's refusal.
 */
function* auditNamespaces(input: AuditInput, opts: AuditOptions, findings: Finding[]): Generator<void, void> {
  for (const namespace of meshNamespaces(input.view, opts.mesh)) {
    if (input.namespace !== undefined && namespace !== input.namespace) continue;
    yield;
    const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: PROBE_POD_PREFIX, namespace }, spec: { containers: [{ name: 'app', image: 'app' }] } };
    const plan = injectPod({ pod, namespace, uuid: AUDIT_UUID }, input.view, opts.injector);
    if (plan.action !== 'deny' || plan.reason !== 'pod-security') continue;
    const message = plan.message.slice(plan.message.indexOf(': ') + 2);
    findings.push({ severity: 'error', kind: 'Namespace', group: '', namespace: '', name: namespace, rule: 'namespace-pod-security', field: 'metadata.labels', message: `pods injected here are refused: ${message}` });
  }
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1 };

/** Policy kinds in table order, then Namespaces, then pods. */
function kindRank(kind: string): number {
  return kind === 'Pod' ? KINDS.length + 1 : kind === 'Namespace' ? KINDS.length : KIND_ORDER.get(kind) ?? KINDS.length;
}

function byObject(a: Finding, b: Finding): number {
  const ka = kindRank(a.kind);
  const kb = kindRank(b.kind);
  return ka - kb || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity];
}
