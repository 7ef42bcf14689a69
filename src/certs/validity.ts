// Validity windows of the certificates this server makes.

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Certificates start a little in the past: the clocks of the API server, the proxies and this pod never agree exactly. */
export const CERT_BACKDATE_MS = 5 * 60 * 1000;

/** From `now` less the back-dating to `now` plus `days`. */
export function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now.getTime() - CERT_BACKDATE_MS), notAfter: new Date(now.getTime() + days * DAY_MS) };
}
