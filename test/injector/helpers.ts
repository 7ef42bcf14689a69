// Test helpers for the injector: a pod, a namespace, and planInjection with the defaults of standalone mode.
import fastJsonPatch from 'fast-json-patch';
import { planInjection, type InjectionPlan, type PodAdmission } from '../../src/injector/inject.js';
import type { InjectorOptions } from '../../src/injector/settings.js';
import { meshIdentity, type FlavorName } from '../../src/mesh/flavor.js';
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
  const input: PodAdmission = {
    pod: p,
    namespace: nsName,
    namespaceObject: opts.ns === null ? undefined : (opts.ns ?? namespace(nsName, { flavor })),
    meshConfigSpec: opts.meshConfig,
    controllerService: opts.controllerService,
    uuid: opts.uuid ?? UUID,
  };
  return planInjection({ mesh: meshIdentity(flavor), sidecarMode: opts.mode ?? 'classic', ...(opts.kubernetesMinor ? { kubernetesMinor: opts.kubernetesMinor } : {}) }, input);
}

export function applied(p: KubeObject, result: InjectionPlan): KubeObject {
  if (!('patch' in result)) return structuredClone(p);
  return fastJsonPatch.applyPatch(structuredClone(p), structuredClone(result.patch), true, false).newDocument as KubeObject;
}
