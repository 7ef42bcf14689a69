// The two mesh families share one code base; every name that differs between them lives in this table.

export type FlavorName = 'fsm' | 'osm-edge';

export interface Flavor {
  readonly name: FlavorName;
  /** label/annotation domain, e.g. `flomesh.io` */
  readonly domain: string;
  /** short prefix used in object names, e.g. `fsm` */
  readonly prefix: string;
  readonly defaultMeshNamespace: string;
  readonly defaultMeshName: string;
  readonly meshConfigGroup: string;
  readonly meshConfigName: string;
  readonly caBundleSecret: string;
  readonly controllerService: string;
  readonly repoPathSegment: string;
  /** "FSM" / "OSM", used inside messages kept compatible with the Go validator */
  readonly productWord: string;
}

export const FLAVORS: Readonly<Record<FlavorName, Flavor>> = {
  fsm: {
    name: 'fsm',
    domain: 'flomesh.io',
    prefix: 'fsm',
    defaultMeshNamespace: 'fsm-system',
    defaultMeshName: 'fsm',
    meshConfigGroup: 'config.flomesh.io',
    meshConfigName: 'fsm-mesh-config',
    caBundleSecret: 'fsm-ca-bundle',
    controllerService: 'fsm-controller',
    repoPathSegment: 'fsm-sidecar',
    productWord: 'FSM',
  },
  'osm-edge': {
    name: 'osm-edge',
    domain: 'openservicemesh.io',
    prefix: 'osm',
    defaultMeshNamespace: 'osm-system',
    defaultMeshName: 'osm',
    meshConfigGroup: 'config.openservicemesh.io',
    meshConfigName: 'osm-mesh-config',
    caBundleSecret: 'osm-ca-bundle',
    controllerService: 'osm-controller',
    repoPathSegment: 'osm-edge-sidecar',
    productWord: 'OSM',
  },
};

export function isFlavorName(v: string): v is FlavorName {
  return v === 'fsm' || v === 'osm-edge';
}

/** The mesh this server serves: flavor plus the installation's own name and namespace. */
export interface MeshIdentity {
  readonly flavor: Flavor;
  readonly meshName: string;
  readonly meshNamespace: string;
}

export function meshIdentity(flavor: FlavorName, meshName?: string, meshNamespace?: string): MeshIdentity {
  const f = FLAVORS[flavor];
  return { flavor: f, meshName: meshName ?? f.defaultMeshName, meshNamespace: meshNamespace ?? f.defaultMeshNamespace };
}
