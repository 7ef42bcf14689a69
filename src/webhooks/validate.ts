// The validating webhook: an AdmissionRequest for a policy kind, judged by the validator's entry point against the
// cluster view, answered in the Kubernetes shapes kubectl prints.
import type { AdmissionHandler, AdmissionOutcome } from '../admission/handler.js';
import { allow, deny, denyInvalid } from '../admission/response.js';
import type { AdmissionRequest } from '../admission/review.js';
import type { ClusterView } from '../cluster/view.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { validate } from '../validator/validate.js';

export interface ValidateHandlerOptions {
  mesh: MeshIdentity;
  view: ClusterView;
  /** answer allowed-with-warning instead of a denial when validation cannot finish in time */
  failOpen?: boolean;
}

/** Operations whose request must carry the object (an AdmissionReview without it is malformed). */
const NEEDS_OBJECT = new Set(['CREATE', 'UPDATE']);

export function validateHandler(opts: ValidateHandlerOptions): AdmissionHandler {
  return {
    webhook: 'validate',
    handle(req: AdmissionRequest): AdmissionOutcome {
      if (NEEDS_OBJECT.has(req.operation) && !req.object)
        return {
          response: deny(req.uid, { code: 400, reason: 'BadRequest', message: `request.object is missing for ${req.operation}` }),
          decision: 'denied',
          reason: 'no object',
        };
      const object = req.object ?? req.oldObject;
      if (!object) return { response: allow(req.uid), decision: 'allowed', reason: `operation ${req.operation || '(none)'} is not validated` };
      const verdict = validate(
        { operation: req.operation, kind: req.kind, object, oldObject: req.oldObject, ...(req.namespace ? { namespace: req.namespace } : {}), ...(req.name ? { name: req.name } : {}) },
        opts.view,
        opts.mesh,
      );
      if (verdict.allowed)
        return {
          response: allow(req.uid, verdict.warnings),
          decision: 'allowed',
          reason: verdict.skipped ?? (verdict.known ? (verdict.warnings.length ? `${verdict.warnings.length} warning(s)` : 'valid') : 'unknown kind'),
        };
      return {
        response: denyInvalid(req.uid, { kind: req.kind.kind, group: req.kind.group, name: verdict.target.label }, verdict.errors, verdict.warnings),
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
