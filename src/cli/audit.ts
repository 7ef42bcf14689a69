// `mesh-admission audit`: what slipped past admission in a live cluster, from a read-only seat. Lists (GET requests
// only: no watch, no write of any kind) the objects of the kind table, the Namespaces and Services, the pods of the
// mesh's namespaces and the names of the bootstrap Secrets (metadata only), then runs the audit engine.
// Exit 0: clean; 1: findings; 2: could not run (kubeconfig, connection, permission).
import { audit, meshNamespaces } from '../audit/audit.js';
import { auditJson, formatAuditText } from '../audit/report.js';
import type { InjectorOptions } from '../injector/settings.js';
import { InputError } from '../mesh/errors.js';
import type { MeshIdentity } from '../mesh/flavor.js';
import { isMonitoredNamespace } from '../mesh/names.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { KubeApiError, KubeHttp } from '../kube/http.js';
import { listBootstrapSecretNames, listPods, readSnapshot, serverMinor } from '../controllers/snapshot.js';
import { listWebhookConfigurations } from '../controllers/webhook-conflicts.js';
import { installName } from '../mesh/names.js';
import type { WebhookConfigurations } from '../mesh/webhook-conflicts.js';

/** The install's Service (the manifests'), to recognise a leftover configuration that points at it. */
const INSTALL_SERVICE = 'mesh-admission';

/** The webhook configurations, or undefined when this user may not list them (the check is then skipped and said so). */
async function webhookConfigurationsOrNot(http: KubeHttp): Promise<WebhookConfigurations | undefined> {
  try {
    return await listWebhookConfigurations(http);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) return undefined;
    throw err;
  }
}

export interface AuditCommandOptions {
  /** the kubeconfig file, or $KUBECONFIG's files */
  readonly kubeconfig: string | readonly string[];
  readonly context?: string;
  readonly namespace?: string;
  readonly output: 'text' | 'json';
  readonly mesh: MeshIdentity;
  readonly injector: Omit<InjectorOptions, 'mesh' | 'kubernetesMinor'>;
}

export interface CommandIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** What a refused or failed read means for the person running the audit. */
function explainFailure(err: KubeApiError): string {
  if (err.status === 403) return `${err.message}\nThe audit needs get and list on the mesh's kinds, Namespaces, Services and Pods (see "Audit" in README.md for a read-only ClusterRole).`;
  if (err.status === 401) return `${err.message}\nThe kubeconfig's credentials were refused.`;
  return err.message;
}

export async function auditCommand(o: AuditCommandOptions, io: CommandIo): Promise<number> {
  const kc = loadKubeConfig({ kubeconfig: o.kubeconfig, ...(o.context ? { context: o.context } : {}), inCluster: false });
  if (!kc) throw new InputError('--kubeconfig is required');
  const http = new KubeHttp(kc);
  try {
    const [{ view, notServed }, minor] = await Promise.all([readSnapshot(http), serverMinor(http)]);
    if (o.namespace !== undefined && !view.get('Namespace', '', o.namespace)) throw new InputError(`namespace ${o.namespace} not found`);
    const namespaces = o.namespace !== undefined ? (isMonitoredNamespace(o.mesh, view.get('Namespace', '', o.namespace)?.metadata?.labels) ? [o.namespace] : []) : meshNamespaces(view, o.mesh);
    const [pods, secrets, webhooks] = await Promise.all([listPods(http, namespaces), listBootstrapSecretNames(http, o.mesh, namespaces), o.namespace === undefined ? webhookConfigurationsOrNot(http) : undefined]);
    const own = { mutating: installName(o.mesh), validating: installName(o.mesh), service: { name: INSTALL_SERVICE, namespace: o.mesh.meshNamespace } };
    const report = audit(
      {
        view,
        pods,
        now: Date.now(),
        ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
        ...(secrets ? { bootstrapSecrets: secrets } : { bootstrapSecretsNotListed: 'this user may not list Secrets' }),
        ...(webhooks ? { webhooks: { configurations: webhooks, own } } : { webhooksNotListed: 'this user may not list them' }),
      },
      { mesh: o.mesh, injector: { ...o.injector, mesh: o.mesh, kubernetesMinor: minor } },
    );
    if (o.output === 'json') io.stdout.write(`${JSON.stringify({ ...auditJson(report), notServed }, null, 2)}\n`);
    else io.stdout.write(formatAuditText(report));
    return report.findings.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof KubeApiError) {
      io.stderr.write(`mesh-admission audit: ${explainFailure(err)}\n`);
      return 2;
    }
    throw err;
  } finally {
    http.close();
  }
}
