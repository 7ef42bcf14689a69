// One-off paginated lists (the audit's pods, the offline commands' reads of a live cluster): read-only, no cache.
import type { KubeObject } from '../mesh/objects.js';
import type { KubeHttp } from './http.js';

interface ListBody {
  items?: KubeObject[];
  metadata?: { continue?: string };
}

/** Every object of a collection path, `limit` at a time; apiVersion and kind set on each (list items carry neither). */
export async function listAll(http: KubeHttp, path: string, opts: { apiVersion: string; kind: string; labelSelector?: string; limit?: number; timeoutMs?: number; signal?: AbortSignal; accept?: string }): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  let cont: string | undefined;
  do {
    const body = await http.json<ListBody>({
      path,
      query: { limit: opts.limit ?? 500, continue: cont, labelSelector: opts.labelSelector },
      timeoutMs: opts.timeoutMs ?? 60_000,
      ...(opts.accept ? { accept: opts.accept } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for (const item of body?.items ?? []) out.push({ ...item, apiVersion: opts.apiVersion, kind: opts.kind });
    cont = body?.metadata?.continue || undefined;
  } while (cont);
  return out;
}
