// AdmissionReview wire types and parsing. Parsing is total: every input ends in a review or a one-line reason.
import { isRecord, type GroupVersionKind, type KubeObject } from '../mesh/objects.js';

export const ADMISSION_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_VERSIONS)[number];


export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  userInfo?: { username?: string; groups?: string[] };
  object: KubeObject | null;
  oldObject: KubeObject | null;
  dryRun: boolean;
}

/** metav1.StatusCause as it travels in JSON: the cause type's key is `reason` (Go's field `Type`, tag `json:"reason"`). */
export interface StatusCause {
  reason: string;
  field: string;
  message: string;
}

export interface AdmissionStatus {
  status: 'Failure';
  code: number;
  reason: string;
  message: string;
  details?: { name?: string; group?: string; kind?: string; causes: StatusCause[] };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface ParsedReview {
  apiVersion: AdmissionApiVersion;
  request: AdmissionRequest;
}

export type ParseResult = { ok: true; review: ParsedReview } | { ok: false; reason: string };

/** Deeper than any real object; bounded so a hostile body cannot exhaust the stack of later recursive code. */
export const MAX_JSON_DEPTH = 256;

/**
 * One iterative walk: rejects nesting deeper than MAX_JSON_DEPTH and drops own `__proto__` keys, so nothing later
 * (a spread, a merge in a patch library) can turn a key of the request into a prototype change.
 */
function sanitize(root: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_JSON_DEPTH) return `JSON nesting deeper than ${MAX_JSON_DEPTH} levels`;
    if (Array.isArray(value)) {
      for (const v of value) if (typeof v === 'object' && v !== null) stack.push([v, depth + 1]);
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(value, '__proto__')) delete (value as Record<string, unknown>)['__proto__'];
    for (const v of Object.values(value)) if (typeof v === 'object' && v !== null) stack.push([v, depth + 1]);
  }
  return undefined;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function parseGvk(v: unknown): GroupVersionKind {
  const r = isRecord(v) ? v : {};
  return { group: str(r.group), version: str(r.version), kind: str(r.kind) };
}

function objectOrNull(v: unknown): KubeObject | null {
  return isRecord(v) ? (v as KubeObject) : null;
}

export function parseReview(body: string): ParseResult {
  if (body.trim().length === 0) return { ok: false, reason: 'empty request body: expected an AdmissionReview' };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `malformed JSON: ${(err as Error).message.split('\n')[0]}` };
  }
  const tooDeep = sanitize(value);
  if (tooDeep) return { ok: false, reason: `rejected body: ${tooDeep}` };
  if (!isRecord(value)) return { ok: false, reason: 'body is not an AdmissionReview object' };
  if (value.kind !== 'AdmissionReview') return { ok: false, reason: `body is not an AdmissionReview (kind: ${JSON.stringify(value.kind ?? null)})` };
  const apiVersion = value.apiVersion;
  if (typeof apiVersion !== 'string' || !(ADMISSION_VERSIONS as readonly string[]).includes(apiVersion))
    return { ok: false, reason: `unsupported AdmissionReview apiVersion ${JSON.stringify(apiVersion ?? null)}: expected admission.k8s.io/v1 or admission.k8s.io/v1beta1` };
  const req = value.request;
  if (!isRecord(req)) return { ok: false, reason: 'AdmissionReview has no request object' };
  if (typeof req.uid !== 'string' || req.uid.length === 0) return { ok: false, reason: 'AdmissionReview request has no uid' };
  const userInfo = isRecord(req.userInfo) ? req.userInfo : undefined;
  const request: AdmissionRequest = {
    uid: req.uid,
    kind: parseGvk(req.kind),
    operation: str(req.operation),
    object: objectOrNull(req.object),
    oldObject: objectOrNull(req.oldObject),
    dryRun: req.dryRun === true,
  };
  if (isRecord(req.resource)) request.resource = { group: str(req.resource.group), version: str(req.resource.version), resource: str(req.resource.resource) };
  if (typeof req.subResource === 'string') request.subResource = req.subResource;
  if (typeof req.name === 'string') request.name = req.name;
  if (typeof req.namespace === 'string') request.namespace = req.namespace;
  if (userInfo) request.userInfo = { username: str(userInfo.username), groups: Array.isArray(userInfo.groups) ? userInfo.groups.filter((g): g is string => typeof g === 'string') : [] };
  return { ok: true, review: { apiVersion: apiVersion as AdmissionApiVersion, request } };
}
