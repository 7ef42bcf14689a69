// The two admissionregistration.k8s.io/v1 objects that route the API server to this server, derived from the kind
// table (src/mesh/kinds.ts) so that neither can drift from the kinds the validator understands. Pure. Used by
// `npm run manifests` (manifests/flavors/<flavor>/webhooks.yaml), by `serve --register-webhooks URL`, and by the
// caBundle patcher. The RBAC rules are in rbac.ts.
//
// Choices worth knowing:
// - `inject.<d>` has `sideEffects: None` (admission writes nothing: the bootstrap Secret is created from the pod watch
//   once the pod exists) and `reinvocationPolicy: Never`: a re-call after a later plugin changed the pod (the
//   ServiceAccount admission plugin changes every pod) can only find the sidecar and the proxy UUID label and answer
//   no-op, so it would cost a round trip per pod and do nothing (bench/RESULTS.md measures that round trip).
// - `validate.<d>` (the policy kinds, failurePolicy Fail) carries NO namespaceSelector. A namespaceSelector never applies
//   to cluster-scoped objects (Plugin, Cluster), and namespaced policies outside monitored namespaces still shape mesh
//   traffic (the MeshConfig lives in the mesh namespace itself; Egress/IngressBackend/... may sit in any namespace the
//   mesh reads). The rules only match the mesh's own CRDs, so nothing in kube-system can be blocked by it.
// - Rules are split per (group, scope): the cluster-scoped plurals get `scope: Cluster`, the others `scope: Namespaced`,
//   so the configuration states exactly what the table says.
// - `validate-services.<d>` (Services, warnings only) is `failurePolicy: Ignore` and limited to monitored namespaces by
//   the same selector as injection: a Service must never fail to be created (or deleted) because this server is down.
// - `validate-references.<d>` receives the DELETE of the kinds other objects refer to by name (the table's `referenced`
//   flag: Plugin, ServiceImport, Cluster, HTTPRouteGroup, TCPRoute; Services go to `validate-services`), to answer with
//   warnings naming who still refers to the object. It is `failurePolicy: Ignore` and never denies: a deletion must
//   never depend on this server being up. Their UPDATEs already go to `validate.<d>`.
import type {
  AdmissionregistrationV1WebhookClientConfig,
  V1LabelSelector,
  V1MutatingWebhook,
  V1MutatingWebhookConfiguration,
  V1ObjectMeta,
  V1RuleWithOperations,
  V1ValidatingWebhook,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { MeshIdentity } from '../mesh/flavor.js';
import { KINDS, kindResources, type KindInfo, type KindResource } from '../mesh/kinds.js';
import { ignoreLabel, installName, monitoredByLabel, NAMESPACE_NAME_LABEL, SYSTEM_NAMESPACES, serverLabels, WEBHOOK_PATHS } from '../mesh/names.js';

/** Injection timeout (the API server's maximum is 30). The server answers before it with its own deadline. */
export const INJECT_TIMEOUT_SECONDS = 10;
export const VALIDATE_TIMEOUT_SECONDS = 5;
const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';

/** client-node's types with the fields this module always sets made required, so callers need no `!`. */
type Named = V1ObjectMeta & { name: string; labels: Record<string, string> };
export type Rule = V1RuleWithOperations & { operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[]; scope: string };
type WithRules<W> = Omit<W, 'rules' | 'clientConfig'> & { rules: Rule[]; clientConfig: AdmissionregistrationV1WebhookClientConfig };
export type MutatingConfiguration = Omit<V1MutatingWebhookConfiguration, 'metadata' | 'webhooks'> & { metadata: Named; webhooks: WithRules<V1MutatingWebhook>[] };
export type ValidatingConfiguration = Omit<V1ValidatingWebhookConfiguration, 'metadata' | 'webhooks'> & { metadata: Named; webhooks: WithRules<V1ValidatingWebhook>[] };

// ---------------------------------------------------------------------------------------------------------------------
// Inputs

/**
 * Where the API server reaches the webhooks. `service`: an in-cluster Service (the path is set per webhook: /mutate-pod-creation
 * or /validate; port defaults to 443). `url`: the base URL of the server (e.g. `https://127.0.0.1:9443`, as given to
 * `--register-webhooks`); the webhook's path is appended to it.
 */
export type WebhookTarget = { service: { name: string; namespace: string; port?: number } } | { url: string };

export interface WebhookNames {
  /** metadata.name of the MutatingWebhookConfiguration */
  mutatingConfiguration: string;
  /** metadata.name of the ValidatingWebhookConfiguration */
  validatingConfiguration: string;
  /** the injection webhook entry, `inject.<d>` */
  inject: string;
  /** the policy validation webhook entry, `validate.<d>` */
  validate: string;
  /** the Service warnings webhook entry, `validate-services.<d>` */
  validateServices: string;
  /** the reference warnings on DELETE entry, `validate-references.<d>` */
  validateReferences: string;
}

export interface WebhookConfigOptions {
  target: WebhookTarget;
  /** base64 of the PEM bundle of CAs that sign the serving certificate; omitted when not given (patched at start) */
  caBundle?: string;
  names?: Partial<WebhookNames>;
}

export function defaultWebhookNames(mesh: MeshIdentity): WebhookNames {
  const d = mesh.flavor.domain;
  return {
    mutatingConfiguration: installName(mesh),
    validatingConfiguration: installName(mesh),
    inject: `inject.${d}`,
    validate: `validate.${d}`,
    validateServices: `validate-services.${d}`,
    validateReferences: `validate-references.${d}`,
  };
}

export function webhookNames(mesh: MeshIdentity, names?: Partial<WebhookNames>): WebhookNames {
  const out = { ...defaultWebhookNames(mesh) };
  for (const [k, v] of Object.entries(names ?? {}) as [keyof WebhookNames, string | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}

/** PEM → the base64 form `clientConfig.caBundle` takes. */
export function encodeCaBundle(pem: string): string {
  return Buffer.from(pem, 'utf8').toString('base64');
}

// ---------------------------------------------------------------------------------------------------------------------
// Selectors and rules

/**
 * The namespaces of this mesh: labelled `<d>/monitored-by: <meshName>`, not a system namespace nor the mesh's own
 * namespace (by `kubernetes.io/metadata.name`, which the API server sets and nobody can strip), and without the
 * `<d>/ignore` label.
 */
export function meshNamespaceSelector(mesh: MeshIdentity): V1LabelSelector {
  const excluded = [...new Set([...SYSTEM_NAMESPACES, mesh.meshNamespace])];
  return {
    matchLabels: { [monitoredByLabel(mesh.flavor)]: mesh.meshName },
    matchExpressions: [
      { key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: excluded },
      { key: ignoreLabel(mesh.flavor), operator: 'DoesNotExist' },
    ],
  };
}

const WRITES = ['CREATE', 'UPDATE'];

/** Group resources into rules, one per (group, scope, operations); groups, scopes and plurals in table order. */
function rulesFor(resources: readonly KindResource[], operations: (r: KindResource) => string[]): Rule[] {
  const rules = new Map<string, Rule>();
  for (const r of resources) {
    const ops = operations(r);
    const key = JSON.stringify([r.group, r.scope, ops]);
    let rule = rules.get(key);
    if (!rule) rules.set(key, (rule = { operations: ops, apiGroups: [r.group], apiVersions: ['*'], resources: [], scope: r.scope }));
    if (!rule.resources.includes(r.resource)) rule.resources.push(r.resource);
  }
  return [...rules.values()];
}

/** Rules of `validate.<d>`: every kind that can be denied, under every group it is published in. */
export function policyRules(kinds: readonly KindInfo[] = KINDS): Rule[] {
  return rulesFor(kindResources(kinds).filter((r) => !r.warningsOnly), () => WRITES);
}

/** Rules of `validate-services.<d>`: the warnings-only kinds (core Services), with DELETE when they are referenced. */
export function warningRules(kinds: readonly KindInfo[] = KINDS): Rule[] {
  return rulesFor(kindResources(kinds).filter((r) => r.warningsOnly), (r) => (r.referenced ? [...WRITES, 'DELETE'] : WRITES));
}

/** Rules of `validate-references.<d>`: DELETE of the policy kinds other objects refer to by name. */
export function referenceRules(kinds: readonly KindInfo[] = KINDS): Rule[] {
  return rulesFor(kindResources(kinds).filter((r) => r.referenced && !r.warningsOnly), () => ['DELETE']);
}

function clientConfig(target: WebhookTarget, path: string, caBundle: string | undefined): AdmissionregistrationV1WebhookClientConfig {
  const base: AdmissionregistrationV1WebhookClientConfig =
    'url' in target
      ? { url: target.url.replace(/\/+$/, '') + path }
      : { service: { namespace: target.service.namespace, name: target.service.name, path, port: target.service.port ?? 443 } };
  return caBundle ? { ...base, caBundle } : base;
}

// ---------------------------------------------------------------------------------------------------------------------
// The two configurations

export function mutatingWebhookConfiguration(mesh: MeshIdentity, opts: WebhookConfigOptions): MutatingConfiguration {
  const n = webhookNames(mesh, opts.names);
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: n.mutatingConfiguration, labels: serverLabels(mesh) },
    webhooks: [
      {
        name: n.inject,
        clientConfig: clientConfig(opts.target, WEBHOOK_PATHS.mutate, opts.caBundle),
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: meshNamespaceSelector(mesh),
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        timeoutSeconds: INJECT_TIMEOUT_SECONDS,
        reinvocationPolicy: 'Never',
        admissionReviewVersions: ['v1', 'v1beta1'],
      },
    ],
  };
}

export function validatingWebhookConfiguration(
  mesh: MeshIdentity,
  opts: WebhookConfigOptions,
  kinds: readonly KindInfo[] = KINDS,
): ValidatingConfiguration {
  const n = webhookNames(mesh, opts.names);
  const entry = (
    name: string,
    rules: Rule[],
    how: Pick<V1ValidatingWebhook, 'failurePolicy' | 'sideEffects'> & { namespaceSelector?: V1LabelSelector },
  ): WithRules<V1ValidatingWebhook> => ({
    name,
    clientConfig: clientConfig(opts.target, WEBHOOK_PATHS.validate, opts.caBundle),
    rules,
    ...(how.namespaceSelector ? { namespaceSelector: how.namespaceSelector } : {}),
    failurePolicy: how.failurePolicy,
    matchPolicy: 'Equivalent',
    sideEffects: how.sideEffects,
    timeoutSeconds: VALIDATE_TIMEOUT_SECONDS,
    admissionReviewVersions: ['v1', 'v1beta1'],
  });
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: n.validatingConfiguration, labels: serverLabels(mesh) },
    webhooks: [
      entry(n.validate, policyRules(kinds), { failurePolicy: 'Fail', sideEffects: 'NoneOnDryRun' }),
      entry(n.validateServices, warningRules(kinds), { failurePolicy: 'Ignore', sideEffects: 'NoneOnDryRun', namespaceSelector: meshNamespaceSelector(mesh) }),
      entry(n.validateReferences, referenceRules(kinds), { failurePolicy: 'Ignore', sideEffects: 'None' }),
    ],
  };
}

export function webhookConfigurations(
  mesh: MeshIdentity,
  opts: WebhookConfigOptions,
): { mutating: MutatingConfiguration; validating: ValidatingConfiguration } {
  return { mutating: mutatingWebhookConfiguration(mesh, opts), validating: validatingWebhookConfiguration(mesh, opts) };
}

export interface JsonPatchOperation {
  op: 'add' | 'test';
  path: string;
  value: unknown;
}

/**
 * RFC 6902 patch setting `clientConfig.caBundle` on every webhook entry of a configuration as last read (each `add`
 * guarded by a `test` of the entry's name, so a concurrent reorder fails the patch instead of patching the wrong entry).
 * Empty when every entry already carries this bundle.
 */
export function caBundlePatch(
  config: { webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string } }> },
  caBundle: string,
): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  (config.webhooks ?? []).forEach((w, i) => {
    if (w.clientConfig?.caBundle === caBundle) return;
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
    ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle });
  });
  return ops;
}
