// A named Secret reached through the API server, for the certificate code that keeps material in one
// (certs/secret-slot.ts): the self-managed serving certificate, shared by the replicas.
import type { SecretSlot, StoredSecretContent } from '../certs/secret-slot.js';
import type { SecretObject } from '../mesh/objects.js';
import { isApiStatus, type KubeHttp } from '../kube/http.js';
import { secretPath } from '../kube/paths.js';

export function apiSecretSlot(http: KubeHttp, namespace: string, name: string, opts: { timeoutMs?: number; fieldManager?: string } = {}): SecretSlot {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    ref: `${namespace}/${name}`,
    async read(): Promise<StoredSecretContent | undefined> {
      let s: SecretObject;
      try {
        s = await http.json<SecretObject>({ path: secretPath(namespace, name), timeoutMs });
      } catch (err) {
        if (isApiStatus(err, 404)) return undefined;
        throw err;
      }
      const m = s.metadata ?? {};
      return {
        data: s.data ?? {},
        ...(s.type ? { type: s.type } : {}),
        ...(m.labels ? { labels: m.labels } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
        ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
      };
    },
    async write(content, resourceVersion): Promise<boolean> {
      const body: SecretObject = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace,
          ...(resourceVersion ? { resourceVersion } : {}),
          ...(content.labels ? { labels: { ...content.labels } } : {}),
          ...(content.annotations ? { annotations: { ...content.annotations } } : {}),
        },
        ...(content.type ? { type: content.type } : {}),
        data: { ...content.data },
      };
      try {
        await http.json({
          method: resourceVersion ? 'PUT' : 'POST',
          path: resourceVersion ? secretPath(namespace, name) : secretPath(namespace),
          query: { fieldManager: opts.fieldManager ?? 'mesh-admission' },
          body,
          timeoutMs,
        });
        return true;
      } catch (err) {
        // 409: created or changed by another writer since the read; 404 on a replace: deleted since
        if (isApiStatus(err, 409) || (resourceVersion && isApiStatus(err, 404))) return false;
        throw err;
      }
    },
  };
}
