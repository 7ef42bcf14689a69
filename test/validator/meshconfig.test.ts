import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/mesh/objects.js';
import { causes, check, meshConfig } from './helpers.js';

const PRIORITY_RANGE = 'must be an integer between 0 and 65535';
const PORT_RANGE = 'must be an integer between 1 and 65535';
const CIDR_TEXT = 'must be a CIDR such as 10.0.0.0/8 or fd00::/8 (valid address, prefix length 0-32 for IPv4, 0-128 for IPv6)';

const entry = (plugin: string, priority: unknown, disable: unknown = false): Record<string, unknown> => ({ plugin, priority, disable });

// The chart defaults (FSM / osm-edge values.yaml) as the MeshConfig carries them after install.
const chartPluginChains = {
  'inbound-tcp': [entry('modules/inbound-tls-termination', 130), entry('modules/inbound-tcp-routing', 120), entry('modules/inbound-tcp-load-balancing', 110), entry('modules/inbound-tcp-default', 100)],
  'inbound-http': [
    entry('modules/inbound-tls-termination', 180),
    entry('modules/inbound-http-routing', 170),
    entry('modules/inbound-metrics-http', 160),
    entry('modules/inbound-tracing-http', 150),
    entry('modules/inbound-logging-http', 140),
    entry('modules/inbound-throttle-service', 130),
    entry('modules/inbound-throttle-route', 120),
    entry('modules/inbound-http-load-balancing', 110),
    entry('modules/inbound-http-default', 100),
  ],
  'outbound-tcp': [entry('modules/outbound-tcp-routing', 120), entry('modules/outbound-tcp-load-balancing', 110), entry('modules/outbound-tcp-default', 100)],
  'outbound-http': [
    entry('modules/outbound-http-routing', 160),
    entry('modules/outbound-metrics-http', 150),
    entry('modules/outbound-tracing-http', 140),
    entry('modules/outbound-logging-http', 130),
    entry('modules/outbound-circuit-breaker', 120),
    entry('modules/outbound-http-load-balancing', 110),
    entry('modules/outbound-http-default', 100),
  ],
};

const chartSpec = {
  sidecar: { logLevel: 'error', sidecarDrivers: [{ sidecarName: 'pipy', proxyServerPort: 6060 }] },
  traffic: {
    inboundPortExclusionList: [],
    outboundPortExclusionList: [],
    outboundIPRangeExclusionList: [],
    outboundIPRangeInclusionList: [],
    inboundExternalAuthorization: { enable: false, port: 9191 },
  },
  observability: { tracing: { enable: false, port: 9411 }, remoteLogging: { enable: false, port: 30514 } },
  featureFlags: { enableEgressPolicy: true, enablePluginPolicy: false, enableRetryPolicy: false },
  pluginChains: chartPluginChains,
};

const withChains = (pluginChains: unknown): KubeObject => meshConfig({ pluginChains });

describe('MeshConfig', () => {
  it('admits the chart defaults, in both groups', () => {
    expect(check(meshConfig(chartSpec))).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
    expect(check(meshConfig(chartSpec, 'osm-edge'), { flavor: 'osm-edge' })).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
    expect(check(meshConfig({}))).toEqual({ allowed: true, known: true, errors: [], warnings: [] });
  });

  it('denies a spec that is not an object', () => {
    expect(causes(check({ ...meshConfig({}), spec: [] }))).toEqual(['spec: Invalid value: []: must be an object']);
  });

  describe('pluginChains', () => {
    it('accepts only the four chain names as keys', () => {
      const v = check(withChains({ 'inbound-udp': [entry('modules/x', 100)], 'outbound-http': [entry('modules/y', 100)] }));
      expect(causes(v)).toEqual(['spec.pluginChains: Unsupported value: "inbound-udp": supported values: "inbound-tcp", "inbound-http", "outbound-tcp", "outbound-http"']);
      expect(causes(check(withChains(['outbound-http'])))).toEqual(['spec.pluginChains: Invalid value: ["outbound-http"]: must be an object']);
      expect(causes(check(withChains({ 'outbound-http': 'modules/y' })))).toEqual(['spec.pluginChains.outbound-http: Invalid value: "modules/y": must be a list']);
    });

    it.each([0, 65535])('admits priority %s', (priority) => {
      expect(check(withChains({ 'outbound-http': [entry('modules/y', priority)] })).allowed).toBe(true);
    });

    it.each([
      [70000, '70000'],
      [-1, '-1'],
      [65536, '65536'],
      [1.5, '1.5'],
      ['100', '"100"'],
      [1e39, '1e+39'],
    ])('denies priority %s with the Plugin message', (priority, shown) => {
      const v = check(withChains({ 'outbound-http': [entry('modules/y', priority)] }));
      expect(causes(v)).toEqual([`spec.pluginChains.outbound-http[0].priority: Invalid value: ${shown}: ${PRIORITY_RANGE}`]);
      expect(v.errors[0]?.rule).toBe('plugin-priority-range');
    });

    it('requires plugin and priority, and a boolean disable', () => {
      const v = check(withChains({ 'inbound-tcp': [{ priority: 100 }, { plugin: '', priority: 90 }, { plugin: 'modules/z' }, entry('modules/w', 80, 'yes'), 'modules/v'] }));
      expect(causes(v)).toEqual([
        'spec.pluginChains.inbound-tcp[0].plugin: Required value',
        'spec.pluginChains.inbound-tcp[1].plugin: Required value',
        'spec.pluginChains.inbound-tcp[2].priority: Required value',
        'spec.pluginChains.inbound-tcp[3].disable: Invalid value: "yes": must be a boolean',
        'spec.pluginChains.inbound-tcp[4]: Invalid value: "modules/v": must be an object with plugin, priority and disable',
      ]);
      expect(check(withChains({ 'inbound-tcp': [{ plugin: 'modules/z', priority: 1 }] })).allowed).toBe(true);
    });

    it('denies the same module twice in a chain, not across chains', () => {
      const v = check(withChains({ 'outbound-http': [entry('modules/a', 150), entry('modules/b', 140), entry('modules/a', 130)], 'inbound-http': [entry('modules/a', 150)] }));
      expect(causes(v)).toEqual(['spec.pluginChains.outbound-http[2].plugin: Duplicate value: "modules/a": also at spec.pluginChains.outbound-http[0].plugin']);
    });

    it('warns about enabled modules with equal priorities', () => {
      const v = check(withChains({ 'outbound-tcp': [entry('modules/a', 120), entry('modules/b', 120), entry('modules/c', 110, true), entry('modules/d', 110)] }));
      expect(v.allowed).toBe(true);
      expect(v.warnings).toEqual(['spec.pluginChains.outbound-tcp[1].priority: 120 on outbound-tcp equals modules/a (120): the order between them is undefined']);
    });

    it('warns when a module ties with a Plugin mounted on that chain', () => {
      const state: KubeObject[] = [
        { apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'p' }, spec: { pipyscript: 'x', priority: 130 } },
        { apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'PluginChain', metadata: { name: 'c', namespace: 'curl' }, spec: { chains: [{ name: 'outbound-http', plugins: ['p'] }] } },
      ];
      expect(check(meshConfig(chartSpec), { state }).warnings).toEqual([
        'spec.pluginChains.outbound-http[3].priority: 130 on outbound-http equals plugin p (130): the order between them is undefined',
      ]);
    });
  });

  describe('sidecar', () => {
    it.each(['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off', 'fatal', 'panic', 'disabled'])('admits logLevel %s', (logLevel) => {
      expect(check(meshConfig({ sidecar: { logLevel } })).allowed).toBe(true);
    });

    it('denies an unknown log level', () => {
      expect(causes(check(meshConfig({ sidecar: { logLevel: 'verbose' } })))).toEqual([
        'spec.sidecar.logLevel: Unsupported value: "verbose": supported values: "trace", "debug", "info", "warning", "warn", "error", "critical", "off", "fatal", "panic", "disabled"',
      ]);
      expect(causes(check(meshConfig({ sidecar: { logLevel: 'ERROR' } })))[0]).toMatch(/^spec\.sidecar\.logLevel: Unsupported value: "ERROR"/);
    });

    it('checks the driver proxyServerPort range', () => {
      const v = check(meshConfig({ sidecar: { sidecarDrivers: [{ sidecarName: 'pipy', proxyServerPort: 65535 }, { sidecarName: 'envoy', proxyServerPort: 65536 }, { sidecarName: 'x', proxyServerPort: 0 }] } }));
      expect(causes(v)).toEqual([
        `spec.sidecar.sidecarDrivers[1].proxyServerPort: Invalid value: 65536: ${PORT_RANGE}`,
        `spec.sidecar.sidecarDrivers[2].proxyServerPort: Invalid value: 0: ${PORT_RANGE}`,
      ]);
    });

    it('denies a sidecar section that is not an object', () => {
      expect(causes(check(meshConfig({ sidecar: 'pipy' })))).toEqual(['spec.sidecar: Invalid value: "pipy": must be an object']);
    });
  });

  describe('traffic', () => {
    it('checks port exclusion lists', () => {
      const v = check(meshConfig({ traffic: { inboundPortExclusionList: [1, 65535, 0, 65536, '80'], outboundPortExclusionList: 3306 } }));
      expect(causes(v)).toEqual([
        `spec.traffic.inboundPortExclusionList[2]: Invalid value: 0: ${PORT_RANGE}`,
        `spec.traffic.inboundPortExclusionList[3]: Invalid value: 65536: ${PORT_RANGE}`,
        `spec.traffic.inboundPortExclusionList[4]: Invalid value: "80": ${PORT_RANGE}`,
        'spec.traffic.outboundPortExclusionList: Invalid value: 3306: must be a list',
      ]);
    });

    it('checks IP range lists as strict CIDRs, inbound lists too when present', () => {
      const v = check(
        meshConfig({
          traffic: {
            outboundIPRangeExclusionList: ['10.0.0.0/8', 'fd00::/8', '10.0.0.1', '999.1.1.1/8'],
            outboundIPRangeInclusionList: ['10.0.0.0/33'],
            inboundIPRangeExclusionList: ['192.168.0.0/16', 'any'],
          },
        }),
      );
      expect(causes(v)).toEqual([
        `spec.traffic.outboundIPRangeExclusionList[2]: Invalid value: "10.0.0.1": ${CIDR_TEXT}`,
        `spec.traffic.outboundIPRangeExclusionList[3]: Invalid value: "999.1.1.1/8": ${CIDR_TEXT}`,
        `spec.traffic.outboundIPRangeInclusionList[0]: Invalid value: "10.0.0.0/33": ${CIDR_TEXT}`,
        `spec.traffic.inboundIPRangeExclusionList[1]: Invalid value: "any": ${CIDR_TEXT}`,
      ]);
    });

    it('checks the external authorization port', () => {
      expect(causes(check(meshConfig({ traffic: { inboundExternalAuthorization: { enable: true, port: -1 } } })))).toEqual([
        `spec.traffic.inboundExternalAuthorization.port: Invalid value: -1: ${PORT_RANGE}`,
      ]);
    });
  });

  it('checks tracing and remote logging ports', () => {
    const v = check(meshConfig({ observability: { tracing: { enable: true, port: 0 }, remoteLogging: { enable: true, port: 70000 } } }));
    expect(causes(v)).toEqual([`spec.observability.tracing.port: Invalid value: 0: ${PORT_RANGE}`, `spec.observability.remoteLogging.port: Invalid value: 70000: ${PORT_RANGE}`]);
    expect(check(meshConfig({ observability: { tracing: { enable: false } } })).allowed).toBe(true);
  });

  it('requires feature flags to be booleans', () => {
    const v = check(meshConfig({ featureFlags: { enablePluginPolicy: 'true', enableEgressPolicy: true, enableRetryPolicy: 1 } }));
    expect(causes(v)).toEqual(['spec.featureFlags.enablePluginPolicy: Invalid value: "true": must be a boolean', 'spec.featureFlags.enableRetryPolicy: Invalid value: 1: must be a boolean']);
  });

  it('never throws on odd shapes', () => {
    for (const spec of [null, 1, 'x', { pluginChains: null, sidecar: [], traffic: { inboundPortExclusionList: [null] }, observability: { tracing: 5 } }, { pluginChains: { 'inbound-tcp': [null, []] } }])
      expect(() => check({ ...meshConfig({}), spec })).not.toThrow();
  });
});
