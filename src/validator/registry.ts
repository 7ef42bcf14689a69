// The check of each kind of the kind table (mesh/kinds.ts). A kind in the table without a check here fails the
// registry's test, so the table and the validators cannot drift apart.
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

/** Kind → its check (whatever group the kind was published under). */
export const VALIDATORS: Readonly<Record<string, KindValidator>> = {
  Plugin: validatePlugin,
  PluginChain: validatePluginChain,
  PluginConfig: validatePluginConfig,
  Egress: validateEgress,
  IngressBackend: validateIngressBackend,
  AccessControl: validateAccessControl,
  UpstreamTrafficSetting: validateUpstreamTrafficSetting,
  EgressGateway: validateEgressGateway,
  Retry: validateRetry,
  GlobalTrafficPolicy: validateGlobalTrafficPolicy,
  ServiceExport: validateServiceExport,
  ServiceImport: validateServiceImport,
  Cluster: validateCluster,
  TrafficTarget: validateTrafficTarget,
  HTTPRouteGroup: validateHTTPRouteGroup,
  TCPRoute: validateTCPRoute,
  TrafficSplit: validateTrafficSplit,
  MeshConfig: validateMeshConfig,
  Service: validateService,
};
