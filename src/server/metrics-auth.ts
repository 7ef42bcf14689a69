// Who may read /metrics and /audit: the caller's bearer token checked with a TokenReview, then its access with a
// SubjectAccessReview for the verb on the path (`get /metrics`), as controller-runtime's metrics filter does. /audit
// names objects in every namespace, read with the server's cluster-wide permissions; RBAC decides who sees that, not
// reachability. 401 without a valid token, 403 without the grant. Both answers are cached briefly in bounded caches,
// so a scraper's repeated requests cost no API call: a token for a minute (it is stored only as its SHA-256), an
// allowed decision for a minute, a refused token or access for ten seconds (a new grant takes effect quickly). Failures to ask are
// answered 500 and not remembered.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { AccessReview, Authentication, ReviewedUser } from '../controllers/access-review.js';

export interface AccessFilterOptions {
  readonly review: AccessReview;
  /** how long a TokenReview's answer is reused (default 60 s) */
  readonly authenticationTtlMs?: number;
  /** how long an allowed SubjectAccessReview is reused (default 60 s) */
  readonly allowedTtlMs?: number;
  /** how long a refusal is reused (default 10 s) */
  readonly deniedTtlMs?: number;
  /** entries per cache (default 1024): a flood of distinct tokens evicts, it does not grow memory */
  readonly maxEntries?: number;
  /** the clock (tests) */
  readonly now?: () => number;
}

export type AccessDecision =
  | { readonly allowed: true; readonly user: string }
  | { readonly allowed: false; readonly status: 401 | 403 | 405 | 500; readonly message: string; readonly headers?: Readonly<Record<string, string>> };

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(header: string | undefined): string | undefined {
  const m = header ? BEARER.exec(header) : null;
  return m ? m[1] : undefined;
}

const userKey = (u: ReviewedUser): string =>
  JSON.stringify([u.username, u.uid ?? '', [...u.groups].sort(), Object.entries(u.extra ?? {}).sort(([a], [b]) => a.localeCompare(b))]);

/** The path a SubjectAccessReview asks about: the request's, without its query. */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export class AccessFilter {
  private readonly tokens: LRUCache<string, Authentication>;
  private readonly decisions: LRUCache<string, { allowed: boolean; reason: string }>;
  private readonly allowedTtlMs: number;
  private readonly deniedTtlMs: number;

  constructor(private readonly opts: AccessFilterOptions) {
    const max = opts.maxEntries ?? 1024;
    const perf = opts.now ? { now: opts.now } : undefined;
    this.allowedTtlMs = opts.allowedTtlMs ?? 60_000;
    this.deniedTtlMs = opts.deniedTtlMs ?? 10_000;
    this.tokens = new LRUCache({ max, ttl: opts.authenticationTtlMs ?? 60_000, ...(perf ? { perf, ttlResolution: 0 } : {}) });
    this.decisions = new LRUCache({ max, ttl: this.allowedTtlMs, ...(perf ? { perf, ttlResolution: 0 } : {}) });
  }

  /** Decides one request: whether it may go on to the handler, or the answer it gets instead. */
  async check(req: IncomingMessage): Promise<AccessDecision> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return { allowed: false, status: 405, message: `method ${req.method} not allowed: use GET`, headers: { Allow: 'GET, HEAD' } };
    const token = bearerToken(req.headers.authorization);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="mesh-admission"' };
    if (!token) return { allowed: false, status: 401, message: 'Unauthorized: a bearer token is required (Authorization: Bearer <token>)', headers: challenge };
    const path = pathOf(req);
    try {
      const authn = await this.authenticate(token);
      if (!authn.authenticated) return { allowed: false, status: 401, message: `Unauthorized: ${authn.reason}`, headers: challenge };
      const authz = await this.authorize(authn.user, path);
      if (!authz.allowed) return { allowed: false, status: 403, message: `Forbidden: user "${authn.user.username}" cannot get path "${path}"${authz.reason ? `: ${authz.reason}` : ''}` };
      return { allowed: true, user: authn.user.username };
    } catch (err) {
      return { allowed: false, status: 500, message: `the caller's access could not be checked with the API server: ${(err as Error).message}` };
    }
  }

  private async authenticate(token: string): Promise<Authentication> {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.tokens.get(key);
    if (cached) return cached;
    const result = await this.opts.review.authenticate(token);
    this.tokens.set(key, result, result.authenticated ? {} : { ttl: this.deniedTtlMs });
    return result;
  }

  private async authorize(user: ReviewedUser, path: string): Promise<{ allowed: boolean; reason: string }> {
    const key = `${userKey(user)} get ${path}`;
    const cached = this.decisions.get(key);
    if (cached) return cached;
    const result = await this.opts.review.authorize(user, 'get', path);
    this.decisions.set(key, result, { ttl: result.allowed ? this.allowedTtlMs : this.deniedTtlMs });
    return result;
  }
}
