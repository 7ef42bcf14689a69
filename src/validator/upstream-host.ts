// How the mesh reads an UpstreamTrafficSetting's `spec.host`: one of its names for a Service, or another host; shared
// by the UpstreamTrafficSetting rules and the index of settings by host.
/** The names the mesh compares `spec.host` with, for Service `<svc>` in namespace `<ns>`. */
export const MESH_HOST_FORMS = '<service>.<namespace>, <service>.<namespace>.svc or <service>.<namespace>.svc.cluster.local';

export interface ParsedHost {
  /** `<svc>.<ns>` when the host is one of the mesh's names for a Service, else undefined */
  readonly service?: { readonly name: string; readonly namespace: string };
  /** what two settings must not share: the Service they name, or the host itself */
  readonly key: string;
}

export function parseHost(host: string): ParsedHost | 'bad-svc-suffix' {
  const labels = host.split('.');
  const [name = '', namespace = '', third, ...rest] = labels;
  const suffix = [third, ...rest].filter((l) => l !== undefined).join('.');
  if (suffix === '' || suffix === 'svc' || suffix === 'svc.cluster.local') return { service: { name, namespace }, key: `service:${name}.${namespace}` };
  // MeshService.FQDN() hard-codes cluster.local: another cluster domain or extra labels never match a Service.
  if (third === 'svc') return 'bad-svc-suffix';
  return { key: `host:${host}` };
}
