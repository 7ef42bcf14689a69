// Test helpers: run one object through the validator against a set of other objects.
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity, type FlavorName } from '../../src/mesh/flavor.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import { gvkOf, type KubeObject } from '../../src/mesh/objects.js';
import { validate, type Verdict } from '../../src/validator/validate.js';

export interface CheckOptions {
  /** other objects present in the cluster */
  state?: readonly KubeObject[];
  flavor?: FlavorName;
  operation?: 'CREATE' | 'UPDATE';
  /** the stored version, on UPDATE */
  oldObject?: KubeObject;
}

/** The verdict's findings, without the identity of the object judged. */
export type Findings = Omit<Verdict, 'target' | 'skipped' | 'warningDetails'>;

/** The webhook's exact path: the validator's entry point over a view of `state` (placed as kubectl would store it). */
export function check(obj: KubeObject, opts: CheckOptions = {}): Findings {
  const view = new MemoryView((opts.state ?? []).map(placeManifest));
  const mesh = meshIdentity(opts.flavor ?? 'fsm');
  const { target, skipped, warningDetails, ...findings } = validate({ operation: opts.operation ?? 'CREATE', kind: gvkOf(obj), object: obj, ...(opts.oldObject ? { oldObject: opts.oldObject } : {}) }, view, mesh);
  return findings;
}

/** `<field>: <message>` lines of the denial causes, the way kubectl prints them. */
export function causes(v: Findings): string[] {
  return v.errors.map((e) => `${e.field}: ${e.message}`);
}

export const monitoredNamespace = (name: string, mesh = 'fsm', domain = 'flomesh.io'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { [`${domain}/monitored-by`]: mesh } },
});

export const meshConfig = (spec: Record<string, unknown>, flavor: FlavorName = 'fsm'): KubeObject =>
  flavor === 'fsm'
    ? { apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec }
    : { apiVersion: 'config.openservicemesh.io/v1alpha2', kind: 'MeshConfig', metadata: { name: 'osm-mesh-config', namespace: 'osm-system' }, spec };
