// fast-check generators for the patch property test (docs/injection.md#the-patch): whole admission scenarios, i.e. a pod as it
// arrives on the wire (with fields this server does not know), its namespace, the MeshConfig and the flags.
import fc from 'fast-check';
import type { FlavorName } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';

// JSON as it comes off the wire: the test reads and writes these trees freely.
export type Json = any;

const FLAVOR_DOMAIN: Record<FlavorName, string> = { fsm: 'flomesh.io', 'osm-edge': 'openservicemesh.io' };
const FLAVOR_PREFIX: Record<FlavorName, string> = { fsm: 'fsm', 'osm-edge': 'osm' };

/** Names the injector adds: user containers never use them (a pod with them is "already injected"). */
const RESERVED = new Set(['sidecar', 'fsm-init', 'osm-init', 'fsm-healthcheck', 'osm-healthcheck']);

// ---------------------------------------------------------------------------------------------------------------
// Values of fields this server does not know: any JSON, with keys that are safe object keys (no __proto__).

const safeKey = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_~/.-]{0,7}$/);
const jsonLeaf = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }));
const { json } = fc.letrec((tie) => ({
  json: fc.oneof({ depthSize: 'small', maxDepth: 2 }, jsonLeaf, fc.array(tie('json'), { maxLength: 3 }), fc.dictionary(safeKey, tie('json'), { maxKeys: 3 })),
}));

/** Zero to two fields from a future Kubernetes (or a CRD-ish extension) on an object. */
const unknownFields = (...names: string[]): fc.Arbitrary<Record<string, Json>> =>
  fc.dictionary(fc.constantFrom(...names), json, { maxKeys: 2 });

const withUnknown = <T extends object>(arb: fc.Arbitrary<T>, ...names: string[]): fc.Arbitrary<T> =>
  fc.tuple(arb, unknownFields(...names)).map(([o, extra]) => ({ ...extra, ...o }));

/** Label / annotation keys with `/`, `~` and even a literal `~1` (JSON-pointer escaping, RFC 6901). */
export const mapKey: fc.Arbitrary<string> = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9]{0,4}$/),
    fc.array(fc.tuple(fc.constantFrom('/', '~', '.', '-', '~1', '~0', '/~', '~/'), fc.stringMatching(/^[a-z0-9]{0,4}$/)), { maxLength: 3 }),
  )
  .map(([head, rest]) => head + rest.map(([sep, seg]) => sep + seg).join(''));

const stringMap = fc.dictionary(mapKey, fc.string({ maxLength: 8 }), { maxKeys: 4 });

// ---------------------------------------------------------------------------------------------------------------
// Containers, ports and probes.

const portName = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/).map((s) => `p-${s}`);
const portNumber = fc.integer({ min: 1, max: 65535 });

const containerPorts = fc
  .array(
    withUnknown(
      fc.record(
        { containerPort: portNumber, name: portName, protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'), hostPort: portNumber },
        { requiredKeys: ['containerPort'] },
      ),
      'futurePortField',
    ),
    { maxLength: 4 },
  )
  // Port names are unique within a container.
  .map((ports) => ports.filter((p, i) => p.name === undefined || ports.findIndex((q) => q.name === p.name) === i));

const probeTiming = fc.record(
  {
    initialDelaySeconds: fc.integer({ min: 0, max: 60 }),
    periodSeconds: fc.integer({ min: 1, max: 60 }),
    timeoutSeconds: fc.integer({ min: 0, max: 10 }),
    failureThreshold: fc.integer({ min: 1, max: 10 }),
    terminationGracePeriodSeconds: fc.integer({ min: 1, max: 60 }),
  },
  { requiredKeys: [] },
);

/** A probe port: a number, or (when the container has some) the name of one of its ports, which must resolve. */
function probePort(ports: readonly Json[]): fc.Arbitrary<number | string> {
  const names = ports.map((p) => p.name).filter((n): n is string => typeof n === 'string');
  return names.length > 0 ? fc.oneof(portNumber, fc.constantFrom(...names)) : portNumber;
}

const httpHeaders = fc.array(fc.record({ name: fc.constantFrom('X-Probe', 'Host', 'Authorization'), value: fc.string({ maxLength: 6 }) }), { maxLength: 2 });

function probe(ports: readonly Json[], healthPath: string): fc.Arbitrary<Json | undefined> {
  const port = probePort(ports);
  const httpGet = withUnknown(
    fc.record(
      {
        port,
        path: fc.constantFrom('/', '/healthz', '/ready?full=1', '', '/a/b~c'),
        scheme: fc.constantFrom('HTTP', 'HTTPS'),
        httpHeaders,
        host: fc.constantFrom('127.0.0.1', 'example.internal'),
      },
      { requiredKeys: ['port'] },
    ),
    'futureHttpField',
  );
  const tcpSocket = fc.record({ port, host: fc.constant('127.0.0.1') }, { requiredKeys: ['port'] });
  const grpc = fc.record({ port: portNumber, service: fc.constantFrom('', 'health') }, { requiredKeys: ['port'] });
  const exec = fc.record({ command: fc.array(fc.constantFrom('cat', '/tmp/ready', 'true'), { minLength: 1, maxLength: 3 }) });
  // A probe this injector (or the Go one) already rewrote: it must never be rewritten again.
  const rewritten = fc.record({ path: fc.constant(healthPath), port: fc.constantFrom(15901, 15902, 15903) });
  const action = fc.oneof(
    { weight: 4, arbitrary: httpGet.map((v) => ({ httpGet: v })) },
    { weight: 2, arbitrary: tcpSocket.map((v) => ({ tcpSocket: v })) },
    { weight: 1, arbitrary: grpc.map((v) => ({ grpc: v })) },
    { weight: 1, arbitrary: exec.map((v) => ({ exec: v })) },
    { weight: 1, arbitrary: rewritten.map((v) => ({ httpGet: v })) },
  );
  return fc.option(
    fc.tuple(action, probeTiming, unknownFields('futureProbeField')).map(([a, t, extra]) => ({ ...extra, ...t, ...a })),
    { nil: undefined, freq: 3 },
  );
}

const resources = fc.record({ limits: fc.record({ cpu: fc.constantFrom('100m', '1'), memory: fc.constantFrom('64Mi', '1Gi') }, { requiredKeys: [] }) }, { requiredKeys: [] });

function appContainer(name: string, healthPath: string): fc.Arbitrary<Json> {
  return containerPorts.chain((ports) =>
    fc
      .record(
        {
          image: fc.constantFrom('nginx', 'busybox:1.36', 'ghcr.io/x/y@sha256:abc'),
          ports: fc.constant(ports),
          livenessProbe: probe(ports, healthPath),
          readinessProbe: probe(ports, healthPath),
          startupProbe: probe(ports, healthPath),
          env: fc.array(fc.record({ name: fc.constantFrom('A', 'B'), value: fc.string({ maxLength: 4 }) }), { maxLength: 2 }),
          resources,
          emptyPorts: fc.boolean(),
          extra: unknownFields('futureField', 'resizePolicy', 'zzUnknown'),
        },
        { requiredKeys: ['image', 'ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'emptyPorts', 'extra'] },
      )
      .map(({ extra, livenessProbe, readinessProbe, startupProbe, ports: ps, emptyPorts, ...rest }) => ({
        name,
        ...extra,
        ...rest,
        // named probe ports refer to these, so they are always kept; an empty list is sometimes sent as []
        ...(ps.length > 0 || emptyPorts ? { ports: ps } : {}),
        ...(livenessProbe ? { livenessProbe } : {}),
        ...(readinessProbe ? { readinessProbe } : {}),
        ...(startupProbe ? { startupProbe } : {}),
      })),
  );
}

/** A user init container: a plain one, or a native sidecar (`restartPolicy: Always`, with its own probes). */
function userInitContainer(name: string, healthPath: string): fc.Arbitrary<Json> {
  return containerPorts.chain((ports) =>
    fc
      .record(
        {
          image: fc.constantFrom('busybox', 'migrate:1'),
          command: fc.constant(['sh', '-c', 'true']),
          ports: fc.constant(ports),
          restartPolicy: fc.constant('Always'),
          startupProbe: probe(ports, healthPath),
          readinessProbe: probe(ports, healthPath),
          lifecycle: fc.constant({ preStop: { exec: { command: ['sleep', '1'] } } }),
          extra: unknownFields('futureField', 'zzUnknown'),
        },
        { requiredKeys: ['image', 'ports', 'extra'] },
      )
      .map(({ extra, startupProbe, readinessProbe, ports: ps, ...rest }) => ({
        name,
        ...extra,
        ...rest,
        ...(ps && ps.length > 0 ? { ports: ps } : {}),
        // Probes (and lifecycle) are only valid on native sidecars; keep the generated pods valid.
        ...(rest.restartPolicy === 'Always' && startupProbe ? { startupProbe } : {}),
        ...(rest.restartPolicy === 'Always' && readinessProbe ? { readinessProbe } : {}),
      }))
      .map((c) => (c.restartPolicy === 'Always' ? c : (({ lifecycle: _l, ...r }) => r)(c))),
  );
}

const volume = (name: string): fc.Arbitrary<Json> =>
  withUnknown(
    fc.oneof(
      fc.constant({ emptyDir: {} }),
      fc.record({ configMap: fc.record({ name: fc.constantFrom('cfg', 'other'), optional: fc.boolean() }, { requiredKeys: ['name'] }) }),
      fc.record({ secret: fc.record({ secretName: fc.constantFrom('tls', 'creds') }) }),
    ).map((v) => ({ name, ...v })),
    'futureVolumeField',
  );

const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map((p) => p.join('.'));

const dnsConfigKnown = fc.record(
    {
      nameservers: fc.uniqueArray(ipv4, { maxLength: 3 }),
      searches: fc.uniqueArray(fc.constantFrom('corp.example', 'svc.cluster.local', 'cluster.local', 'a.b'), { maxLength: 3 }),
      options: fc.uniqueArray(
        fc.record({ name: fc.constantFrom('ndots', 'timeout', 'edns0', 'attempts'), value: fc.constantFrom('1', '2', '5') }, { requiredKeys: ['name'] }),
        { maxLength: 3, selector: (o) => o.name },
      ),
    },
    { requiredKeys: [] },
  );
/** dnsConfig with only today's fields, or with at least one field of a future Kubernetes. */
const dnsConfig = (unknown: boolean) =>
  unknown
    ? fc.tuple(dnsConfigKnown, fc.dictionary(fc.constantFrom('futureDnsField', 'zzDns'), json, { minKeys: 1, maxKeys: 2 })).map(([o, extra]) => ({ ...extra, ...o }))
    : dnsConfigKnown;

const hostAlias = fc.record({ ip: ipv4, hostnames: fc.array(fc.constantFrom('a.local', 'b.local'), { minLength: 1, maxLength: 2 }) });

// ---------------------------------------------------------------------------------------------------------------
// The scenario.

const boolWord = fc.constantFrom('true', 'false', 'yes', 'no', 'Enabled', ' disabled ');
const optional = <T>(arb: fc.Arbitrary<T>, freq = 2): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq });

export interface Scenario {
  readonly flavor: FlavorName;
  readonly modeFlag: 'classic' | 'native';
  readonly pod: KubeObject;
  readonly namespaceObject: KubeObject;
  readonly meshConfigSpec: Record<string, unknown> | undefined;
  readonly controllerService: KubeObject | undefined;
}

interface Knobs {
  injectOn: 'pod' | 'namespace' | 'both' | 'pod-over-disabled-namespace';
  /** false: no hold / mode / Prometheus annotations on the pod (so that pods without annotations are generated) */
  podKnobs: boolean;
  metrics: string | undefined;
  holdPod: string | undefined;
  holdNs: string | undefined;
  holdMeshConfig: boolean | undefined;
  modePod: string | undefined;
  modeNs: string | undefined;
  localDns: boolean;
  controllerIP: string | undefined;
  withMeshConfig: boolean;
  userPromAnnotations: Record<string, string>;
}

const knobs: fc.Arbitrary<Knobs> = fc.record({
  injectOn: fc.constantFrom('pod', 'namespace', 'namespace', 'both', 'pod-over-disabled-namespace'),
  podKnobs: fc.boolean(),
  metrics: optional(fc.constantFrom('enabled', 'disabled', ' TRUE ', 'no')),
  holdPod: optional(boolWord, 3),
  holdNs: optional(boolWord, 3),
  holdMeshConfig: optional(fc.boolean()),
  modePod: optional(fc.constantFrom('classic', 'native', 'auto', ' Native '), 3),
  modeNs: optional(fc.constantFrom('classic', 'native', 'auto'), 3),
  localDns: fc.boolean(),
  controllerIP: fc.constantFrom(undefined, '10.96.0.20', '10.0.0.7'),
  withMeshConfig: fc.boolean(),
  userPromAnnotations: fc.dictionary(fc.constantFrom('prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path'), fc.constantFrom('true', '15010', '9090', '/metrics'), { maxKeys: 2 }),
});

export interface ScenarioOptions {
  /**
   * false (default): spec.dnsConfig, when present, carries only today's fields.
   * true: the local DNS proxy is always on (with a controller Service) and the pod always has a dnsConfig with
   * at least one field this server does not know.
   */
  readonly unknownDnsConfigFields?: boolean;
}

export function scenario(flavor: FlavorName, modeFlag: 'classic' | 'native', opts: ScenarioOptions = {}): fc.Arbitrary<Scenario> {
  const dnsUnknown = opts.unknownDnsConfigFields === true;
  const d = FLAVOR_DOMAIN[flavor];
  const healthPath = `/${FLAVOR_PREFIX[flavor]}-healthcheck`;
  const names = fc
    .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/).filter((n) => !RESERVED.has(n)), { minLength: 8, maxLength: 8 })
    .chain((all) =>
      fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 })).map(([nc, ni]) => ({ containers: all.slice(0, nc), inits: all.slice(5, 5 + ni) })),
    );
  const volumeNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/).filter((n) => n !== 'sidecar-bootstrap-config-volume'), { maxLength: 3 });

  return fc
    .record({
      names,
      volumeNames,
      knobs,
      noMetadata: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      labelsPresent: fc.integer({ min: 0, max: 3 }).map((n) => n > 0),
      annotationsPresent: fc.boolean(),
      initPresent: fc.integer({ min: 0, max: 3 }),
      volumesPresent: fc.boolean(),
      labels: stringMap,
      annotations: stringMap,
      metaExtra: unknownFields('futureMeta', 'managedFields', 'zzMeta'),
      specExtra: unknownFields('someFutureField', 'resourceClaims', 'zzSpec'),
      topExtra: unknownFields('futureTop', 'status'),
      dnsPolicy: optional(fc.constantFrom('ClusterFirst', 'Default', 'None', 'ClusterFirstWithHostNet')),
      dnsConfig: dnsUnknown ? dnsConfig(true) : optional(dnsConfig(false)),
      hostAliases: optional(fc.array(hostAlias, { maxLength: 2 })),
      serviceAccountName: optional(fc.constantFrom('web', 'api')),
      name: fc.oneof(fc.constant({ generateName: 'web-7c9f5d-' }), fc.constant({ name: 'web-0' }), fc.constant({})),
    })
    .chain((g) =>
      fc
        .record({
          containers: fc.tuple(...g.names.containers.map((n) => appContainer(n, healthPath))),
          inits: g.names.inits.length > 0 ? fc.tuple(...g.names.inits.map((n) => userInitContainer(n, healthPath))) : fc.constant([] as Json[]),
          volumes: g.volumeNames.length > 0 ? fc.tuple(...g.volumeNames.map(volume)) : fc.constant([] as Json[]),
        })
        .map(({ containers, inits, volumes }): Scenario => {
          const k: Knobs = dnsUnknown ? { ...g.knobs, localDns: true, controllerIP: g.knobs.controllerIP ?? '10.96.0.20' } : g.knobs;
          const podAnnotations: Record<string, string> = { ...(g.annotationsPresent ? g.annotations : {}), ...(k.podKnobs ? k.userPromAnnotations : {}) };
          const nsAnnotations: Record<string, string> = {};
          if (k.injectOn !== 'namespace') podAnnotations[`${d}/sidecar-injection`] = 'enabled';
          if (k.injectOn === 'namespace' || k.injectOn === 'both') nsAnnotations[`${d}/sidecar-injection`] = ' Yes ';
          if (k.injectOn === 'pod-over-disabled-namespace') nsAnnotations[`${d}/sidecar-injection`] = 'disabled';
          if (k.metrics !== undefined) nsAnnotations[`${d}/metrics`] = k.metrics;
          if (k.podKnobs && k.holdPod !== undefined) podAnnotations[`${d}/hold-application-until-proxy-starts`] = k.holdPod;
          if (k.holdNs !== undefined) nsAnnotations[`${d}/hold-application-until-proxy-starts`] = k.holdNs;
          if (k.podKnobs && k.modePod !== undefined) podAnnotations[`${d}/sidecar-mode`] = k.modePod;
          if (k.modeNs !== undefined) nsAnnotations[`${d}/sidecar-mode`] = k.modeNs;
          const hasAnnotations = g.annotationsPresent || Object.keys(podAnnotations).length > 0;
          // A pod without metadata at all (rare, but the patch must then add /metadata first).
          const noMetadata = g.noMetadata && !hasAnnotations;

          const metadata: Json = { ...g.metaExtra, ...g.name, namespace: 'apps' };
          if (g.labelsPresent) metadata.labels = g.labels;
          if (hasAnnotations) metadata.annotations = podAnnotations;
          const spec: Json = { ...g.specExtra, containers };
          if (g.initPresent > 0) spec.initContainers = inits;
          if (g.volumesPresent || g.volumeNames.length > 0) spec.volumes = volumes;
          if (g.dnsPolicy !== undefined) spec.dnsPolicy = g.dnsPolicy;
          if (g.dnsConfig !== undefined) spec.dnsConfig = g.dnsConfig;
          if (g.hostAliases !== undefined) spec.hostAliases = g.hostAliases;
          if (g.serviceAccountName !== undefined) spec.serviceAccountName = g.serviceAccountName;
          const pod: Json = { ...g.topExtra, apiVersion: 'v1', kind: 'Pod', ...(noMetadata ? {} : { metadata }), spec };

          const sidecar: Json = {};
          if (k.holdMeshConfig !== undefined) sidecar.holdApplicationUntilProxyStarts = k.holdMeshConfig;
          if (k.localDns) sidecar.localDNSProxy = { enable: true };
          const meshConfigSpec = k.withMeshConfig || k.localDns || k.holdMeshConfig !== undefined ? { sidecar, futureMeshConfigField: { a: 1 } } : undefined;
          const mesh = FLAVOR_PREFIX[flavor];
          return {
            flavor,
            modeFlag,
            // What the API server sends: JSON (no -0, no undefined members).
            pod: JSON.parse(JSON.stringify(pod)) as KubeObject,
            namespaceObject: {
              apiVersion: 'v1',
              kind: 'Namespace',
              metadata: { name: 'apps', labels: { [`${d}/monitored-by`]: mesh }, annotations: nsAnnotations },
            },
            meshConfigSpec,
            controllerService:
              k.controllerIP === undefined
                ? undefined
                : { apiVersion: 'v1', kind: 'Service', metadata: { name: `${mesh}-controller`, namespace: `${mesh}-system` }, spec: { clusterIP: k.controllerIP } },
          };
        }),
    );
}
