// What the audit reports about one object: shared by the audit of policies and pods (audit.ts) and of the webhook
// configurations (webhooks.ts).
export type Severity = 'error' | 'warning';

export interface Finding {
  /** error: admission would refuse it now, or it cannot work; warning: it works, but not as written */
  readonly severity: Severity;
  readonly kind: string;
  /** API group ('' for the core group) */
  readonly group: string;
  /** '' for cluster-scoped objects */
  readonly namespace: string;
  readonly name: string;
  /** the rule id (the validator's, or `pod-...` for the injection checks) */
  readonly rule: string;
  /** Kubernetes field path ('' for the whole object) */
  readonly field: string;
  readonly message: string;
}
