// The audit's view of the webhook configurations: every other webhook that conflicts with this server's (another
// injector of the mesh's pods, another validator of its kinds, a leftover pointing at its Service), one finding per
// webhook entry, naming the configuration and what to do (mesh/webhook-conflicts.ts decides).
import type { MeshIdentity } from '../mesh/flavor.js';
import type { Finding } from './finding.js';
import type { KubeObject } from '../mesh/objects.js';
import { webhookConflicts, type OwnWebhooks, type WebhookConfigurations } from '../mesh/webhook-conflicts.js';

export const WEBHOOK_CONFLICT_RULE = 'webhook-conflict';

export function webhookFindings(mesh: MeshIdentity, own: OwnWebhooks, configurations: WebhookConfigurations, namespaces: readonly KubeObject[]): Finding[] {
  return webhookConflicts(mesh, own, configurations, namespaces).map((c) => ({
    severity: c.severity,
    kind: c.configurationKind,
    group: 'admissionregistration.k8s.io',
    namespace: '',
    name: c.configuration,
    rule: WEBHOOK_CONFLICT_RULE,
    field: `webhooks[${c.index}]`,
    message: `${c.webhook}: ${c.message}`,
  }));
}
