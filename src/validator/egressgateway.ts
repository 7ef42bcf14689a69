// EgressGateway: which gateway Services carry egress traffic. `spec.global` is the mesh-wide default list and the
// mesh reads it from one object only; osm-edge also has `rules[]` binding Egress policies to gateways.
import { isRecord, nameOf, namespaceOf, type KubeObject } from '../mesh/objects.js';
import { asArray, byRef, checkArray, checkDns1123Label, checkIntRange, checkRequiredString } from './checks.js';
import { EGRESSGATEWAY_GLOBAL } from './indexes.js';
import type { ValidationContext } from './context.js';
import type { Findings } from './findings.js';

const MAX_INT32 = 2147483647;

/** `{service, namespace, weight}`, the entries of both `global[]` and `rules[].egressGateways[]`. */
function checkGateways(out: Findings, field: string, v: unknown, required: boolean): void {
  // The gateways are where egress traffic is sent: a list of anything else sends it nowhere.
  if (!checkArray(out, field, v, 'egress-gateway-ref', required ? { required: true, minItems: 1 } : {})) return;
  v.forEach((g, i) => {
    const f = `${field}[${i}]`;
    if (!isRecord(g)) {
      out.invalid(f, g, 'must be an object with service, namespace and weight', 'egress-gateway-ref');
      return;
    }
    // The gateway is found by Service namespace and name; a missing or malformed one routes egress nowhere.
    if (checkRequiredString(out, `${f}.service`, g.service, 'egress-gateway-ref')) checkDns1123Label(out, `${f}.service`, g.service, 'egress-gateway-ref');
    if (checkRequiredString(out, `${f}.namespace`, g.namespace, 'egress-gateway-ref')) checkDns1123Label(out, `${f}.namespace`, g.namespace, 'egress-gateway-ref');
    // Weights are load-balancing shares: a negative or fractional share has no meaning (the CRD type is int).
    if (g.weight !== undefined && g.weight !== null) checkIntRange(out, `${f}.weight`, g.weight, 0, MAX_INT32, 'egress-gateway-ref');
  });
}

function checkRules(out: Findings, v: unknown): void {
  if (!checkArray(out, 'spec.rules', v, 'egress-gateway-rule')) return;
  v.forEach((r, i) => {
    const f = `spec.rules[${i}]`;
    if (!isRecord(r)) {
      out.invalid(f, r, 'must be an object with egressPolicies and egressGateways', 'egress-gateway-rule');
      return;
    }
    // A rule binds Egress policies to gateways: without either side it binds nothing (both required in the edge CRD).
    if (checkArray(out, `${f}.egressPolicies`, r.egressPolicies, 'egress-gateway-rule', { required: true, minItems: 1 }))
      r.egressPolicies.forEach((p, j) => {
        const pf = `${f}.egressPolicies[${j}]`;
        if (!isRecord(p)) {
          out.invalid(pf, p, 'must be an object with name and namespace', 'egress-gateway-rule');
          return;
        }
        checkRequiredString(out, `${pf}.name`, p.name, 'egress-gateway-rule');
        checkRequiredString(out, `${pf}.namespace`, p.namespace, 'egress-gateway-rule');
      });
    checkGateways(out, `${f}.egressGateways`, r.egressGateways, true);
  });
}

export function validateEgressGateway(obj: KubeObject, ctx: ValidationContext, out: Findings): void {
  const spec = obj.spec;
  if (spec === undefined || spec === null) return;
  if (!isRecord(spec)) {
    out.invalid('spec', spec, 'must be an object', 'egress-gateway-ref');
    return;
  }
  checkGateways(out, 'spec.global', spec.global, false);
  checkRules(out, spec.rules);
  if (asArray(spec.global).length === 0) return;
  // The mesh takes the global list from whichever EgressGateway it lists first: two global lists make the egress
  // path of every proxy depend on informer order. Cluster-wide, as the mesh reads it.
  for (const other of ctx.candidates(EGRESSGATEWAY_GLOBAL, ['global']).sort(byRef)) {
    if (!isRecord(other.spec) || asArray(other.spec.global).length === 0) continue;
    const ns = namespaceOf(other);
    const name = nameOf(other);
    out.conflict('spec.global', `Redefinition of global egress gateway policy and conflict with ${ns}.${name} (EgressGateway ${ns}/${name} already defines spec.global; only one object in the cluster may)`, 'egress-gateway-global');
  }
}
