// Minimal shapes shared by every Kubernetes object this server reads. Kind-specific specs are typed where they are
// validated; values coming off the wire are `unknown` until a check has looked at them.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: unknown;
  [key: string]: unknown;
}

/** A core v1 Secret as the API server returns it (`data` values base64). */
export interface SecretObject extends KubeObject {
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
}

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** `policy.flomesh.io/v1alpha1` → group and version; `v1` → core group. */
export function splitApiVersion(apiVersion: string | undefined): { group: string; version: string } {
  if (!apiVersion) return { group: '', version: '' };
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function gvkOf(obj: KubeObject): GroupVersionKind {
  return { ...splitApiVersion(obj.apiVersion), kind: typeof obj.kind === 'string' ? obj.kind : '' };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function nameOf(obj: KubeObject): string {
  return obj.metadata?.name ?? '';
}

export function namespaceOf(obj: KubeObject): string {
  return obj.metadata?.namespace ?? '';
}
