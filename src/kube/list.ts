// The one paginated list, for the reflector's lists and the read-once reads (the audit's pods, the offline commands'
// reads of a live cluster). As client-go's pager: `limit` items a page, following the continue token; a token that
// expired meanwhile (410: the list took longer than the API server keeps its snapshot) starts the list over in one
// unpaginated request, which cannot expire.
//
// Where it is read from is the caller's choice (`resourceVersion`): "0" is the API server's watch cache (no etcd
// read, the usual case; the cache ignores `limit` and answers in one page), none is a consistent read from etcd (after
// a 410 the cache may be behind what the caller has already seen).
import type { KubeObject } from '../mesh/objects.js';
import { statusOf, type KubeHttp } from './http.js';

interface ListBody {
  items?: KubeObject[];
  metadata?: { continue?: string; resourceVersion?: string };
}

export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** items per page (default 500) */
  readonly limit?: number;
  /** "0": from the watch cache; undefined: a consistent read */
  readonly resourceVersion?: string;
  /** per request (default 60 s) */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** e.g. metadata only */
  readonly accept?: string;
}

export interface Listed {
  readonly items: KubeObject[];
  /** the list's resourceVersion: where a watch continues from */
  readonly resourceVersion: string | undefined;
}

/** Every item of a collection path, page by page (see the header); each item passed through `each` as it comes. */
export async function listPages(http: KubeHttp, path: string, opts: ListOptions = {}, each: (item: KubeObject) => KubeObject = (i) => i): Promise<Listed> {
  let items: KubeObject[] = [];
  let cont: string | undefined;
  let limit: number | undefined = opts.limit ?? 500;
  let resourceVersion: string | undefined;
  for (;;) {
    let body: ListBody;
    try {
      body = await http.json<ListBody>({
        path,
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit,
          continue: cont,
          // a continuation carries its own snapshot: a resourceVersion beside it is refused
          resourceVersion: cont ? undefined : opts.resourceVersion,
        },
        timeoutMs: opts.timeoutMs ?? 60_000,
        ...(opts.accept ? { accept: opts.accept } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (!cont || statusOf(err) !== 410) throw err;
      // the snapshot behind the token is gone: everything again, in one request
      items = [];
      cont = undefined;
      limit = undefined;
      continue;
    }
    for (const item of body?.items ?? []) items.push(each(item));
    resourceVersion = body?.metadata?.resourceVersion;
    cont = body?.metadata?.continue || undefined;
    if (!cont) return { items, resourceVersion };
  }
}

/** Every object of a collection path, read consistently; apiVersion and kind set on each (list items carry neither). */
export async function listAll(http: KubeHttp, path: string, opts: ListOptions & { apiVersion: string; kind: string }): Promise<KubeObject[]> {
  const { items } = await listPages(http, path, opts, (item) => ({ ...item, apiVersion: opts.apiVersion, kind: opts.kind }));
  return items;
}
