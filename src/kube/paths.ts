// REST paths of the objects this server reads and writes.

/** `/api/v1/namespaces/<ns>/secrets[/<name>]` */
export function secretPath(namespace: string, name?: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

export type WebhookConfigurationKind = 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';

const WEBHOOK_RESOURCE: Record<WebhookConfigurationKind, string> = {
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  ValidatingWebhookConfiguration: 'validatingwebhookconfigurations',
};

/** `/apis/admissionregistration.k8s.io/v1/<mutating|validating>webhookconfigurations[/<name>]` */
export function webhookConfigurationPath(kind: WebhookConfigurationKind, name?: string): string {
  return `/apis/admissionregistration.k8s.io/v1/${WEBHOOK_RESOURCE[kind]}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

/** `/api/v1/namespaces/<ns>/pods`, or every namespace's */
export function podsPath(namespace?: string): string {
  return namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : '/api/v1/pods';
}

/** `/api/v1/namespaces/<ns>/secrets`, or every namespace's */
export function secretsPath(namespace?: string): string {
  return namespace ? secretPath(namespace) : '/api/v1/secrets';
}

/** `/api/v1/namespaces/<ns>/events` */
export function eventsPath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
}

/** `/api/v1/resourcequotas`: every namespace's */
export const RESOURCE_QUOTAS_PATH = '/api/v1/resourcequotas';

/** `/api/v1/namespaces[/<name>]` */
export function namespacePath(name?: string): string {
  return name === undefined ? '/api/v1/namespaces' : `/api/v1/namespaces/${encodeURIComponent(name)}`;
}

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';

/** `/apis/coordination.k8s.io/v1/namespaces/<ns>/leases[/<name>]` */
export function leasePath(namespace: string, name?: string): string {
  return `/apis/${LEASE_API_VERSION}/namespaces/${encodeURIComponent(namespace)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

/** `/apis/authentication.k8s.io/v1/tokenreviews`: who a bearer token belongs to */
export const TOKEN_REVIEWS_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

/** `/apis/authorization.k8s.io/v1/subjectaccessreviews`: whether a user may do something */
export const SUBJECT_ACCESS_REVIEWS_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
