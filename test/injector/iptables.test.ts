import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAVORS } from '../../src/mesh/flavor.js';
import type { InterceptionSettings } from '../../src/injector/interception.js';
import { resolveInterception } from '../../src/injector/interception.js';
import { initScript, ip6tablesRestore, iptablesRestore, natRules } from '../../src/injector/iptables.js';
import { MULTIPORT_MAX, PORTS, PROXY_UID } from '../../src/injector/ports.js';

const settings = (over: Partial<InterceptionSettings> = {}): InterceptionSettings => ({
  chainPrefix: 'FSM',
  outboundPortExclusions: [],
  inboundPortExclusions: [],
  outboundIPRangeExclusions: [],
  outboundIPRangeInclusions: [],
  networkInterfaceExclusions: [],
  localProxyMode: 'Localhost',
  localDnsProxy: false,
  ...over,
});

// The mesh's own TestGenerateIptablesCommands expectations, minus the dead
// `-A FSM_PROXY_OUT_REDIRECT -p tcp --dport 15000 -j ACCEPT` line (docs/injection.md#the-interception-script).
const CASE1_V4 = `iptables-restore --noflush <<EOF
# FSM sidecar interception rules
*nat
:FSM_PROXY_INBOUND - [0:0]
:FSM_PROXY_IN_REDIRECT - [0:0]
:FSM_PROXY_OUTBOUND - [0:0]
:FSM_PROXY_OUT_REDIRECT - [0:0]
-A FSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003
-A PREROUTING -p tcp -j FSM_PROXY_INBOUND
-A FSM_PROXY_INBOUND -p tcp --dport 15010 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15901 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15902 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15903 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15904 -j RETURN
-A FSM_PROXY_INBOUND -p tcp -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001
-A OUTPUT -p tcp -j FSM_PROXY_OUTBOUND
-A FSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -m owner --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN
-A FSM_PROXY_OUTBOUND -j FSM_PROXY_OUT_REDIRECT
COMMIT
EOF
`;

const CASE1_V6 = `if ! ip6tables-restore --noflush <<EOF
# FSM sidecar interception rules (IPv6)
*nat
:FSM_PROXY_INBOUND - [0:0]
:FSM_PROXY_IN_REDIRECT - [0:0]
:FSM_PROXY_OUTBOUND - [0:0]
:FSM_PROXY_OUT_REDIRECT - [0:0]
-A FSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003
-A PREROUTING -p tcp -j FSM_PROXY_INBOUND
-A FSM_PROXY_INBOUND -p tcp --dport 15010 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15901 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15902 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15903 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15904 -j RETURN
-A FSM_PROXY_INBOUND -p tcp -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001
-A OUTPUT -p tcp -j FSM_PROXY_OUTBOUND
-A FSM_PROXY_OUTBOUND -o lo ! -d ::1/128 -m owner --uid-owner 1500 -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -m owner --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -d ::1/128 -j RETURN
-A FSM_PROXY_OUTBOUND -j FSM_PROXY_OUT_REDIRECT
COMMIT
EOF
then
  has_ipv6=no
  if [ -r /proc/net/if_inet6 ]; then
    while read -r addr idx plen scope flags name; do
      if [ "$scope" = 00 ]; then has_ipv6=yes; fi
    done < /proc/net/if_inet6
  fi
  if [ "$has_ipv6" = yes ]; then
    echo "FSM init: ip6tables-restore failed and the pod has a global IPv6 address; refusing to leave IPv6 traffic unintercepted" >&2
    exit 1
  fi
  echo "FSM init: ip6tables-restore failed; the pod has no global IPv6 address, IPv6 interception skipped" >&2
fi
`;

const CASE2_V4 = `iptables-restore --noflush <<EOF
# FSM sidecar interception rules
*nat
:FSM_PROXY_INBOUND - [0:0]
:FSM_PROXY_IN_REDIRECT - [0:0]
:FSM_PROXY_OUTBOUND - [0:0]
:FSM_PROXY_OUT_REDIRECT - [0:0]
-A FSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003
-A PREROUTING -p tcp -j FSM_PROXY_INBOUND
-A FSM_PROXY_INBOUND -p tcp --dport 15010 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15901 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15902 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15903 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15904 -j RETURN
-A FSM_PROXY_INBOUND -p tcp -j FSM_PROXY_IN_REDIRECT
-I FSM_PROXY_INBOUND -i eth0 -j RETURN
-I FSM_PROXY_INBOUND -i eth1 -j RETURN
-I FSM_PROXY_INBOUND -p tcp --match multiport --dports 30,40 -j RETURN
-A FSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001
-A OUTPUT -p tcp -j FSM_PROXY_OUTBOUND
-A FSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -m owner --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN
-A FSM_PROXY_OUTBOUND -o eth0 -j RETURN
-A FSM_PROXY_OUTBOUND -o eth1 -j RETURN
-A FSM_PROXY_OUTBOUND -d 1.1.1.1/32 -j RETURN
-A FSM_PROXY_OUTBOUND -d 2.2.2.2/32 -j RETURN
-A FSM_PROXY_OUTBOUND -p tcp --match multiport --dports 10,20 -j RETURN
-A FSM_PROXY_OUTBOUND -d 3.3.3.3/32 -j FSM_PROXY_OUT_REDIRECT
-A FSM_PROXY_OUTBOUND -d 4.4.4.4/32 -j FSM_PROXY_OUT_REDIRECT
-A FSM_PROXY_OUTBOUND -j RETURN
COMMIT
EOF
`;

const CASE3_V4 = `iptables-restore --noflush <<EOF
# FSM sidecar interception rules
*nat
:FSM_PROXY_INBOUND - [0:0]
:FSM_PROXY_IN_REDIRECT - [0:0]
:FSM_PROXY_OUTBOUND - [0:0]
:FSM_PROXY_OUT_REDIRECT - [0:0]
-A FSM_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-port 15003
-A PREROUTING -p tcp -j FSM_PROXY_INBOUND
-A FSM_PROXY_INBOUND -p tcp --dport 15010 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15901 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15902 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15903 -j RETURN
-A FSM_PROXY_INBOUND -p tcp --dport 15904 -j RETURN
-A FSM_PROXY_INBOUND -p tcp -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUT_REDIRECT -p tcp -j REDIRECT --to-port 15001
-A OUTPUT -p tcp -j FSM_PROXY_OUTBOUND
-A FSM_PROXY_OUTBOUND -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1500 -j FSM_PROXY_IN_REDIRECT
-A FSM_PROXY_OUTBOUND -o lo -m owner ! --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -m owner --uid-owner 1500 -j RETURN
-A FSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN
-I OUTPUT -p tcp -o lo -d 127.0.0.1/32 -m owner --uid-owner 1500 -j DNAT --to-destination $POD_IP
-A FSM_PROXY_OUTBOUND -j FSM_PROXY_OUT_REDIRECT
COMMIT
EOF
`;

const CASE2 = settings({
  outboundIPRangeExclusions: ['1.1.1.1/32', '2.2.2.2/32'],
  outboundIPRangeInclusions: ['3.3.3.3/32', '4.4.4.4/32'],
  outboundPortExclusions: [10, 20],
  inboundPortExclusions: [30, 40],
  networkInterfaceExclusions: ['eth0', 'eth1'],
});

/** The rule lines of one family's table. */
const lines = (s: InterceptionSettings, family: 4 | 6): string[] => natRules(s, family).split('\n');

describe('TestGenerateIptablesCommands (ported, exact strings)', () => {
  it('(1) no exclusions or inclusions: IPv4 part', () => {
    expect(iptablesRestore(settings())).toBe(CASE1_V4);
  });

  it('(1) no exclusions or inclusions: the whole init script', () => {
    expect(initScript(settings())).toBe(`set -e\n${CASE1_V4}${CASE1_V6}`);
    expect(ip6tablesRestore(settings())).toBe(CASE1_V6);
  });

  it('(2) with exclusions and inclusions; -I keeps the mesh\'s order (head: multiport, eth1, eth0, 15010, ...)', () => {
    expect(iptablesRestore(CASE2)).toBe(CASE2_V4);
    // IPv4-only lists: the IPv6 table has the same structure without the CIDR lines; inclusions being set, IPv6
    // traffic (no IPv6 range included) is not redirected.
    const v6 = lines(CASE2, 6);
    expect(v6.filter((l) => / -d \d/.test(l))).toEqual([]);
    expect(v6.slice(-3)).toEqual(['-A FSM_PROXY_OUTBOUND -p tcp --match multiport --dports 10,20 -j RETURN', '-A FSM_PROXY_OUTBOUND -j RETURN', 'COMMIT']);
    expect(v6).toContain('-I FSM_PROXY_INBOUND -i eth1 -j RETURN');
  });

  it('(3) proxy mode PodIP: DNAT just before the final redirect, $POD_IP left for the shell', () => {
    expect(iptablesRestore(settings({ localProxyMode: 'PodIP' }))).toBe(CASE3_V4);
    // Not in the IPv6 table: status.podIP is one address of one family.
    expect(natRules(settings({ localProxyMode: 'PodIP' }), 6)).not.toContain('DNAT');
  });
});

describe('changes to the mesh\'s rules', () => {
  it('never emits the dead --dport 15000 ACCEPT after the REDIRECT', () => {
    for (const s of [settings(), CASE2, settings({ localProxyMode: 'PodIP', localDnsProxy: true })])
      expect(initScript(s)).not.toContain('--dport 15000');
  });

  it('splits port lists at 15 per multiport rule, order kept', () => {
    const ports = Array.from({ length: 32 }, (_, i) => 1000 + i);
    const s = settings({ inboundPortExclusions: ports, outboundPortExclusions: ports });
    const v4 = lines(s, 4);
    const inbound = v4.filter((l) => l.startsWith('-I FSM_PROXY_INBOUND -p tcp --match multiport'));
    const outbound = v4.filter((l) => l.startsWith('-A FSM_PROXY_OUTBOUND -p tcp --match multiport'));
    const chunk = (a: number[]) => `--dports ${a.join(',')} -j RETURN`;
    expect(inbound.map((l) => l.slice(l.indexOf('--dports')))).toEqual([chunk(ports.slice(0, 15)), chunk(ports.slice(15, 30)), chunk(ports.slice(30))]);
    expect(outbound.map((l) => l.slice(l.indexOf('--dports')))).toEqual([chunk(ports.slice(0, 15)), chunk(ports.slice(15, 30)), chunk(ports.slice(30))]);
    for (const l of [...inbound, ...outbound]) expect(l.split('--dports ')[1]!.split(' ')[0]!.split(',').length).toBeLessThanOrEqual(MULTIPORT_MAX);
    // exactly 15 stays one rule; 16 makes two
    expect(lines(settings({ outboundPortExclusions: ports.slice(0, 15) }), 4).filter((l) => l.includes('multiport'))).toHaveLength(1);
    expect(lines(settings({ outboundPortExclusions: ports.slice(0, 16) }), 4).filter((l) => l.includes('multiport'))).toEqual([
      `-A FSM_PROXY_OUTBOUND -p tcp --match multiport --dports ${ports.slice(0, 15).join(',')} -j RETURN`,
      '-A FSM_PROXY_OUTBOUND -p tcp --match multiport --dports 1015 -j RETURN',
    ]);
  });

  it('puts IPv6 CIDRs in the ip6tables part only, IPv4 CIDRs in the iptables part only', () => {
    const s = settings({
      outboundIPRangeExclusions: ['10.0.0.0/8', 'fd00::/8', '2001:db8::1/128'],
      outboundIPRangeInclusions: ['192.168.0.0/16', '2001:db8:1::/48'],
    });
    const v4 = lines(s, 4);
    const v6 = lines(s, 6);
    expect(v4.filter((l) => l.includes(' -d ') && !l.includes('127.0.0.1/32'))).toEqual([
      '-A FSM_PROXY_OUTBOUND -d 10.0.0.0/8 -j RETURN',
      '-A FSM_PROXY_OUTBOUND -d 192.168.0.0/16 -j FSM_PROXY_OUT_REDIRECT',
    ]);
    expect(v6.filter((l) => l.includes(' -d ') && !l.includes(' -d ::1/128 '))).toEqual([
      '-A FSM_PROXY_OUTBOUND -d fd00::/8 -j RETURN',
      '-A FSM_PROXY_OUTBOUND -d 2001:db8::1/128 -j RETURN',
      '-A FSM_PROXY_OUTBOUND -d 2001:db8:1::/48 -j FSM_PROXY_OUT_REDIRECT',
    ]);
    expect(v6).toContain('-A FSM_PROXY_OUTBOUND -o lo ! -d ::1/128 -m owner --uid-owner 1500 -j FSM_PROXY_IN_REDIRECT');
    expect(v6).toContain('-A FSM_PROXY_OUTBOUND -d ::1/128 -j RETURN');
    expect(v6.join('\n')).not.toContain('127.0.0.1');
    const script = initScript(s);
    const v4Part = script.slice(0, script.indexOf('if ! ip6tables-restore'));
    expect(v4Part).not.toContain('fd00::/8');
    expect(script.slice(script.indexOf('if ! ip6tables-restore'))).not.toContain('10.0.0.0/8');
  });

  it('only IPv6 inclusions: IPv4 traffic is no longer redirected (inclusion = only these ranges)', () => {
    const s = settings({ outboundIPRangeInclusions: ['fd00::/8'] });
    expect(lines(s, 4).slice(-2)).toEqual(['-A FSM_PROXY_OUTBOUND -j RETURN', 'COMMIT']);
    expect(lines(s, 6).slice(-3)).toEqual(['-A FSM_PROXY_OUTBOUND -d fd00::/8 -j FSM_PROXY_OUT_REDIRECT', '-A FSM_PROXY_OUTBOUND -j RETURN', 'COMMIT']);
  });

  it('emits the osm-edge DNS DNAT rule after the static outbound rules, IPv4 only', () => {
    const s = settings({ chainPrefix: 'OSM', localDnsProxy: true, localProxyMode: 'PodIP' });
    const v4 = lines(s, 4);
    const dns = '-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300';
    expect(v4.indexOf(dns)).toBe(v4.indexOf('-A OSM_PROXY_OUTBOUND -d 127.0.0.1/32 -j RETURN') + 1);
    expect(v4[v4.indexOf(dns) + 1]).toMatch(/^-I OUTPUT -p tcp -o lo .* --to-destination \$POD_IP$/);
    expect(lines(s, 6)).not.toContain(dns);
    expect(iptablesRestore(settings())).not.toContain('udp');
  });

  it('the DNS rule follows the flavor: osm-edge yes, fsm never', () => {
    const mc = { sidecar: { localDNSProxy: { enable: true } } };
    expect(initScript(resolveInterception(FLAVORS['osm-edge'], {}, mc).settings)).toContain('--dport 53 -j DNAT');
    expect(initScript(resolveInterception(FLAVORS.fsm, {}, mc).settings)).not.toContain('--dport 53');
  });

  it('FSM vs OSM chain names', () => {
    const fsm = initScript(resolveInterception(FLAVORS.fsm, {}, undefined).settings);
    const osm = initScript(resolveInterception(FLAVORS['osm-edge'], {}, undefined).settings);
    expect(osm).toBe(fsm.replaceAll('FSM', 'OSM'));
    for (const chain of ['OSM_PROXY_INBOUND', 'OSM_PROXY_IN_REDIRECT', 'OSM_PROXY_OUTBOUND', 'OSM_PROXY_OUT_REDIRECT']) expect(osm).toContain(`:${chain} - [0:0]`);
    expect(osm).toContain('# OSM sidecar interception rules\n');
    expect(osm).not.toContain('FSM');
  });

  it('uses the shared port table', () => {
    expect(PORTS).toMatchObject({ PROXY_ADMIN: 15000, OUTBOUND: 15001, INBOUND: 15003, METRICS: 15010, LIVENESS: 15901, READINESS: 15902, STARTUP: 15903, HEALTHCHECK: 15904, PROXY_UID: 1500 });
    expect(PROXY_UID).toBe(1500);
  });
});

describe('shell safety', () => {
  const rich = settings({
    outboundPortExclusions: Array.from({ length: 20 }, (_, i) => i + 1),
    inboundPortExclusions: [8080],
    outboundIPRangeExclusions: ['10.0.0.0/8', '::ffff:1.2.3.4/128'],
    outboundIPRangeInclusions: ['fd00::/8'],
    networkInterfaceExclusions: ['eth0', 'net1.100', 'a_b:c-d'],
    localProxyMode: 'PodIP',
    localDnsProxy: true,
  });

  it('the only expansion inside the heredocs is $POD_IP; no `...`, no \\, no line that ends the heredoc early', () => {
    const script = initScript(rich);
    const bodies = [...script.matchAll(/<<EOF\n([\s\S]*?)\nEOF\n/g)].map((m) => m[1]!);
    expect(bodies).toHaveLength(2);
    for (const body of bodies) {
      expect(body.replaceAll('$POD_IP', '')).not.toMatch(/[$`\\]/);
      for (const l of body.split('\n')) expect(l).toMatch(/^(-[AI] |:|\*nat$|# |COMMIT$)/);
    }
  });

  it('contains nothing Kubernetes would expand in container args ($(VAR), $$)', () => {
    const script = initScript(rich);
    expect(script).not.toContain('$(');
    expect(script).not.toContain('$$');
  });

  it('refuses hand-built settings that could change the script', () => {
    expect(() => initScript(settings({ networkInterfaceExclusions: ['eth0;rm -rf /'] }))).toThrow(/interface/);
    expect(() => initScript(settings({ networkInterfaceExclusions: ['eth0\nEOF'] }))).toThrow(/interface/);
    expect(() => initScript(settings({ networkInterfaceExclusions: ['abcdefghijklmnop'] }))).toThrow(/interface/);
    expect(() => initScript(settings({ outboundIPRangeExclusions: ['$(reboot)/32'] }))).toThrow(/CIDR/);
    expect(() => initScript(settings({ outboundIPRangeExclusions: ['1.2.3.4'] }))).toThrow(/CIDR/);
    expect(() => initScript(settings({ outboundPortExclusions: [65536] }))).toThrow(/port/);
    expect(() => initScript(settings({ inboundPortExclusions: [0] }))).toThrow(/port/);
    expect(() => initScript(settings({ chainPrefix: 'FSM $X' }))).toThrow(/prefix/);
  });
});

// Runs the generated script under the system's POSIX shells with stub iptables-restore/ip6tables-restore binaries
// to check the failure policy: IPv4 failure is fatal; IPv6 failure is fatal only when the pod has a global IPv6.
const shells = ['/bin/sh', '/usr/bin/dash', '/bin/bash', '/bin/busybox'].filter((p) => existsSync(p));
describe.skipIf(shells.length === 0)('script behaviour under a real shell', () => {
  const IF_INET6_LINK_LOCAL_ONLY = 'fe800000000000000000000000000001 02 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\n';
  const IF_INET6_GLOBAL = 'fd000000000000000000000000000001 02 40 00 80     eth0\n' + IF_INET6_LINK_LOCAL_ONLY;

  function run(shell: string, v4rc: number, v6rc: number, ifInet6: string | undefined): { rc: number; stderr: string; v4?: string; v6?: string } {
    const dir = mkdtempSync(join(tmpdir(), 'ipt-'));
    try {
      mkdirSync(join(dir, 'bin'));
      for (const [name, rc, out] of [['iptables-restore', v4rc, 'v4'], ['ip6tables-restore', v6rc, 'v6']] as const) {
        writeFileSync(join(dir, 'bin', name), `#!/bin/sh\ncat > "${join(dir, out)}"\nexit ${rc}\n`);
        chmodSync(join(dir, 'bin', name), 0o755);
      }
      const procFile = join(dir, 'if_inet6');
      if (ifInet6 !== undefined) writeFileSync(procFile, ifInet6);
      const script = initScript(settings({ localProxyMode: 'PodIP', outboundIPRangeExclusions: ['fd00::/8'] })).replace('/proc/net/if_inet6', procFile).replace('/proc/net/if_inet6', procFile);
      const args = shell.endsWith('busybox') ? ['sh', '-c', script] : ['-c', script];
      const res = spawnSync(shell, args, { env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, POD_IP: '10.1.2.3' }, stdio: ['ignore', 'pipe', 'pipe'] });
      const rc = res.status ?? -1;
      const stderr = res.stderr.toString();
      const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined);
      return { rc, stderr, v4: read('v4'), v6: read('v6') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  for (const shell of shells) {
    it(`${shell}: both succeed → 0, $POD_IP expanded, IPv6 rules applied`, () => {
      const r = run(shell, 0, 0, IF_INET6_GLOBAL);
      expect(r.rc).toBe(0);
      expect(r.v4).toContain('--to-destination 10.1.2.3\n');
      expect(r.v6).toContain('-A FSM_PROXY_OUTBOUND -d fd00::/8 -j RETURN');
    });
    it(`${shell}: IPv4 failure is fatal and stops before IPv6`, () => {
      const r = run(shell, 1, 0, IF_INET6_LINK_LOCAL_ONLY);
      expect(r.rc).not.toBe(0);
      expect(r.v6).toBeUndefined();
    });
    it(`${shell}: IPv6 failure without a global IPv6 address is tolerated with a log line`, () => {
      for (const f of [IF_INET6_LINK_LOCAL_ONLY, undefined]) {
        const r = run(shell, 0, 1, f);
        expect(r.rc).toBe(0);
        expect(r.stderr).toContain('IPv6 interception skipped');
      }
    });
    it(`${shell}: IPv6 failure on a pod with a global IPv6 address is fatal`, () => {
      const r = run(shell, 0, 1, IF_INET6_GLOBAL);
      expect(r.rc).toBe(1);
      expect(r.stderr).toContain('refusing to leave IPv6 traffic unintercepted');
    });
  }
});
