// One handler per webhook (the controller-runtime shape): a request in, an outcome out. The HTTP adapter owns parsing,
// deadlines, logging and metrics, so handlers stay small and testable without a server.
import type { AdmissionRequest, AdmissionResponse } from './review.js';

export interface AdmissionOutcome {
  readonly response: AdmissionResponse;
  /** one word for logs: allowed, patched, skipped, denied */
  readonly decision: string;
  /** why, for logs and the injection metric's reason label */
  readonly reason: string;
  /** rule ids of the denial causes (validation metrics) */
  readonly rules?: readonly string[];
}

export interface HandlerContext {
  /** epoch milliseconds by which the answer must be sent */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

export interface AdmissionHandler {
  readonly webhook: 'validate' | 'mutate';
  handle(req: AdmissionRequest, ctx: HandlerContext): AdmissionOutcome | Promise<AdmissionOutcome>;
  /** The answer when the work did not finish before the deadline. */
  timedOut(req: AdmissionRequest, seconds: number): AdmissionOutcome;
}
