// Test helpers for the injector: a pod, a namespace, and the injector's entry point over a view holding them, with
// the defaults of standalone mode.
import fastJsonPatch from 'fast-json-patch';
import { MemoryView } from '../../src/cluster/memory.js';
import { injectPod, type InjectionPlan } from '../../src/injector/inject.js';
import type { InjectorOptions } from '../../src/injector/settings.js';
import { meshIdentity, type FlavorName, type MeshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';

export const UUID = '11111111-2222-4333-8444-555555555555';
export const UUID2 = '66666666-7777-4888-9999-aaaaaaaaaaaa';

export function namespace(name: string, opts: { flavor?: FlavorName; annotations?: Record<string, string>; labels?: Record<string, string>; monitored?: boolean } = {}): KubeObject {
  const domain = opts.flavor === 'osm-edge' ? 'openservicemesh.io' : 'flomesh.io';
  const mesh = opts.flavor === 'osm-edge' ? 'osm' : 'fsm';
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: { ...(opts.monitored === false ? {} : { [`${domain}/monitored-by`]: mesh }), ...(opts.labels ?? {}) },
      annotations: opts.annotations ?? { [`${domain}/sidecar-injection`]: 'enabled' },
    },
  };
}

export function pod(overrides: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Record<string, unknown>; metadata?: Record<string, unknown> } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-7c9f5d-', labels: { app: 'web', ...(overrides.labels ?? {}) }, ...(overrides.annotations ? { annotations: overrides.annotations } : {}), ...(overrides.metadata ?? {}) },
    spec: {
      serviceAccountName: 'web',
      containers: [{ name: 'app', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }] }],
      ...(overrides.spec ?? {}),
    },
  };
}

export function plan(p: KubeObject, opts: { ns?: KubeObject | null; nsName?: string; flavor?: FlavorName; mode?: InjectorOptions['sidecarMode']; meshConfig?: Record<string, unknown>; uuid?: string; controllerService?: KubeObject; kubernetesMinor?: number } = {}): InjectionPlan {
  const flavor = opts.flavor ?? 'fsm';
  const nsName = opts.nsName ?? 'apps';
  const mesh = meshIdentity(flavor);
  const view = new MemoryView([
    ...(opts.ns === null ? [] : [opts.ns ?? namespace(nsName, { flavor })]),
    ...(opts.meshConfig ? [meshConfigObject(mesh, opts.meshConfig)] : []),
    ...(opts.controllerService ? [opts.controllerService] : []),
  ]);
  return injectPod({ pod: p, namespace: nsName, uuid: opts.uuid ?? UUID }, view, { mesh, sidecarMode: opts.mode ?? 'classic', ...(opts.kubernetesMinor ? { kubernetesMinor: opts.kubernetesMinor } : {}) });
}

/** The mesh's MeshConfig object carrying `spec`, where the view looks for it. */
export function meshConfigObject(mesh: MeshIdentity, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: `${mesh.flavor.meshConfigGroup}/v1alpha3`, kind: 'MeshConfig', metadata: { name: mesh.flavor.meshConfigName, namespace: mesh.meshNamespace }, spec };
}

export function applied(p: KubeObject, result: InjectionPlan): KubeObject {
  if (!('patch' in result)) return structuredClone(p);
  return fastJsonPatch.applyPatch(structuredClone(p), structuredClone(result.patch), true, false).newDocument as KubeObject;
}
