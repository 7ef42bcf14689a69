// CIDR parsing shared by the validator (Egress, MeshConfig, IngressBackend) and the injector (interception lists):
// one definition of what a valid range is, so a value the webhook admits is one the init script can use.
import { isIP } from 'node:net';

export interface Cidr {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefix: number;
}

/** Strict CIDR: a valid IPv4 or IPv6 address and a prefix length within the family's range. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0 || s.indexOf('/', slash + 1) >= 0) return undefined;
  const address = s.slice(0, slash);
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const family = isIP(address);
  if (family === 4 && prefix <= 32) return { family, address, prefix };
  if (family === 6 && prefix <= 128 && !address.includes('%')) return { family, address, prefix };
  return undefined;
}
