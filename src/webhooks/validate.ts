// The validating webhook: an AdmissionRequest for a policy kind, judged by the validator's entry point against the
// cluster view, answered in the Kubernetes shapes kubectl prints.
//
// Freshness (live mode): the verdict is computed on the cache while recording which kinds the rules read. If one of
// them does not follow the API server right now (a watch broke, a relist after an API server restart is under way),
// those kinds are read from the API server directly and the verdict is computed again, within the request's
// deadline: admitting a reference "unverified" because the cache lagged is what the reference checks exist to prevent.
import type { AdmissionHandler, AdmissionOutcome, HandlerContext } from '../admission/handler.js';
import { allow, deny, denyInvalid } from '../admission/response.js';
import type { AdmissionRequest } from '../admission/review.js';
import type { ClusterView, IndexDef } from '../cluster/view.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { findKind } from '../mesh/kinds.js';
import type { KubeObject } from '../mesh/objects.js';
import { validate, type ValidationRequest, type Verdict } from '../validator/validate.js';

/** A view that can tell whether a kind's cache follows the API server, and bring it up to date. */
export interface Freshness {
  kindCurrent(kind: string): boolean;
  /** reads the API server for these kinds, until `deadline` (epoch ms); resolves with the kinds still behind */
  freshen(kinds: readonly string[], deadline: number): Promise<string[]>;
}

export interface ValidateHandlerOptions {
  mesh: MeshIdentity;
  view: ClusterView;
  /** live mode */
  freshness?: Freshness;
  /** answer allowed-with-warning instead of a denial when validation cannot finish in time */
  failOpen?: boolean;
}

/** Operations whose request must carry the object (an AdmissionReview without it is malformed). */
const NEEDS_OBJECT = new Set(['CREATE', 'UPDATE']);

/** The view, recording the kinds read through it. */
function recording(view: ClusterView, kinds: Set<string>): ClusterView {
  return {
    ready: () => view.ready(),
    list: (kind: string, namespace?: string): readonly KubeObject[] => (kinds.add(kind), view.list(kind, namespace)),
    get: (kind: string, namespace: string, name: string): KubeObject | undefined => (kinds.add(kind), view.get(kind, namespace, name)),
    byIndex: (index: IndexDef, key: string): readonly KubeObject[] => (kinds.add(index.kind), view.byIndex(index, key)),
  };
}

export function validateHandler(opts: ValidateHandlerOptions): AdmissionHandler {
  const answer = (req: AdmissionRequest, verdict: Verdict): AdmissionOutcome => {
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
  };

  const behind = (req: AdmissionRequest, kinds: readonly string[]): AdmissionOutcome => {
    const message = `could not read the current ${kinds.join(', ')} from the API server in time (the webhook's copy is being re-synced), so references of this ${req.kind.kind} cannot be verified`;
    // Services and deletions are never denied (their webhook entries fail open anyway).
    if (opts.failOpen || req.operation === 'DELETE' || findKind(req.kind.group, req.kind.kind)?.warningsOnly)
      return { response: allow(req.uid, [`${message}; admitted unchecked`]), decision: 'allowed', reason: `view behind: ${kinds.join(',')}` };
    return { response: deny(req.uid, { code: 503, reason: 'ServiceUnavailable', message: `${message}; retry` }), decision: 'denied', reason: `view behind: ${kinds.join(',')}` };
  };

  return {
    webhook: 'validate',
    handle(req: AdmissionRequest, ctx: HandlerContext): AdmissionOutcome | Promise<AdmissionOutcome> {
      if (NEEDS_OBJECT.has(req.operation) && !req.object)
        return {
          response: deny(req.uid, { code: 400, reason: 'BadRequest', message: `request.object is missing for ${req.operation}` }),
          decision: 'denied',
          reason: 'no object',
        };
      const object = req.object ?? req.oldObject;
      if (!object) return { response: allow(req.uid), decision: 'allowed', reason: `operation ${req.operation || '(none)'} is not validated` };
      const request: ValidationRequest = { operation: req.operation, kind: req.kind, object, oldObject: req.oldObject, ...(req.namespace ? { namespace: req.namespace } : {}), ...(req.name ? { name: req.name } : {}) };
      const freshness = opts.freshness;
      if (!freshness) return answer(req, validate(request, opts.view, opts.mesh));
      const read = new Set<string>();
      const verdict = validate(request, recording(opts.view, read), opts.mesh);
      const stale = [...read].filter((k) => !freshness.kindCurrent(k));
      if (stale.length === 0) return answer(req, verdict);
      // a little before the request's own deadline, so that the answer says which kinds were behind
      return freshness.freshen(stale, ctx.deadline - 100).then((still) => (still.length > 0 ? behind(req, still) : answer(req, validate(request, opts.view, opts.mesh))));
    },
    timedOut(req: AdmissionRequest, seconds: number): AdmissionOutcome {
      const message = `validation of ${req.kind.kind} did not finish within ${seconds}s`;
      if (req.operation === 'DELETE') return { response: allow(req.uid, [`${message}; references not checked`]), decision: 'allowed', reason: 'timeout, deletion' };
      if (opts.failOpen) return { response: allow(req.uid, [`${message}; admitted unchecked (fail-open)`]), decision: 'allowed', reason: 'timeout, fail-open' };
      return { response: deny(req.uid, { code: 504, reason: 'Timeout', message: `${message}; try again` }), decision: 'denied', reason: 'timeout' };
    },
  };
}
