// The REST paths the server reads and writes, exactly as the API server routes them: a path that is off by a segment
// is a 404 the server would take for "absent" (a Secret it then tries to create, a namespace it thinks is gone).
import { describe, expect, it } from 'vitest';
import { eventsPath, leasePath, namespacePath, podsPath, RESOURCE_QUOTAS_PATH, secretPath, secretsPath, SUBJECT_ACCESS_REVIEWS_PATH, TOKEN_REVIEWS_PATH, webhookConfigurationPath } from '../../src/kube/paths.js';

describe('REST paths', () => {
  it('core objects, one namespace or all, names escaped', () => {
    expect(secretPath('app')).toBe('/api/v1/namespaces/app/secrets');
    expect(secretPath('app', 'a b')).toBe('/api/v1/namespaces/app/secrets/a%20b');
    expect(secretPath('app', '')).toBe('/api/v1/namespaces/app/secrets/');
    expect(secretsPath()).toBe('/api/v1/secrets');
    expect(secretsPath('app')).toBe('/api/v1/namespaces/app/secrets');
    expect(podsPath()).toBe('/api/v1/pods');
    expect(podsPath('a/b')).toBe('/api/v1/namespaces/a%2Fb/pods');
    expect(eventsPath('app')).toBe('/api/v1/namespaces/app/events');
    expect(namespacePath()).toBe('/api/v1/namespaces');
    expect(namespacePath('app')).toBe('/api/v1/namespaces/app');
    expect(RESOURCE_QUOTAS_PATH).toBe('/api/v1/resourcequotas');
  });

  it('the webhook configurations, the Lease and the reviews', () => {
    expect(webhookConfigurationPath('MutatingWebhookConfiguration')).toBe('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations');
    expect(webhookConfigurationPath('ValidatingWebhookConfiguration', 'mesh-admission-fsm')).toBe('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/mesh-admission-fsm');
    expect(leasePath('fsm-system')).toBe('/apis/coordination.k8s.io/v1/namespaces/fsm-system/leases');
    expect(leasePath('fsm-system', 'fsm-admission-leader')).toBe('/apis/coordination.k8s.io/v1/namespaces/fsm-system/leases/fsm-admission-leader');
    expect(TOKEN_REVIEWS_PATH).toBe('/apis/authentication.k8s.io/v1/tokenreviews');
    expect(SUBJECT_ACCESS_REVIEWS_PATH).toBe('/apis/authorization.k8s.io/v1/subjectaccessreviews');
  });
});
