// The init container's `/bin/sh -c` script: the nat rules that send the pod's TCP traffic through the sidecar.
// Same chains, ports and order as the FSM / osm-edge injector's script, with these changes
// (docs/injection.md#the-interception-script):
//   - multiport lists are split at 15 ports; IPv6 CIDRs go to an ip6tables-restore part instead of breaking the
//     IPv4 one (and IPv6 traffic is intercepted too);
//   - every value that reaches the shell is re-checked here (defence in depth: resolveInterception validated it);
//   - the dead `-A <P>_PROXY_OUT_REDIRECT -p tcp --dport 15000 -j ACCEPT` rule (after a terminating REDIRECT) is gone.
//
// Script shape:
//
//   set -e
//   iptables-restore --noflush <<EOF            <- IPv4 rules, byte-for-byte the mesh's (minus the dead rule)
//   ...
//   EOF
//   if ! ip6tables-restore --noflush <<EOF      <- IPv6 rules, ALWAYS emitted
//   ...
//   EOF
//   then <fail only if the pod has a global IPv6 address, else log and go on>
//   fi
//
// IPv6 choice. The ip6 part is always emitted, not only when IPv6 CIDRs are listed: on a dual-stack pod the
// mesh's own script leaves IPv6 traffic un-intercepted (no mTLS, no policy) whatever the annotations say. Its failure is
// tolerated only when the pod has no global-scope IPv6 address (read from the pod netns' /proc/net/if_inet6: scope
// field 00; link-local fe80:: and ::1 do not count), which covers IPv4-only clusters on nodes without ip6table_nat,
// kernels booted with ipv6.disable=1 and images without ip6tables. A dual-stack pod whose ip6tables-restore fails
// stops in Init, exactly like an IPv4 failure does: fail closed rather than run with a bypass.
//
// Shell safety. The heredocs are unquoted (`<<EOF`) because the PodIP DNAT rule needs `$POD_IP` expanded. An
// unquoted heredoc expands only `$...`, backquotes and backslashes, and ends at a line that is exactly `EOF`. Every
// other value pasted in is a decimal port, a CIDR accepted by parseCidr (hex digits, '.', ':', '/') or an interface
// name matching INTERFACE_NAME_RE; none can hold '$', '`', '\\' or a newline, and every rule line starts with
// '-', ':', '*', '#' or is `COMMIT`, so no line can be `EOF`. assertShellSafe re-checks this before rendering.
// Kubernetes itself expands `$(VAR)` and turns `$$` into `$` in container args: the script contains neither.
import { INTERFACE_NAME_RE, type InterceptionSettings } from './interception.js';
import { MULTIPORT_MAX, PORTS, PROXY_UID } from './ports.js';
import { parseCidr } from '../mesh/cidr.js';

type Family = 4 | 6;

/** Splits a port list into multiport-sized chunks, order kept. */
function chunks(ports: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) out.push(ports.slice(i, i + MULTIPORT_MAX));
  return out;
}

function familyOf(cidr: string): Family {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`iptables: invalid CIDR ${JSON.stringify(cidr)} in interception settings`);
  return c.family;
}

/**
 * Throws on any settings value that could change the meaning of the script. resolveInterception only produces
 * valid values; this guards callers that build InterceptionSettings by hand.
 */
function assertShellSafe(s: InterceptionSettings): void {
  if (!/^[A-Z][A-Z0-9]{0,15}$/.test(s.chainPrefix)) throw new Error(`iptables: invalid chain prefix ${JSON.stringify(s.chainPrefix)}`);
  for (const p of [...s.outboundPortExclusions, ...s.inboundPortExclusions])
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`iptables: invalid port ${String(p)} in interception settings`);
  for (const c of [...s.outboundIPRangeExclusions, ...s.outboundIPRangeInclusions]) familyOf(c);
  for (const i of s.networkInterfaceExclusions)
    if (!INTERFACE_NAME_RE.test(i)) throw new Error(`iptables: invalid interface name ${JSON.stringify(i)} in interception settings`);
  if (s.localProxyMode !== 'Localhost' && s.localProxyMode !== 'PodIP') throw new Error(`iptables: invalid localProxyMode ${JSON.stringify(s.localProxyMode)}`);
}

/** The nat table rules for one address family, from the header comment to COMMIT (no trailing newline). */
export function natRules(s: InterceptionSettings, family: Family): string {
  assertShellSafe(s);
  const P = s.chainPrefix;
  const INBOUND = `${P}_PROXY_INBOUND`;
  const IN_REDIRECT = `${P}_PROXY_IN_REDIRECT`;
  const OUTBOUND = `${P}_PROXY_OUTBOUND`;
  const OUT_REDIRECT = `${P}_PROXY_OUT_REDIRECT`;
  const loopback = family === 4 ? '127.0.0.1/32' : '::1/128';
  const ofFamily = (cidrs: readonly string[]): string[] => cidrs.filter((c) => familyOf(c) === family);
  const r: string[] = [];

  r.push(family === 4 ? `# ${P} sidecar interception rules` : `# ${P} sidecar interception rules (IPv6)`);
  r.push('*nat');
  r.push(`:${INBOUND} - [0:0]`, `:${IN_REDIRECT} - [0:0]`, `:${OUTBOUND} - [0:0]`, `:${OUT_REDIRECT} - [0:0]`);

  // --- inbound ---
  // Whatever reaches IN_REDIRECT goes to the sidecar's inbound listener (mTLS termination, inbound policy).
  r.push(`-A ${IN_REDIRECT} -p tcp -j REDIRECT --to-port ${PORTS.INBOUND}`);
  // All inbound TCP enters our chain; without this hook nothing inbound is intercepted.
  r.push(`-A PREROUTING -p tcp -j ${INBOUND}`);
  // Prometheus must reach the sidecar's own metrics listener, not be looped into the inbound listener.
  r.push(`-A ${INBOUND} -p tcp --dport ${PORTS.METRICS} -j RETURN`);
  // Kubelet probes on the rewritten probe ports are served by the sidecar directly; redirecting them would send
  // them to the inbound listener and fail every liveness/readiness/startup probe.
  r.push(`-A ${INBOUND} -p tcp --dport ${PORTS.LIVENESS} -j RETURN`);
  r.push(`-A ${INBOUND} -p tcp --dport ${PORTS.READINESS} -j RETURN`);
  r.push(`-A ${INBOUND} -p tcp --dport ${PORTS.STARTUP} -j RETURN`);
  // TCP probes rewritten to the healthcheck container's port.
  r.push(`-A ${INBOUND} -p tcp --dport ${PORTS.HEALTHCHECK} -j RETURN`);
  // Everything else inbound goes through the sidecar.
  r.push(`-A ${INBOUND} -p tcp -j ${IN_REDIRECT}`);
  // Excluded interfaces (e.g. a Multus secondary network) bypass the proxy. `-I` (insert at the head) so they win
  // over the catch-all redirect above; later inserts land on top, as in the mesh's script.
  for (const iface of s.networkInterfaceExclusions) r.push(`-I ${INBOUND} -i ${iface} -j RETURN`);
  // Excluded inbound ports, at most 15 per rule: one rule with 16+ ports makes iptables-restore fail and the pod
  // crash-loop in Init. `-I` as in the mesh's script, so these are evaluated first.
  for (const c of chunks(s.inboundPortExclusions)) r.push(`-I ${INBOUND} -p tcp --match multiport --dports ${c.join(',')} -j RETURN`);

  // --- outbound ---
  // Whatever reaches OUT_REDIRECT goes to the sidecar's outbound listener. (The mesh's following
  // `--dport 15000 -j ACCEPT` could never match after this terminating REDIRECT and is not emitted.)
  r.push(`-A ${OUT_REDIRECT} -p tcp -j REDIRECT --to-port ${PORTS.OUTBOUND}`);
  // All locally generated TCP enters our chain; without this hook nothing outbound is intercepted.
  r.push(`-A OUTPUT -p tcp -j ${OUTBOUND}`);
  // The sidecar calling its own pod through a Service (app -> sidecar out -> lo -> sidecar in -> app): send it to the
  // inbound listener, otherwise such self-calls skip inbound policy and mTLS termination.
  r.push(`-A ${OUTBOUND} -o lo ! -d ${loopback} -m owner --uid-owner ${PROXY_UID} -j ${IN_REDIRECT}`);
  // The app talking to itself over lo (e.g. via its pod IP) is left alone; redirecting it would loop it through
  // the outbound listener with no upstream to pick.
  r.push(`-A ${OUTBOUND} -o lo -m owner ! --uid-owner ${PROXY_UID} -j RETURN`);
  // The sidecar's own upstream connections must not be redirected back to itself (infinite loop).
  r.push(`-A ${OUTBOUND} -m owner --uid-owner ${PROXY_UID} -j RETURN`);
  // Loopback traffic needs no proxy (sidecar -> app on localhost, app -> sidecar admin port).
  r.push(`-A ${OUTBOUND} -d ${loopback} -j RETURN`);
  if (family === 4 && s.localDnsProxy) {
    // osm-edge local DNS proxy: the pod's resolver is 127.0.0.153:53 (dnsConfig); send it to the sidecar's DNS
    // listener, otherwise every lookup times out. IPv4 only: the nameserver address is IPv4.
    r.push('-A OUTPUT -p udp -d 127.0.0.153 --dport 53 -j DNAT --to-destination 127.0.0.153:5300');
  }
  if (family === 4 && s.localProxyMode === 'PodIP') {
    // PodIP mode: sidecar -> 127.0.0.1 is DNATed to the pod IP so apps that listen only on the pod IP are reachable.
    // `-I` so it precedes the OUTPUT -> OUTBOUND jump. `$POD_IP` (env from status.podIP) is the one shell expansion
    // in the script. Not emitted for IPv6: status.podIP is single-family and the sidecar reaches the app over
    // 127.0.0.1, so an ip6 DNAT to it would make ip6tables-restore fail on IPv4-primary dual-stack pods.
    r.push(`-I OUTPUT -p tcp -o lo -d 127.0.0.1/32 -m owner --uid-owner ${PROXY_UID} -j DNAT --to-destination $POD_IP`);
  }
  // Excluded interfaces bypass the proxy outbound too.
  for (const iface of s.networkInterfaceExclusions) r.push(`-A ${OUTBOUND} -o ${iface} -j RETURN`);
  // Excluded destinations (before any inclusion: order matters). Only this family's CIDRs: an IPv6 CIDR in the
  // IPv4 table made the mesh's whole iptables-restore fail.
  for (const cidr of ofFamily(s.outboundIPRangeExclusions)) r.push(`-A ${OUTBOUND} -d ${cidr} -j RETURN`);
  // Excluded destination ports, split at 15 per rule (iptables refuses a multiport rule of more).
  for (const c of chunks(s.outboundPortExclusions)) r.push(`-A ${OUTBOUND} -p tcp --match multiport --dports ${c.join(',')} -j RETURN`);
  if (s.outboundIPRangeInclusions.length > 0) {
    // Inclusion list set (in either family): ONLY the listed ranges go through the proxy. A family with no listed
    // range therefore gets no redirect at all: "only these ranges" holds for both families.
    for (const cidr of ofFamily(s.outboundIPRangeInclusions)) r.push(`-A ${OUTBOUND} -d ${cidr} -j ${OUT_REDIRECT}`);
    r.push(`-A ${OUTBOUND} -j RETURN`);
  } else {
    // Everything else outbound goes through the sidecar.
    r.push(`-A ${OUTBOUND} -j ${OUT_REDIRECT}`);
  }
  r.push('COMMIT');
  return r.join('\n');
}

/** The IPv4 part: `iptables-restore --noflush <<EOF\n<rules>\nEOF\n`, the mesh's exact shape. */
export function iptablesRestore(s: InterceptionSettings): string {
  return `iptables-restore --noflush <<EOF\n${natRules(s, 4)}\nEOF\n`;
}

/**
 * The IPv6 part: ip6tables-restore over the same rule set, whose failure stops the init container only when the
 * pod has a global-scope IPv6 address (see the file comment). POSIX sh only (busybox ash, dash): no `$(...)`.
 */
export function ip6tablesRestore(s: InterceptionSettings): string {
  const P = s.chainPrefix;
  return [
    'if ! ip6tables-restore --noflush <<EOF',
    natRules(s, 6),
    'EOF',
    'then',
    '  has_ipv6=no',
    '  if [ -r /proc/net/if_inet6 ]; then',
    '    while read -r addr idx plen scope flags name; do',
    '      if [ "$scope" = 00 ]; then has_ipv6=yes; fi',
    '    done < /proc/net/if_inet6',
    '  fi',
    '  if [ "$has_ipv6" = yes ]; then',
    `    echo "${P} init: ip6tables-restore failed and the pod has a global IPv6 address; refusing to leave IPv6 traffic unintercepted" >&2`,
    '    exit 1',
    '  fi',
    `  echo "${P} init: ip6tables-restore failed; the pod has no global IPv6 address, IPv6 interception skipped" >&2`,
    'fi',
    '',
  ].join('\n');
}

/**
 * The init container's script (`command: ["/bin/sh"], args: ["-c", initScript(s)]`). `set -e` makes a failing
 * IPv4 iptables-restore fail the container, as in the mesh's script where it was the last command.
 */
export function initScript(s: InterceptionSettings): string {
  return `set -e\n${iptablesRestore(s)}${ip6tablesRestore(s)}`;
}
