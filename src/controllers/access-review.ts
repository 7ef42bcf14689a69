// Asking the API server who a caller is and what it may do: a TokenReview for a bearer token, a SubjectAccessReview
// for a non-resource path, as controller-runtime's metrics filter and kube-rbac-proxy do. The server's own
// credentials make the calls (the install grants it `create` on both reviews); the caller's token goes only into the
// review's body. Caching is the caller's (server/metrics-auth.ts).
import type { V1SubjectAccessReview, V1TokenReview, V1UserInfo } from '@kubernetes/client-node';
import type { KubeHttp } from '../kube/http.js';
import { SUBJECT_ACCESS_REVIEWS_PATH, TOKEN_REVIEWS_PATH } from '../kube/paths.js';

/** A user as a TokenReview reports it, and as a SubjectAccessReview takes it. */
export interface ReviewedUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export type Authentication = { readonly authenticated: true; readonly user: ReviewedUser } | { readonly authenticated: false; readonly reason: string };
export type Authorization = { readonly allowed: boolean; readonly reason: string };

/** What the metrics filter needs from the API server; rejects when the API server cannot answer. */
export interface AccessReview {
  authenticate(token: string): Promise<Authentication>;
  /** may `user` do `verb` on the non-resource URL `path` */
  authorize(user: ReviewedUser, verb: string, path: string): Promise<Authorization>;
}

const REVIEW_TIMEOUT_MS = 10_000;

export class ApiAccessReview implements AccessReview {
  constructor(private readonly http: KubeHttp) {}

  async authenticate(token: string): Promise<Authentication> {
    const body: V1TokenReview = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } };
    const review = await this.create<V1TokenReview>(TOKEN_REVIEWS_PATH, body);
    const status = review.status;
    const user: V1UserInfo | undefined = status?.user;
    if (!status?.authenticated || !user?.username) return { authenticated: false, reason: status?.error || 'the token is not valid' };
    return {
      authenticated: true,
      user: { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups ?? [], ...(user.extra ? { extra: user.extra } : {}) },
    };
  }

  async authorize(user: ReviewedUser, verb: string, path: string): Promise<Authorization> {
    const body: V1SubjectAccessReview = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: [...user.groups],
        ...(user.extra ? { extra: Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]])) } : {}),
        nonResourceAttributes: { path, verb },
      },
    };
    const review = await this.create<V1SubjectAccessReview>(SUBJECT_ACCESS_REVIEWS_PATH, body);
    const status = review.status;
    // an evaluation error with no decision is not a refusal to remember: the API server could not decide
    if (!status?.allowed && !status?.denied && status?.evaluationError) throw new Error(`SubjectAccessReview: ${status.evaluationError}`);
    return { allowed: status?.allowed === true, reason: status?.reason ?? '' };
  }

  /** Reviews are created and answered in one call (nothing is stored); a refusal of the call itself throws. */
  private create<T>(path: string, body: unknown): Promise<T> {
    return this.http.json<T>({ method: 'POST', path, body, timeoutMs: REVIEW_TIMEOUT_MS });
  }
}
