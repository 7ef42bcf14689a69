// The kind table: every kind the validating webhook understands, the groups it has been published under, and its
// validator. The webhook configuration rules are generated from this same table, so they cannot drift apart.
import type { KubeObject } from '../mesh/objects.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';
import { validatePlugin, validatePluginChain, validatePluginConfig } from './plugin.js';
import { validateMeshConfig } from './meshconfig.js';
import { validateEgress } from './egress.js';
import { validateService } from './service.js';
import { validateAccessControl, validateIngressBackend } from './ingress.js';
import { validateUpstreamTrafficSetting } from './upstream.js';
import { validateEgressGateway } from './egressgateway.js';
import { validateRetry } from './retry.js';
import { validateCluster, validateGlobalTrafficPolicy, validateServiceExport, validateServiceImport } from './multicluster.js';
import { validateHTTPRouteGroup, validateTCPRoute, validateTrafficSplit, validateTrafficTarget } from './smi.js';

export type KindValidator = (obj: KubeObject, ctx: ValidationContext, out: Findings) => void;

export interface KindEntry {
  readonly kind: string;
  readonly plural: string;
  readonly groups: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  readonly validate: KindValidator;
  /** never denied: findings are returned as warnings (Services) */
  readonly warningsOnly?: boolean;
}

const PLUGIN = ['plugin.flomesh.io'] as const;
const POLICY = ['policy.flomesh.io', 'policy.openservicemesh.io'] as const;
const MULTICLUSTER = ['multicluster.flomesh.io', 'flomesh.io'] as const;
const CONFIG = ['config.flomesh.io', 'config.openservicemesh.io'] as const;

export const KINDS: readonly KindEntry[] = [
  { kind: 'Plugin', plural: 'plugins', groups: PLUGIN, scope: 'Cluster', validate: validatePlugin },
  { kind: 'PluginChain', plural: 'pluginchains', groups: PLUGIN, scope: 'Namespaced', validate: validatePluginChain },
  { kind: 'PluginConfig', plural: 'pluginconfigs', groups: PLUGIN, scope: 'Namespaced', validate: validatePluginConfig },
  { kind: 'Egress', plural: 'egresses', groups: POLICY, scope: 'Namespaced', validate: validateEgress },
  { kind: 'IngressBackend', plural: 'ingressbackends', groups: POLICY, scope: 'Namespaced', validate: validateIngressBackend },
  { kind: 'AccessControl', plural: 'accesscontrols', groups: POLICY, scope: 'Namespaced', validate: validateAccessControl },
  { kind: 'UpstreamTrafficSetting', plural: 'upstreamtrafficsettings', groups: POLICY, scope: 'Namespaced', validate: validateUpstreamTrafficSetting },
  { kind: 'EgressGateway', plural: 'egressgateways', groups: POLICY, scope: 'Namespaced', validate: validateEgressGateway },
  { kind: 'Retry', plural: 'retries', groups: POLICY, scope: 'Namespaced', validate: validateRetry },
  { kind: 'GlobalTrafficPolicy', plural: 'globaltrafficpolicies', groups: MULTICLUSTER, scope: 'Namespaced', validate: validateGlobalTrafficPolicy },
  { kind: 'ServiceExport', plural: 'serviceexports', groups: MULTICLUSTER, scope: 'Namespaced', validate: validateServiceExport },
  { kind: 'ServiceImport', plural: 'serviceimports', groups: MULTICLUSTER, scope: 'Namespaced', validate: validateServiceImport },
  { kind: 'Cluster', plural: 'clusters', groups: MULTICLUSTER, scope: 'Cluster', validate: validateCluster },
  { kind: 'TrafficTarget', plural: 'traffictargets', groups: ['access.smi-spec.io'], scope: 'Namespaced', validate: validateTrafficTarget },
  { kind: 'HTTPRouteGroup', plural: 'httproutegroups', groups: ['specs.smi-spec.io'], scope: 'Namespaced', validate: validateHTTPRouteGroup },
  { kind: 'TCPRoute', plural: 'tcproutes', groups: ['specs.smi-spec.io'], scope: 'Namespaced', validate: validateTCPRoute },
  { kind: 'TrafficSplit', plural: 'trafficsplits', groups: ['split.smi-spec.io'], scope: 'Namespaced', validate: validateTrafficSplit },
  { kind: 'MeshConfig', plural: 'meshconfigs', groups: CONFIG, scope: 'Namespaced', validate: validateMeshConfig },
  { kind: 'Service', plural: 'services', groups: [''], scope: 'Namespaced', validate: validateService, warningsOnly: true },
];

const BY_GROUP_KIND = new Map<string, KindEntry>(KINDS.flatMap((k) => k.groups.map((g) => [`${g}/${k.kind}`, k] as const)));

export function findKind(group: string, kind: string): KindEntry | undefined {
  return BY_GROUP_KIND.get(`${group}/${kind}`);
}
