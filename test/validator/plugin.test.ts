import { fixtureObject } from '../support/fixtures.js';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { ValidationContext } from '../../src/validator/context.js';
import { builtinChains } from '../../src/validator/plugin.js';
import { causes, check, meshConfig } from './helpers.js';

const fixture = (file: string): KubeObject =>
  fixtureObject<KubeObject>(file);

// Seed 003 (osm-edge 1.3.0 plugin demo), indentation restored: two Plugins, their chains and configs, as applied.
const seed = parseAllDocuments(`
kind: Plugin
apiVersion: plugin.flomesh.io/v1alpha1
metadata:
  name: token-injector
spec:
  priority: 115
  pipyscript: |+
    (
    pipy({
      _pluginName: '',
      _pluginConfig: null,
      _accessToken: null,
    })
    .import({
        __service: 'outbound-http-routing',
    })
    .pipeline()
    .onStart(
        () => void (
            _pluginName = __filename.slice(9, -3),
            _pluginConfig = __service?.Plugins?.[_pluginName],
            _accessToken = _pluginConfig?.AccessToken
        )
    )
    .handleMessageStart(
        msg => _accessToken && (msg.head.headers['x-iam-token'] = _accessToken)
    )
    .chain()
    )
---
kind: Plugin
apiVersion: plugin.flomesh.io/v1alpha1
metadata:
  name: token-verifier
spec:
  priority: 115
  pipyscript: |+
    (
    pipy({
        _pluginName: '',
        _pluginConfig: null,
        _accessToken: null,
        _valid: false,
    })
    .import({
        __service: 'inbound-http-routing',
    })
    .pipeline()
    .onStart(
        () => void (
            _pluginName = __filename.slice(9, -3),
            _pluginConfig = __service?.Plugins?.[_pluginName],
            _accessToken = _pluginConfig?.AccessToken
        )
    )
    .handleMessageStart(
        msg => _valid = (_accessToken && msg.head.headers['accesstoken'] === _accessToken)
    )
    .branch(
        () => _valid, (
            $ => $.chain()
        ), (
            $ => $.replaceMessage(
            new Message({ status: 403 }, 'token verify failed')
            )
        )
    )
    )
---
kind: PluginChain
apiVersion: plugin.flomesh.io/v1alpha1
metadata:
  name: token-injector-chain
  namespace: curl
spec:
  chains:
    - name: outbound-http
      plugins:
        - token-injector
  selectors:
    podSelector:
      matchLabels:
        app: curl
      matchExpressions:
        - key: app
          operator: In
          values: ["curl"]
    namespaceSelector:
      matchExpressions:
        - key: openservicemesh.io/monitored-by
          operator: In
          values: ["osm"]
---
kind: PluginChain
apiVersion: plugin.flomesh.io/v1alpha1
metadata:
  name: token-verifier-chain
  namespace: httpbin
spec:
  chains:
    - name: inbound-http
      plugins:
        - token-verifier
  selectors:
    podSelector:
      matchLabels:
        app: httpbin
    namespaceSelector:
      matchExpressions:
        - key: openservicemesh.io/monitored-by
          operator: In
          values: ["osm"]
---
kind: PluginConfig
apiVersion: plugin.flomesh.io/v1alpha1
metadata:
  name: token-verifier-config
  namespace: httpbin
spec:
  config:
    Verifier: 'ext-auth.auth:8079'
    Paths:
      - "/get"
  plugin: token-verifier
  destinationRefs:
    - kind: Service
      name: httpbin
      namespace: httpbin
---
kind: PluginConfig
apiVersion: plugin.flomesh.io/v1alpha1
metadata:
  name: token-injector-config
  namespace: curl
spec:
  config:
    AccessToken: '2f1acc6c3a606b082e5eef5e54414ffb'
  plugin: token-injector
  destinationRefs:
    - kind: Service
      name: httpbin
      namespace: httpbin
`).map((d) => d.toJS() as KubeObject);

const seedObject = (kind: string, name: string): KubeObject => {
  const o = seed.find((s) => s.kind === kind && s.metadata?.name === name);
  if (!o) throw new Error(`seed has no ${kind} ${name}`);
  return o;
};

const service = (namespace: string, name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 14001 }] } });

// The seed's cluster after `kubectl patch meshconfig ... enablePluginPolicy: true`, with the sample apps deployed.
const seedState = (): KubeObject[] => [
  meshConfig({ featureFlags: { enablePluginPolicy: true } }, 'osm-edge'),
  service('httpbin', 'httpbin'),
  service('curl', 'curl'),
  ...seed,
];

const plugin = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name }, spec });

const chain = (name: string, namespace: string, chains: unknown, selectors: unknown = { podSelector: { matchLabels: { app: 'curl' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } }): KubeObject => ({
  apiVersion: 'plugin.flomesh.io/v1alpha1',
  kind: 'PluginChain',
  metadata: { name, namespace },
  spec: { chains, selectors },
});

const pluginConfig = (name: string, namespace: string, spec: unknown): KubeObject => ({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'PluginConfig', metadata: { name, namespace }, spec });

const mountOutboundHttp = (...plugins: string[]): KubeObject => chain('mount', 'curl', [{ name: 'outbound-http', plugins }]);

const PRIORITY_RANGE = 'must be an integer between 0 and 65535';
const SCRIPT = 'pipy().pipeline().chain()';

describe('Plugin', () => {
  it('admits the seed Plugins and says where each lands', () => {
    const injector = check(seedObject('Plugin', 'token-injector'), { state: seedState(), flavor: 'osm-edge' });
    expect(injector).toMatchObject({ allowed: true, errors: [] });
    expect(injector.warnings).toEqual(['spec.priority: 115 on outbound-http runs after modules/outbound-circuit-breaker (120) and before modules/outbound-http-load-balancing (110)']);
    // The seed's config_dump shows plugins/token-verifier.js between inbound-throttle-route and inbound-http-load-balancing.
    const verifier = check(seedObject('Plugin', 'token-verifier'), { state: seedState(), flavor: 'osm-edge' });
    expect(verifier).toMatchObject({ allowed: true, errors: [] });
    expect(verifier.warnings).toEqual(['spec.priority: 115 on inbound-http runs after modules/inbound-throttle-route (120) and before modules/inbound-http-load-balancing (110)']);
  });

  it('admits the captured CREATE with no chain mounting it yet, without a warning', () => {
    expect(check(fixture('plugin-create.json'))).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('denies the captured priority 70000 with the Kubernetes-style cause', () => {
    for (const file of ['plugin-create-priority-70000.json', 'plugin-create-dryrun-priority-70000.json']) {
      const v = check(fixture(file));
      expect(v.allowed).toBe(false);
      expect(causes(v)).toEqual([`spec.priority: Invalid value: 70000: ${PRIORITY_RANGE}`]);
      expect(v.errors[0]).toMatchObject({ type: 'FieldValueInvalid', rule: 'plugin-priority-range' });
    }
  });

  it.each([0, 65535, undefined, null])('admits priority %s', (priority) => {
    const v = check(plugin('p', { pipyscript: SCRIPT, priority }));
    expect(v).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it.each([
    [-1, '-1'],
    [65536, '65536'],
    [1.5, '1.5'],
    ['100', '"100"'],
    [1e39, '1e+39'],
    [true, 'true'],
  ])('denies priority %s', (priority, shown) => {
    expect(causes(check(plugin('p', { pipyscript: SCRIPT, priority })))).toEqual([`spec.priority: Invalid value: ${shown}: ${PRIORITY_RANGE}`]);
  });

  it('denies NaN and Infinity handed in by a non-JSON caller', () => {
    expect(causes(check(plugin('p', { pipyscript: SCRIPT, priority: Number.NaN })))).toEqual([`spec.priority: Invalid value: NaN: ${PRIORITY_RANGE}`]);
    expect(causes(check(plugin('p', { pipyscript: SCRIPT, priority: Number.POSITIVE_INFINITY })))).toEqual([`spec.priority: Invalid value: Infinity: ${PRIORITY_RANGE}`]);
  });

  it('keeps the Go text for a missing or empty script', () => {
    const missing = 'spec.pipyscript: Required value: plugin[token-injector.] is missing pipy script';
    expect(causes(check(plugin('token-injector', { pipyscript: '' })))).toEqual([missing]);
    expect(causes(check(plugin('token-injector', { priority: 1 })))).toEqual([missing]);
    expect(causes(check({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'token-injector' } }))).toEqual([missing]);
    expect(check(plugin('token-injector', { pipyscript: '' })).errors[0]).toMatchObject({ type: 'FieldValueRequired', rule: 'plugin-script' });
  });

  it('denies a script that is not text', () => {
    expect(causes(check(plugin('p', { pipyscript: 42 })))).toEqual(['spec.pipyscript: Invalid value: 42: must be a string of PipyJS source']);
    expect(causes(check(plugin('p', { pipyscript: 'abc\u0000def' })))).toEqual([
      'spec.pipyscript: Invalid value: contains a NUL byte at offset 3: must be PipyJS source text, not binary data',
    ]);
  });

  it('denies a spec that is not an object', () => {
    expect(causes(check({ apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'p' }, spec: 'x' }))).toEqual(['spec: Invalid value: "x": must be an object']);
  });

  it('reports every violation at once', () => {
    const v = check(plugin('p', { pipyscript: '', priority: -1 }), { state: [meshConfig({ featureFlags: { enablePluginPolicy: false } })] });
    expect(causes(v)).toEqual([
      'spec: Forbidden: FSM is prohibited to apply plugin policy: MeshConfig fsm-system/fsm-mesh-config sets featureFlags.enablePluginPolicy to false',
      'spec.pipyscript: Required value: plugin[p.] is missing pipy script',
      `spec.priority: Invalid value: -1: ${PRIORITY_RANGE}`,
    ]);
  });

  describe('placement warning', () => {
    const at = (priority: number, state: KubeObject[]): string[] => check(plugin('mine', { pipyscript: SCRIPT, priority }), { state }).warnings as string[];

    it('says when the priority equals a built-in module', () => {
      expect(at(120, [mountOutboundHttp('mine')])).toEqual(['spec.priority: 120 on outbound-http equals modules/outbound-circuit-breaker (120): the order between them is undefined']);
    });

    it('names the first and last positions', () => {
      expect(at(200, [mountOutboundHttp('mine')])).toEqual(['spec.priority: 200 on outbound-http runs first, before modules/outbound-http-routing (160)']);
      expect(at(0, [mountOutboundHttp('mine')])).toEqual(['spec.priority: 0 on outbound-http runs last, after modules/outbound-http-default (100)']);
    });

    it('counts other Plugins mounted on the same chain, in any PluginChain', () => {
      const state = [mountOutboundHttp('mine'), chain('other-chain', 'httpbin', [{ name: 'outbound-http', plugins: ['other'] }]), plugin('other', { pipyscript: SCRIPT, priority: 117 })];
      expect(at(115, state)).toEqual(['spec.priority: 115 on outbound-http runs after plugin other (117) and before modules/outbound-http-load-balancing (110)']);
      expect(at(117, state)).toEqual(['spec.priority: 117 on outbound-http equals plugin other (117): the order between them is undefined']);
    });

    it('ignores Plugins mounted on other chains', () => {
      const state = [mountOutboundHttp('mine'), chain('in', 'curl', [{ name: 'inbound-http', plugins: ['other'] }]), plugin('other', { pipyscript: SCRIPT, priority: 115 })];
      expect(at(115, state)).toEqual(['spec.priority: 115 on outbound-http runs after modules/outbound-circuit-breaker (120) and before modules/outbound-http-load-balancing (110)']);
    });

    it('gives one warning per chain the plugin is mounted on', () => {
      const state = [chain('both', 'curl', [{ name: 'outbound-tcp', plugins: ['mine'] }, { name: 'inbound-tcp', plugins: ['mine'] }])];
      expect(at(125, state)).toEqual([
        'spec.priority: 125 on inbound-tcp runs after modules/inbound-tls-termination (130) and before modules/inbound-tcp-routing (120)',
        'spec.priority: 125 on outbound-tcp runs first, before modules/outbound-tcp-routing (120)',
      ]);
    });

    it('when not mounted, warns only about ties with built-ins, per chain', () => {
      expect(at(115, [])).toEqual([]);
      expect(at(160, [])).toEqual([
        'spec.priority: 160 equals modules/inbound-metrics-http (160) on inbound-http: the order between them would be undefined if the plugin is mounted there',
        'spec.priority: 160 equals modules/outbound-http-routing (160) on outbound-http: the order between them would be undefined if the plugin is mounted there',
      ]);
      expect(at(120, [])).toHaveLength(4);
    });

    it('takes the built-ins from the MeshConfig, leaving out disabled modules', () => {
      const mc = meshConfig({
        pluginChains: {
          'outbound-http': [
            { plugin: 'modules/outbound-http-routing', priority: 200, disable: false },
            { plugin: 'modules/outbound-circuit-breaker', priority: 115, disable: true },
            { plugin: 'modules/outbound-http-default', priority: 100, disable: false },
          ],
        },
      });
      expect(at(115, [mc, mountOutboundHttp('mine')])).toEqual(['spec.priority: 115 on outbound-http runs after modules/outbound-http-routing (200) and before modules/outbound-http-default (100)']);
    });

    it('says when nothing else is on the chain', () => {
      expect(at(5, [meshConfig({ pluginChains: { 'outbound-http': [] } }), mountOutboundHttp('mine')])).toEqual([
        'spec.priority: 5 on outbound-http runs alone: no built-in module or other plugin is on this chain',
      ]);
    });

    it('never compares an updated Plugin with its old version', () => {
      const updated = fixture('plugin-update.json');
      const old = { ...updated, spec: { ...(updated.spec as object), priority: 115 } };
      const v = check(updated, { state: [old, mountOutboundHttp('token-injector')], operation: 'UPDATE' });
      expect(v.allowed).toBe(true);
      expect(v.warnings).toEqual(['spec.priority: 116 on outbound-http runs after modules/outbound-circuit-breaker (120) and before modules/outbound-http-load-balancing (110)']);
    });

    it('keeps the start of a long warning and cuts it under 256 characters', () => {
      const names = Array.from({ length: 20 }, (_, i) => `a-rather-long-plugin-name-${i}`);
      const state = [mountOutboundHttp('mine', ...names), ...names.map((n) => plugin(n, { pipyscript: SCRIPT, priority: 140 }))];
      const [w] = at(140, state);
      expect(w?.startsWith('spec.priority: 140 on outbound-http equals modules/outbound-tracing-http (140), plugin a-rather-long-plugin-name-0 (140)')).toBe(true);
      expect(w?.endsWith('...')).toBe(true);
      expect(w?.length).toBeLessThan(256);
    });
  });

  it('exports the built-in chains: chart defaults, module names modules/<direction>-<name>', () => {
    const ctx = new ValidationContext(meshIdentity('fsm'), new MemoryView([]), { kind: 'Plugin', namespace: '', name: 'x' });
    const chains = builtinChains(ctx);
    expect(chains['inbound-tcp']).toEqual([
      { name: 'modules/inbound-tls-termination', priority: 130 },
      { name: 'modules/inbound-tcp-routing', priority: 120 },
      { name: 'modules/inbound-tcp-load-balancing', priority: 110 },
      { name: 'modules/inbound-tcp-default', priority: 100 },
    ]);
    expect(chains['inbound-http'].map((m) => m.name)).toEqual([
      'modules/inbound-tls-termination',
      'modules/inbound-http-routing',
      'modules/inbound-metrics-http',
      'modules/inbound-tracing-http',
      'modules/inbound-logging-http',
      'modules/inbound-throttle-service',
      'modules/inbound-throttle-route',
      'modules/inbound-http-load-balancing',
      'modules/inbound-http-default',
    ]);
    expect(chains['outbound-tcp'].map((m) => `${m.name} ${m.priority}`)).toEqual(['modules/outbound-tcp-routing 120', 'modules/outbound-tcp-load-balancing 110', 'modules/outbound-tcp-default 100']);
    // Same order as the seed's config_dump of the outbound-http chain.
    expect(chains['outbound-http'].map((m) => `${m.name} ${m.priority}`)).toEqual([
      'modules/outbound-http-routing 160',
      'modules/outbound-metrics-http 150',
      'modules/outbound-tracing-http 140',
      'modules/outbound-logging-http 130',
      'modules/outbound-circuit-breaker 120',
      'modules/outbound-http-load-balancing 110',
      'modules/outbound-http-default 100',
    ]);
  });

  it('uses the MeshConfig pluginChains, sorted, as authoritative when present', () => {
    const mc = meshConfig({ pluginChains: { 'inbound-tcp': [{ plugin: 'modules/b', priority: 1, disable: false }, { plugin: 'modules/a', priority: 9 }] } });
    const ctx = new ValidationContext(meshIdentity('fsm'), new MemoryView([mc]), { kind: 'Plugin', namespace: '', name: 'x' });
    const chains = builtinChains(ctx);
    expect(chains['inbound-tcp']).toEqual([
      { name: 'modules/a', priority: 9 },
      { name: 'modules/b', priority: 1 },
    ]);
    expect(chains['outbound-http']).toEqual([]);
  });
});

describe('plugin policy feature flag', () => {
  const disabled = (flavor: 'fsm' | 'osm-edge'): KubeObject[] => [meshConfig({ featureFlags: { enablePluginPolicy: false } }, flavor)];
  const fsmDenial = 'spec: Forbidden: FSM is prohibited to apply plugin policy: MeshConfig fsm-system/fsm-mesh-config sets featureFlags.enablePluginPolicy to false';
  const osmDenial = 'spec: Forbidden: OSM is prohibited to apply plugin policy: MeshConfig osm-system/osm-mesh-config sets featureFlags.enablePluginPolicy to false';

  it.each([
    ['Plugin', () => fixture('plugin-create.json')],
    ['PluginChain', () => fixture('pluginchain-create.json')],
    ['PluginConfig', () => fixture('pluginconfig-create.json')],
  ])('denies a %s while enablePluginPolicy is false, in both flavors', (_kind, obj) => {
    const fsm = check(obj(), { state: disabled('fsm') });
    expect(fsm.allowed).toBe(false);
    expect(causes(fsm)).toEqual([fsmDenial]);
    expect(fsm.errors[0]).toMatchObject({ type: 'FieldValueForbidden', rule: 'plugin-policy-disabled' });
    expect(causes(check(obj(), { state: disabled('osm-edge'), flavor: 'osm-edge' }))).toEqual([osmDenial]);
  });

  it('does not deny when the flag is true, absent, or there is no MeshConfig', () => {
    for (const state of [[meshConfig({ featureFlags: { enablePluginPolicy: true } })], [meshConfig({ featureFlags: {} })], [meshConfig({})], []])
      expect(check(fixture('plugin-create.json'), { state }).allowed).toBe(true);
  });
});

describe('PluginChain', () => {
  const pluginAt = (name: string, priority: number): KubeObject => plugin(name, { pipyscript: SCRIPT, priority });
  const chainOf = (chains: unknown, selectors?: unknown): KubeObject => chain('c', 'curl', chains, selectors);

  it('admits the seed chains, warning that the namespaceSelector reaches other namespaces', () => {
    const injector = check(seedObject('PluginChain', 'token-injector-chain'), { state: seedState(), flavor: 'osm-edge' });
    expect(injector).toMatchObject({ allowed: true, errors: [] });
    expect(injector.warnings).toEqual(['spec.selectors.namespaceSelector: selects namespaces other than curl: the plugins are attached to matching pods in each of them']);
    const verifier = check(seedObject('PluginChain', 'token-verifier-chain'), { state: seedState(), flavor: 'osm-edge' });
    expect(verifier).toMatchObject({ allowed: true, errors: [] });
    expect(verifier.warnings).toEqual(['spec.selectors.namespaceSelector: selects namespaces other than httpbin: the plugins are attached to matching pods in each of them']);
  });

  it('admits the captured CREATE once its Plugin exists', () => {
    const v = check(fixture('pluginchain-create.json'), { state: [fixture('plugin-create.json')] });
    expect(v).toMatchObject({ allowed: true, errors: [] });
    expect(v.warnings).toEqual(['spec.selectors.namespaceSelector: selects namespaces other than curl: the plugins are attached to matching pods in each of them']);
  });

  it('warns, without denying, about a plugin that does not exist yet', () => {
    const v = check(fixture('pluginchain-create.json'));
    expect(v.allowed).toBe(true);
    expect(v.warnings).toContain('spec.chains[0].plugins[0]: Plugin token-injector does not exist: proxies skip it until a Plugin of that name is created');
  });

  it('denies a chain name that is not a mount point', () => {
    const v = check(chainOf([{ name: 'inbound-udp', plugins: ['p'] }]), { state: [pluginAt('p', 1)] });
    expect(causes(v)).toEqual(['spec.chains[0].name: Unsupported value: "inbound-udp": supported values: "inbound-tcp", "inbound-http", "outbound-tcp", "outbound-http"']);
    expect(causes(check(chainOf([{ plugins: ['p'] }]), { state: [pluginAt('p', 1)] }))).toEqual(['spec.chains[0].name: Required value']);
  });

  it('denies the same chain name twice', () => {
    const v = check(chainOf([{ name: 'outbound-http', plugins: ['a'] }, { name: 'outbound-http', plugins: ['b'] }]), { state: [pluginAt('a', 1), pluginAt('b', 2)] });
    expect(causes(v)).toEqual(['spec.chains[1].name: Duplicate value: "outbound-http": also at spec.chains[0].name']);
  });

  it('requires a non-empty list of chains', () => {
    expect(causes(check(chainOf(undefined)))).toEqual(['spec.chains: Required value']);
    expect(causes(check(chainOf([])))).toEqual(['spec.chains: Required value: must have at least 1 item']);
    expect(causes(check(chainOf('outbound-http')))).toEqual(['spec.chains: Invalid value: "outbound-http": must be a list']);
    expect(causes(check(chainOf(['outbound-http'])))).toEqual(['spec.chains[0]: Invalid value: "outbound-http": must be an object with name and plugins']);
  });

  it('requires plugins: a non-empty list of distinct Plugin names', () => {
    expect(causes(check(chainOf([{ name: 'outbound-http' }])))).toEqual(['spec.chains[0].plugins: Required value']);
    expect(causes(check(chainOf([{ name: 'outbound-http', plugins: [] }])))).toEqual(['spec.chains[0].plugins: Required value: must have at least 1 item']);
    expect(causes(check(chainOf([{ name: 'outbound-http', plugins: ['a', 'a'] }]), { state: [pluginAt('a', 1)] }))).toEqual([
      'spec.chains[0].plugins[1]: Duplicate value: "a": also at spec.chains[0].plugins[0]',
    ]);
    expect(causes(check(chainOf([{ name: 'outbound-http', plugins: ['', 7, 'Token_Injector'] }])))).toEqual([
      'spec.chains[0].plugins[0]: Required value',
      'spec.chains[0].plugins[1]: Invalid value: 7: must be a string',
      "spec.chains[0].plugins[2]: Invalid value: \"Token_Injector\": must be a lowercase RFC 1123 subdomain (dot-separated labels of a-z, 0-9 and '-', at most 253 characters)",
    ]);
  });

  it('allows the same plugin on two different chains', () => {
    const v = check(chainOf([{ name: 'outbound-http', plugins: ['a'] }, { name: 'inbound-http', plugins: ['a'] }]), { state: [pluginAt('a', 115)] });
    expect(v).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('checks label selector semantics', () => {
    const v = check(
      chainOf([{ name: 'outbound-http', plugins: ['a'] }], {
        podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['a'] }] },
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [] }] },
      }),
      { state: [pluginAt('a', 1)] },
    );
    expect(causes(v)).toEqual([
      'spec.selectors.podSelector.matchExpressions[0].values: Forbidden: may not be specified when operator is Exists',
      'spec.selectors.namespaceSelector.matchExpressions[0].values: Required value: must be specified when operator is In',
    ]);
    expect(causes(check(chainOf([{ name: 'outbound-http', plugins: ['a'] }], 'app=curl'), { state: [pluginAt('a', 1)] }))).toEqual([
      'spec.selectors: Invalid value: "app=curl": must be an object with podSelector and/or namespaceSelector',
    ]);
  });

  it('warns when the chain reaches beyond its namespace, and not when pinned to it', () => {
    const state = [pluginAt('a', 1)];
    const mount = [{ name: 'outbound-http', plugins: ['a'] }];
    expect(check({ ...chainOf(mount), spec: { chains: mount } }, { state }).warnings).toEqual(['spec.selectors: no podSelector or namespaceSelector: the plugins are attached to every pod in the mesh, in every namespace']);
    expect(check(chainOf(mount, { podSelector: { matchLabels: { app: 'curl' } } }), { state }).warnings).toEqual([
      'spec.selectors: no namespaceSelector: the plugins are attached to matching pods in every namespace, not only curl',
    ]);
    expect(check(chainOf(mount, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['curl'] }] } }), { state }).warnings).toEqual([]);
    expect(check(chainOf(mount, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['curl', 'httpbin'] }] } }), { state }).warnings).toEqual([
      'spec.selectors.namespaceSelector: selects namespaces other than curl: the plugins are attached to matching pods in each of them',
    ]);
  });

  it('warns when a mounted plugin ties with a built-in module', () => {
    const v = check(chainOf([{ name: 'outbound-http', plugins: ['p120', 'p115'] }]), { state: [pluginAt('p120', 120), pluginAt('p115', 115)] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.chains[0].plugins[0]: priority 120 of Plugin p120 on outbound-http equals modules/outbound-circuit-breaker (120): the order between them is undefined']);
  });

  it('warns when two mounted plugins tie, in this chain or another PluginChain', () => {
    const state = [pluginAt('a', 115), pluginAt('b', 115), pluginAt('c', 115), chain('elsewhere', 'httpbin', [{ name: 'outbound-http', plugins: ['c'] }])];
    const v = check(chainOf([{ name: 'outbound-http', plugins: ['a', 'b'] }]), { state });
    expect(v.warnings).toEqual([
      'spec.chains[0].plugins[0]: priority 115 of Plugin a on outbound-http equals plugin b (115), plugin c (115): the order between them is undefined',
      'spec.chains[0].plugins[1]: priority 115 of Plugin b on outbound-http equals plugin a (115), plugin c (115): the order between them is undefined',
    ]);
  });

  it('never compares an updated PluginChain with its old version', () => {
    const old = chainOf([{ name: 'outbound-http', plugins: ['b'] }]);
    const v = check(chainOf([{ name: 'outbound-http', plugins: ['a'] }]), { state: [old, pluginAt('a', 115), pluginAt('b', 115)], operation: 'UPDATE' });
    expect(v.warnings).toEqual([]);
  });
});

describe('PluginConfig', () => {
  const state = (): KubeObject[] => [fixture('plugin-create.json'), fixture('pluginchain-create.json'), service('httpbin', 'httpbin')];
  const configOf = (spec: Record<string, unknown>): KubeObject =>
    pluginConfig('cfg', 'curl', { plugin: 'token-injector', destinationRefs: [{ kind: 'Service', name: 'httpbin', namespace: 'httpbin' }], config: {}, ...spec });

  it('admits the seed configs', () => {
    for (const name of ['token-verifier-config', 'token-injector-config'])
      expect(check(seedObject('PluginConfig', name), { state: seedState(), flavor: 'osm-edge' })).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('admits the captured CREATE', () => {
    expect(check(fixture('pluginconfig-create.json'), { state: state() })).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('warns when the Plugin is missing or not mounted, and when the Service is missing', () => {
    expect(check(fixture('pluginconfig-create.json')).warnings).toEqual([
      'spec.plugin: Plugin token-injector does not exist: this config has no effect until a Plugin of that name is created',
      'spec.destinationRefs[0]: Service httpbin/httpbin does not exist: this config reaches no proxy until it is created',
    ]);
    const v = check(fixture('pluginconfig-create.json'), { state: [fixture('plugin-create.json'), service('httpbin', 'httpbin')] });
    expect(v.allowed).toBe(true);
    expect(v.warnings).toEqual(['spec.plugin: Plugin token-injector is not mounted by any PluginChain: this config has no effect until a chain lists it']);
  });

  it('requires the plugin name', () => {
    expect(causes(check(configOf({ plugin: undefined }), { state: state() }))).toEqual(['spec.plugin: Required value']);
    expect(causes(check(configOf({ plugin: 5 }), { state: state() }))).toEqual(['spec.plugin: Invalid value: 5: must be a string']);
  });

  it('denies destination kinds other than Service', () => {
    const v = check(configOf({ destinationRefs: [{ kind: 'Deployment', name: 'httpbin', namespace: 'httpbin' }] }), { state: state() });
    expect(causes(v)).toEqual(['spec.destinationRefs[0].kind: Unsupported value: "Deployment": supported values: "Service"']);
    expect(v.errors[0]?.type).toBe('FieldValueNotSupported');
    expect(causes(check(configOf({ destinationRefs: [{ name: 'httpbin', namespace: 'httpbin' }] }), { state: state() }))).toEqual(['spec.destinationRefs[0].kind: Required value: must be Service']);
  });

  it('requires name and namespace on each destination (the namespace is not defaulted)', () => {
    expect(causes(check(configOf({ destinationRefs: [{ kind: 'Service' }] }), { state: state() }))).toEqual([
      'spec.destinationRefs[0].name: Required value',
      "spec.destinationRefs[0].namespace: Required value: the Service's namespace; it is not defaulted to the PluginConfig's namespace",
    ]);
    expect(causes(check(configOf({ destinationRefs: [{ kind: 'Service', name: 'Httpbin', namespace: 'httpbin' }] }), { state: state() }))).toEqual([
      "spec.destinationRefs[0].name: Invalid value: \"Httpbin\": must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with an alphanumeric character, at most 63 characters)",
    ]);
  });

  it('requires at least one destination', () => {
    expect(causes(check(configOf({ destinationRefs: [] }), { state: state() }))).toEqual(['spec.destinationRefs: Required value: must have at least 1 item']);
    expect(causes(check(configOf({ destinationRefs: undefined }), { state: state() }))).toEqual(['spec.destinationRefs: Required value']);
    expect(causes(check(configOf({ destinationRefs: ['httpbin'] }), { state: state() }))).toEqual([
      'spec.destinationRefs[0]: Invalid value: "httpbin": must be an object reference with kind, name and namespace',
    ]);
  });

  it('warns when another PluginConfig configures the same plugin for the same Service', () => {
    const other = pluginConfig('first', 'httpbin', { plugin: 'token-injector', destinationRefs: [{ kind: 'Service', name: 'httpbin', namespace: 'httpbin' }], config: {} });
    expect(check(configOf({}), { state: [...state(), other] }).warnings).toEqual([
      'spec.destinationRefs[0]: PluginConfig httpbin/first also configures Plugin token-injector for Service httpbin/httpbin: only one of the two configs takes effect',
    ]);
    const otherPlugin = pluginConfig('first', 'httpbin', { plugin: 'token-verifier', destinationRefs: [{ kind: 'Service', name: 'httpbin', namespace: 'httpbin' }], config: {} });
    expect(check(configOf({}), { state: [...state(), otherPlugin] }).warnings).toEqual([]);
  });

  it('requires config to be a JSON object', () => {
    expect(causes(check(configOf({ config: undefined }), { state: state() }))).toEqual(["spec.config: Required value: the plugin's configuration object (use {} for none)"]);
    expect(causes(check(configOf({ config: 'token' }), { state: state() }))).toEqual(['spec.config: Invalid value: "token": must be an object (it reaches the plugin as a JSON object)']);
    expect(causes(check(configOf({ config: [1] }), { state: state() }))).toEqual(['spec.config: Invalid value: [1]: must be an object (it reaches the plugin as a JSON object)']);
  });

  it('limits config to 64 KiB of JSON', () => {
    // {"blob":"..."} is 11 bytes around the string.
    expect(check(configOf({ config: { blob: 'a'.repeat(65536 - 11) } }), { state: state() }).allowed).toBe(true);
    expect(causes(check(configOf({ config: { blob: 'a'.repeat(65536 - 10) } }), { state: state() }))).toEqual([
      `spec.config: Invalid value: {"blob":"${'a'.repeat(108)}...: must be at most 65536 bytes as JSON, is 65537 bytes`,
    ]);
  });
});

describe('robustness', () => {
  const shapes: unknown[] = [null, 7, 'x', [], [null], { chains: {}, selectors: [], destinationRefs: {}, config: null, plugin: [], priority: {} }, { chains: [null, 5, { name: 5, plugins: 'a' }] }];
  it.each(['Plugin', 'PluginChain', 'PluginConfig'])('never throws on odd %s specs', (kind) => {
    for (const spec of shapes) {
      const obj = { apiVersion: 'plugin.flomesh.io/v1alpha1', kind, metadata: { name: 'odd', namespace: kind === 'Plugin' ? undefined : 'curl' }, spec } as KubeObject;
      expect(() => check(obj, { state: [...seedState(), chain('odd-chain', 'curl', [{ name: 'outbound-http', plugins: [null, 'odd'] }])] })).not.toThrow();
    }
  });
});
