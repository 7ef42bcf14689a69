// The validating webhook: an AdmissionRequest for a policy kind, checked by the validator against the cluster view.
import type { AdmissionHandler, AdmissionOutcome } from '../admission/handler.js';
import { allow, deny, denyInvalid } from '../admission/response.js';
import type { AdmissionRequest } from '../admission/review.js';
import type { ClusterView } from '../cluster/view.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import type { KubeObject } from '../mesh/objects.js';
import { ValidationContext } from '../validator/context.js';
import { findKind } from '../validator/kinds.js';
import { validateObject } from '../validator/validate.js';

export interface ValidateHandlerOptions {
  mesh: MeshIdentity;
  view: ClusterView;
  /** answer allowed-with-warning instead of a denial when validation cannot finish in time */
  failOpen?: boolean;
}

/** The object as the validator sees it: namespace filled from the request (the API server may leave it out). */
export function requestObject(req: AdmissionRequest): KubeObject | null {
  const obj = req.object;
  if (!obj) return null;
  const metadata = { ...(obj.metadata ?? {}) };
  if (!metadata.namespace && req.namespace) metadata.namespace = req.namespace;
  if (!metadata.name && req.name) metadata.name = req.name;
  return { ...obj, metadata };
}

export function validateHandler(opts: ValidateHandlerOptions): AdmissionHandler {
  return {
    webhook: 'validate',
    handle(req: AdmissionRequest): AdmissionOutcome {
      // Only writes that bring a new version are validated; DELETE and CONNECT carry nothing to check.
      if (req.operation !== 'CREATE' && req.operation !== 'UPDATE')
        return { response: allow(req.uid), decision: 'allowed', reason: `operation ${req.operation || '(none)'} is not validated` };
      const obj = requestObject(req);
      if (!obj)
        return {
          response: deny(req.uid, { code: 400, reason: 'BadRequest', message: `request.object is missing for ${req.operation}` }),
          decision: 'denied',
          reason: 'no object',
        };
      const entry = findKind(req.kind.group, req.kind.kind);
      const name = obj.metadata?.name ?? obj.metadata?.generateName ?? '';
      const namespace = entry?.scope === 'Cluster' ? '' : (obj.metadata?.namespace ?? '');
      if (entry?.scope === 'Cluster' && obj.metadata) obj.metadata.namespace = undefined;
      const ctx = new ValidationContext(opts.mesh, opts.view, { kind: req.kind.kind, namespace, name }, req.operation);
      const verdict = validateObject(obj, req.kind, ctx);
      if (verdict.allowed)
        return {
          response: allow(req.uid, verdict.warnings),
          decision: 'allowed',
          reason: verdict.known ? (verdict.warnings.length ? `${verdict.warnings.length} warning(s)` : 'valid') : 'unknown kind',
        };
      return {
        response: denyInvalid(req.uid, { kind: req.kind.kind, group: req.kind.group, name }, verdict.errors, verdict.warnings),
        decision: 'denied',
        reason: verdict.errors.map((e) => e.rule).join(','),
        rules: verdict.errors.map((e) => e.rule),
      };
    },
    timedOut(req: AdmissionRequest, seconds: number): AdmissionOutcome {
      const message = `validation of ${req.kind.kind} did not finish within ${seconds}s`;
      if (opts.failOpen) return { response: allow(req.uid, [`${message}; admitted unchecked (fail-open)`]), decision: 'allowed', reason: 'timeout, fail-open' };
      return { response: deny(req.uid, { code: 504, reason: 'Timeout', message: `${message}; try again` }), decision: 'denied', reason: 'timeout' };
    },
  };
}
