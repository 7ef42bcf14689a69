// The mutating webhook's handler until the injector lands: every pod is admitted unchanged, and the reason is logged.
import type { AdmissionHandler } from '../admission/handler.js';
import { allow, deny } from '../admission/response.js';

export function passThroughMutateHandler(): AdmissionHandler {
  return {
    webhook: 'mutate',
    handle: (req) => ({ response: allow(req.uid), decision: 'allowed', reason: 'injector not enabled in this build: pod admitted unchanged' }),
    timedOut: (req, seconds) => ({
      response: deny(req.uid, { code: 504, reason: 'Timeout', message: `sidecar injection did not finish within ${seconds}s; the pod was not admitted half-injected, try again` }),
      decision: 'denied',
      reason: 'timeout',
    }),
  };
}
