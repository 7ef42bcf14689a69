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
