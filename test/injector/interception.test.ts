import { describe, expect, it } from 'vitest';
import { FLAVORS } from '../../src/mesh/flavor.js';
import {
  INTERFACE_NAME_RE,
  interceptionAnnotationKeys,
  mergeIPRangeLists,
  mergePortExclusionLists,
  parseIPRangeListAnnotation,
  parsePortListAnnotation,
  resolveInterception,
} from '../../src/injector/interception.js';

const fsm = FLAVORS.fsm;
const edge = FLAVORS['osm-edge'];
const OUT_PORTS = 'flomesh.io/outbound-port-exclusion-list';
const IN_PORTS = 'flomesh.io/inbound-port-exclusion-list';
const OUT_EXCL = 'flomesh.io/outbound-ip-range-exclusion-list';
const OUT_INCL = 'flomesh.io/outbound-ip-range-inclusion-list';

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);

describe('annotation keys', () => {
  it('use the flavor domain', () => {
    expect(interceptionAnnotationKeys(fsm)).toEqual({ outboundPortExclusion: OUT_PORTS, inboundPortExclusion: IN_PORTS, outboundIPRangeExclusion: OUT_EXCL, outboundIPRangeInclusion: OUT_INCL });
    expect(interceptionAnnotationKeys(edge).outboundPortExclusion).toBe('openservicemesh.io/outbound-port-exclusion-list');
  });
});

describe('TestGetPortExclusionListForPod (ported)', () => {
  it('outbound "6060, 7070" → [6060, 7070]', () => {
    expect(parsePortListAnnotation({ [OUT_PORTS]: '6060, 7070' }, OUT_PORTS)).toEqual({ values: [6060, 7070], errors: [] });
  });
  it('inbound "6060, 7070" → [6060, 7070]', () => {
    expect(parsePortListAnnotation({ [IN_PORTS]: '6060, 7070' }, IN_PORTS)).toEqual({ values: [6060, 7070], errors: [] });
  });
  it('no annotations, key "" → nothing, no error', () => {
    expect(parsePortListAnnotation(undefined, '')).toEqual({ values: [], errors: [] });
  });
  it('outbound "6060, -7070" → error naming the trimmed item', () => {
    expect(parsePortListAnnotation({ [OUT_PORTS]: '6060, -7070' }, OUT_PORTS).errors).toEqual([`Invalid port value '-7070' specified for annotation '${OUT_PORTS}'`]);
  });
  it('inbound "6060, -7070" → error', () => {
    expect(parsePortListAnnotation({ [IN_PORTS]: '6060, -7070' }, IN_PORTS).errors).toEqual([`Invalid port value '-7070' specified for annotation '${IN_PORTS}'`]);
  });
});

describe('bad port items (exact messages, every item reported)', () => {
  const msg = (item: string, key = OUT_PORTS) => `Invalid port value '${item}' specified for annotation '${key}'`;
  it.each([
    ['', ['']],
    ['80,', ['']],
    [',80', ['']],
    ['80,,90', ['']],
    ['+80', ['+80']],
    ['-7070', ['-7070']],
    ['0', ['0']],
    ['65536', ['65536']],
    ['99999999999999999999', ['99999999999999999999']],
    ['abc', ['abc']],
    ['8o', ['8o']],
    ['80.0', ['80.0']],
    ['1e3', ['1e3']],
    ['0x50', ['0x50']],
    ['80 90', ['80 90']],
  ])('%j is rejected', (value, items) => {
    const r = parsePortListAnnotation({ [OUT_PORTS]: value }, OUT_PORTS);
    expect(r.errors).toEqual(items.map((i) => msg(i)));
  });
  it('accepts the bounds and surrounding spaces', () => {
    expect(parsePortListAnnotation({ [OUT_PORTS]: ' 1 ,65535,\t443 ' }, OUT_PORTS)).toEqual({ values: [1, 65535, 443], errors: [] });
  });
  it('reports each bad item once, keeps the good ones', () => {
    const r = parsePortListAnnotation({ [IN_PORTS]: '80, +81, 0, 82, 70000,' }, IN_PORTS);
    expect(r.values).toEqual([80, 82]);
    expect(r.errors).toEqual([msg('+81', IN_PORTS), msg('0', IN_PORTS), msg('70000', IN_PORTS), msg('', IN_PORTS)]);
  });
});

describe('TestMergePortExclusionLists (ported, order-insensitive)', () => {
  it.each([
    [[6060, 7070], [6060, 8080], [6060, 7070, 8080]],
    [[6060, 7070], [8080], [6060, 7070, 8080]],
    [undefined, [8080], [8080]],
    [[6060, 7070], undefined, [6060, 7070]],
    [undefined, undefined, []],
  ] as const)('pod %j + global %j', (pod, global, want) => {
    expect(sorted(mergePortExclusionLists(global as number[] | undefined, pod as number[] | undefined))).toEqual(want);
  });
  it('order is global first, then pod, duplicates collapsed', () => {
    expect(mergePortExclusionLists([8080, 6060, 8080], [7070, 6060, 7070])).toEqual([8080, 6060, 7070]);
  });
});

describe('TestGetOutboundIPRangeListForPod (ported)', () => {
  it('exclusion "10.0.0.0/8, 2.2.2.2/32" → trimmed list', () => {
    expect(parseIPRangeListAnnotation({ [OUT_EXCL]: '10.0.0.0/8, 2.2.2.2/32' }, OUT_EXCL)).toEqual({ values: ['10.0.0.0/8', '2.2.2.2/32'], errors: [] });
  });
  it('no annotation → nothing', () => {
    expect(parseIPRangeListAnnotation({}, OUT_EXCL)).toEqual({ values: [], errors: [] });
  });
  it('inclusion, same', () => {
    expect(parseIPRangeListAnnotation({ [OUT_INCL]: '10.0.0.0/8, 2.2.2.2/32' }, OUT_INCL)).toEqual({ values: ['10.0.0.0/8', '2.2.2.2/32'], errors: [] });
  });
  it('"foobar" → error', () => {
    expect(parseIPRangeListAnnotation({ [OUT_EXCL]: 'foobar' }, OUT_EXCL).errors).toEqual([`Invalid IP range 'foobar' specified for annotation '${OUT_EXCL}'`]);
  });
  it('IPv6 CIDRs are accepted', () => {
    expect(parseIPRangeListAnnotation({ [OUT_EXCL]: 'fd00::/8,2001:db8::1/128' }, OUT_EXCL)).toEqual({ values: ['fd00::/8', '2001:db8::1/128'], errors: [] });
  });
  it.each(['10.0.0.0/33', '1.2.3.4', '', 'fd00::/129', '300.0.0.0/8', '10.0.0.0/8/8', 'fe80::1%eth0/64', '10.0.0.0/-1', '10.0.0.0/ 8'])('%j is rejected with the exact message', (item) => {
    expect(parseIPRangeListAnnotation({ [OUT_INCL]: item }, OUT_INCL).errors).toEqual([`Invalid IP range '${item.trim()}' specified for annotation '${OUT_INCL}'`]);
  });
  it('trailing comma and several bad items: each reported', () => {
    expect(parseIPRangeListAnnotation({ [OUT_EXCL]: '1.2.3.4, 10.0.0.0/8, 10.0.0.0/33,' }, OUT_EXCL).errors).toEqual([
      `Invalid IP range '1.2.3.4' specified for annotation '${OUT_EXCL}'`,
      `Invalid IP range '10.0.0.0/33' specified for annotation '${OUT_EXCL}'`,
      `Invalid IP range '' specified for annotation '${OUT_EXCL}'`,
    ]);
  });
});

describe('TestMergeIPRangeLists (ported)', () => {
  it('[1.1.1.1/32, 2.2.2.2/32] + [2.2.2.2/32, 3.3.3.3/32] → 3 unique, pod first', () => {
    expect(mergeIPRangeLists(['1.1.1.1/32', '2.2.2.2/32'], ['2.2.2.2/32', '3.3.3.3/32'])).toEqual(['1.1.1.1/32', '2.2.2.2/32', '3.3.3.3/32']);
  });
  it('de-duplicates by exact string only', () => {
    expect(mergeIPRangeLists(['10.0.0.0/8'], ['10.0.0.0/8', '10.0.0.1/8'])).toEqual(['10.0.0.0/8', '10.0.0.1/8']);
  });
});

describe('resolveInterception', () => {
  it('defaults: nothing excluded, Localhost, no DNS, chain prefix from the flavor', () => {
    expect(resolveInterception(fsm, undefined, undefined)).toEqual({
      settings: {
        chainPrefix: 'FSM',
        outboundPortExclusions: [],
        inboundPortExclusions: [],
        outboundIPRangeExclusions: [],
        outboundIPRangeInclusions: [],
        networkInterfaceExclusions: [],
        localProxyMode: 'Localhost',
        localDnsProxy: false,
      },
      errors: [],
    });
    expect(resolveInterception(edge, {}, {}).settings.chainPrefix).toBe('OSM');
  });

  it('merges MeshConfig and pod annotations in the reference order', () => {
    const { settings, errors } = resolveInterception(
      fsm,
      { [OUT_PORTS]: '7070, 6060', [IN_PORTS]: '9090', [OUT_EXCL]: '2.2.2.2/32, 1.1.1.1/32', [OUT_INCL]: 'fd00::/8' },
      {
        traffic: {
          outboundPortExclusionList: [6060, 8080],
          inboundPortExclusionList: [9090, 9091],
          outboundIPRangeExclusionList: ['1.1.1.1/32', '3.3.3.3/32'],
          outboundIPRangeInclusionList: ['10.0.0.0/8'],
          networkInterfaceExclusionList: ['eth1', 'eth0', 'eth1'],
        },
        sidecar: { localProxyMode: 'PodIP' },
      },
    );
    expect(errors).toEqual([]);
    expect(settings.outboundPortExclusions).toEqual([6060, 8080, 7070]);
    expect(settings.inboundPortExclusions).toEqual([9090, 9091]);
    expect(settings.outboundIPRangeExclusions).toEqual(['2.2.2.2/32', '1.1.1.1/32', '3.3.3.3/32']);
    expect(settings.outboundIPRangeInclusions).toEqual(['fd00::/8', '10.0.0.0/8']);
    expect(settings.networkInterfaceExclusions).toEqual(['eth1', 'eth0']);
    expect(settings.localProxyMode).toBe('PodIP');
  });

  it('uses the osm-edge annotation domain for the osm-edge flavor', () => {
    const r = resolveInterception(edge, { [OUT_PORTS]: '80', 'openservicemesh.io/outbound-port-exclusion-list': '+80' }, undefined);
    expect(r.errors).toEqual([`Invalid port value '+80' specified for annotation 'openservicemesh.io/outbound-port-exclusion-list'`]);
  });

  it('localDNSProxy.enable turns the DNS rule on for osm-edge only', () => {
    const mc = { sidecar: { localDNSProxy: { enable: true } } };
    expect(resolveInterception(edge, {}, mc).settings.localDnsProxy).toBe(true);
    expect(resolveInterception(fsm, {}, mc).settings.localDnsProxy).toBe(false);
    expect(resolveInterception(edge, {}, { sidecar: { localDNSProxy: { enable: false } } }).settings.localDnsProxy).toBe(false);
  });

  it('reports every bad annotation item, in annotation order', () => {
    const r = resolveInterception(fsm, { [OUT_PORTS]: '+80,0', [IN_PORTS]: '65536', [OUT_EXCL]: '1.2.3.4', [OUT_INCL]: '10.0.0.0/33' }, undefined);
    expect(r.errors).toEqual([
      `Invalid port value '+80' specified for annotation '${OUT_PORTS}'`,
      `Invalid port value '0' specified for annotation '${OUT_PORTS}'`,
      `Invalid port value '65536' specified for annotation '${IN_PORTS}'`,
      `Invalid IP range '1.2.3.4' specified for annotation '${OUT_EXCL}'`,
      `Invalid IP range '10.0.0.0/33' specified for annotation '${OUT_INCL}'`,
    ]);
  });

  it('rejects bad interface names from MeshConfig before they reach a shell', () => {
    const r = resolveInterception(fsm, {}, { traffic: { networkInterfaceExclusionList: ['eth0', 'eth0;rm -rf /', 'abcdefghijklmnop', '', 'a b', '$(x)', 7] } });
    expect(r.settings.networkInterfaceExclusions).toEqual(['eth0']);
    const f = 'MeshConfig spec.traffic.networkInterfaceExclusionList';
    const rule = `must match ${INTERFACE_NAME_RE.source}`;
    expect(r.errors).toEqual([
      `Invalid network interface name 'eth0;rm -rf /' in ${f}[1]: ${rule}`,
      `Invalid network interface name 'abcdefghijklmnop' in ${f}[2]: ${rule}`,
      `Invalid network interface name '' in ${f}[3]: ${rule}`,
      `Invalid network interface name 'a b' in ${f}[4]: ${rule}`,
      `Invalid network interface name '$(x)' in ${f}[5]: ${rule}`,
      `Invalid network interface name '7' in ${f}[6]: ${rule}`,
    ]);
    // 15 characters (IFNAMSIZ - 1) is the longest valid name
    expect(resolveInterception(fsm, {}, { traffic: { networkInterfaceExclusionList: ['abcdefghijklmno', 'net1.100', 'a_b:c-d'] } }).errors).toEqual([]);
  });

  it('reports bad MeshConfig values with the field and the item', () => {
    const r = resolveInterception(edge, {}, {
      traffic: {
        outboundPortExclusionList: [80, 0, 70000, '443', 1.5],
        inboundPortExclusionList: 'not-a-list',
        outboundIPRangeExclusionList: ['10.0.0.0/8', '1.2.3.4', 'fd00::/8'],
        outboundIPRangeInclusionList: [42],
      },
      sidecar: { localProxyMode: 'podip', localDNSProxy: { enable: 'true' } },
    });
    expect(r.errors).toEqual([
      `Invalid port value '0' in MeshConfig spec.traffic.outboundPortExclusionList[1]: must be an integer 1-65535`,
      `Invalid port value '70000' in MeshConfig spec.traffic.outboundPortExclusionList[2]: must be an integer 1-65535`,
      `Invalid port value '"443"' in MeshConfig spec.traffic.outboundPortExclusionList[3]: must be an integer 1-65535`,
      `Invalid port value '1.5' in MeshConfig spec.traffic.outboundPortExclusionList[4]: must be an integer 1-65535`,
      `Invalid value '"not-a-list"' for MeshConfig spec.traffic.inboundPortExclusionList: must be a list`,
      `Invalid IP range '1.2.3.4' in MeshConfig spec.traffic.outboundIPRangeExclusionList[1]: must be an IPv4 or IPv6 CIDR`,
      `Invalid IP range '42' in MeshConfig spec.traffic.outboundIPRangeInclusionList[0]: must be an IPv4 or IPv6 CIDR`,
      `Invalid value 'podip' for MeshConfig spec.sidecar.localProxyMode: must be Localhost or PodIP`,
      `Invalid value '"true"' for MeshConfig spec.sidecar.localDNSProxy.enable: must be a boolean`,
    ]);
    expect(r.settings.outboundPortExclusions).toEqual([80]);
    expect(r.settings.outboundIPRangeExclusions).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(r.settings.localProxyMode).toBe('Localhost');
    expect(r.settings.localDnsProxy).toBe(false);
  });

  it('non-object MeshConfig sections are errors', () => {
    expect(resolveInterception(fsm, {}, { traffic: [], sidecar: 'x' }).errors).toEqual([
      `Invalid value '[]' for MeshConfig spec.traffic: must be an object`,
      `Invalid value '"x"' for MeshConfig spec.sidecar: must be an object`,
    ]);
  });

  it('empty localProxyMode (Go zero value) means Localhost', () => {
    expect(resolveInterception(fsm, {}, { sidecar: { localProxyMode: '' } })).toMatchObject({ errors: [], settings: { localProxyMode: 'Localhost' } });
  });
});
