// Self-managed serving certificate for live mode: a CA and a leaf kept in the Secret
// `<p>-admission-tls` in the server's namespace, shared by every replica, renewed in place and swapped into the running
// HTTPS server through a callback (the caller runs https.Server.setSecureContext).
//
// Secret layout (type kubernetes.io/tls):
//   tls.crt / tls.key            the leaf every replica serves (covers the Service DNS names)
//   ca.crt                       the trust bundle: every CA still valid that a served leaf may chain to
//   ca-signing.crt / .key        the CA that signs leaves now
//   ca-next.crt / .key           during a CA rotation: the CA that will sign leaves next (already in ca.crt)
//   annotation mesh-admission.io/ca-next-since   when ca-next was added
//
// Rules, applied by `sync()` (at start, then every minute):
// - leaf renewed at 2/3 of its life (or when it no longer chains to the signing CA or misses a name), never valid past
//   its CA;
// - CA rotation when the signing CA has less than 1/3 of its life left, in two steps so that the API server never meets
//   a leaf it cannot verify:
//     1. a new CA is added as ca-next and to the bundle (ca.crt); the bundle is published (caBundle of the webhook
//        configurations, through `publish`);
//     2. only once THIS replica has published a bundle holding ca-next, and `rotationDelayMs` has passed since step 1
//        (so every replica has re-read the Secret and publishes the same bundle), ca-next becomes the signing CA and a
//        leaf signed by it is written;
//   the old CA stays in the bundle until it expires — by then no leaf it signed can still be valid;
// - a replica swaps in a leaf only when the bundle it last published successfully contains the leaf's CA (or when
//   what it serves is about to expire, or at start, when there is nothing better to serve);
// - every write is a create or a resourceVersion-conditional update; on 409 the Secret is read again (replicas
//   converge on whatever the winner wrote).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { CERT_BACKDATE_MS, DAY_MS } from './validity.js';
import type { SecretContent, SecretSlot, StoredSecretContent } from './secret-slot.js';
import { fromPemAll, toPem } from './der.js';
import { issueCA, issueLeaf, type KeyPairPem } from './issue.js';
import { serviceDnsNames } from './serving.js';

export const SERVING_SECRET_KEYS = {
  cert: 'tls.crt',
  key: 'tls.key',
  bundle: 'ca.crt',
  signingCert: 'ca-signing.crt',
  signingKey: 'ca-signing.key',
  nextCert: 'ca-next.crt',
  nextKey: 'ca-next.key',
} as const;
export const CA_NEXT_SINCE_ANNOTATION = 'mesh-admission.io/ca-next-since';


export interface ServingMaterial {
  readonly cert: string;
  readonly key: string;
  /** the CA bundle (PEM) clients should trust: every still-valid CA */
  readonly ca: string;
  readonly notAfter: Date;
  /** expiry of the CA that signed the leaf */
  readonly caNotAfter: Date;
}

export interface ServingCertManagerOptions {
  /** the Secret `<p>-admission-tls` (mesh/names.ts servingSecretName) in the server's namespace */
  readonly store: SecretSlot;
  /** the server's namespace (where the Service runs) */
  readonly namespace: string;
  /** the Service name: the leaf covers `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local` */
  readonly service: string;
  readonly extraDns?: readonly string[];
  /** IP SANs (e.g. the host of a --register-webhooks URL); none by default */
  readonly extraIps?: readonly string[];
  readonly labels?: Record<string, string>;
  readonly logger?: Logger;
  readonly now?: () => Date;
  /** default 365 days */
  readonly caValidityMs?: number;
  /** default 30 days */
  readonly leafValidityMs?: number;
  /** re-read/renew period (default 60 s) */
  readonly checkIntervalMs?: number;
  /** wait between adding a new CA to the bundle and signing leaves with it (default 3 × checkIntervalMs) */
  readonly rotationDelayMs?: number;
  /**
   * Publishes the trust bundle (CaBundlePatcher.setBundle). `ok: false` holds back any leaf signed by a CA the
   * bundle just gained. Without it, leaves are swapped in as soon as they are read.
   */
  readonly publish?: (bundlePem: string) => Promise<{ ok: boolean }>;
  /** the served material changed: the caller runs https.Server.setSecureContext({cert, key}) */
  readonly onChange?: (m: ServingMaterial) => void;
  /** metrics hook: metrics.certificateExpiry.set({cert}, epochSeconds) for 'serving' and 'serving-ca' */
  readonly onExpiry?: (cert: 'serving' | 'serving-ca', epochSeconds: number) => void;
  /** how certificates are made (default issue.ts, ECDSA P-256) */
  readonly issueCA?: (commonName: string, notBefore: Date, notAfter: Date) => Promise<KeyPairPem>;
  readonly issueLeaf?: (ca: KeyPairPem, commonName: string, dns: string[], ips: string[], notBefore: Date, notAfter: Date) => Promise<KeyPairPem>;
}

interface ParsedCert {
  readonly pem: string;
  readonly x: X509Certificate;
  readonly from: number;
  readonly to: number;
}

interface State {
  signing: KeyPairPem;
  next?: KeyPairPem;
  nextSince?: number;
  bundle: string;
  leaf: KeyPairPem;
}

function parseCert(pem: string): ParsedCert {
  const x = new X509Certificate(pem);
  return { pem, x, from: Date.parse(x.validFrom), to: Date.parse(x.validTo) };
}

function pemList(pem: string): ParsedCert[] {
  return fromPemAll(pem).map((d) => parseCert(toPem('CERTIFICATE', d)));
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** CAs of `bundle` plus `extra`, deduplicated, still valid at `now`, in order. */
export function mergeBundle(now: number, ...pems: (string | undefined)[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of pems) {
    if (!pem) continue;
    for (const c of pemList(pem)) {
      if (!c.x.ca || c.to <= now) continue;
      const fp = c.x.fingerprint256;
      if (seen.has(fp)) continue;
      seen.add(fp);
      out.push(c.pem);
    }
  }
  return out.join('');
}

function bundleHas(bundle: string | undefined, cert: X509Certificate): boolean {
  if (!bundle) return false;
  try {
    return pemList(bundle).some((c) => c.x.fingerprint256 === cert.fingerprint256);
  } catch {
    return false;
  }
}

function keyPairValid(kp: KeyPairPem | undefined, now: number, ca: boolean): kp is KeyPairPem {
  if (!kp) return false;
  try {
    const c = parseCert(kp.cert);
    return c.x.ca === ca && c.x.checkPrivateKey(createPrivateKey(kp.key)) && now >= c.from - CERT_BACKDATE_MS && now < c.to;
  } catch {
    return false;
  }
}

/** Past 2/3 of its life (the point where it is renewed). */
function pastTwoThirds(c: ParsedCert, now: number): boolean {
  return now >= c.from + ((c.to - c.from) * 2) / 3;
}

export class ServingCertManager {
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly names: { dns: string[]; ips: string[] };
  private served: ServingMaterial | undefined;
  private lastPublishedOk: string | undefined;
  private lastPublishAttempt: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<ServingMaterial> | undefined;
  private started = false;

  constructor(private readonly opts: ServingCertManagerOptions) {
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.now = opts.now ?? (() => new Date());
    const base = serviceDnsNames(opts.service, opts.namespace, false);
    this.names = { dns: [...new Set([...base.dns, ...(opts.extraDns ?? [])])], ips: [...new Set(opts.extraIps ?? [])] };
  }

  /** What is served now (undefined before the first sync). */
  current(): ServingMaterial | undefined {
    return this.served;
  }

  /** The CA bundle (PEM) for the webhook configurations' caBundle. */
  caBundle(): string | undefined {
    return this.served?.ca;
  }

  /** First sync (throws when the Secret can neither be read nor created), then periodic re-syncs. */
  async start(): Promise<ServingMaterial> {
    const m = await this.sync();
    if (!this.started) {
      this.started = true;
      this.schedule();
    }
    return m;
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.syncing?.catch(() => undefined);
  }

  private schedule(): void {
    if (!this.started) return;
    this.timer = setTimeout(() => {
      void this.sync()
        .catch((err: unknown) => this.logger.warn({ err: errorText(err) }, 'serving certificate sync failed; keeping the current one'))
        .finally(() => this.schedule());
    }, this.opts.checkIntervalMs ?? 60_000);
    this.timer.unref();
  }

  /** Reads the Secret, renews/rotates what is due, publishes the bundle, swaps the served leaf. */
  sync(): Promise<ServingMaterial> {
    this.syncing ??= this.doSync().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  // -----------------------------------------------------------------------------------------------------------------

  private get caValidityMs(): number {
    return this.opts.caValidityMs ?? 365 * DAY_MS;
  }

  private get leafValidityMs(): number {
    return this.opts.leafValidityMs ?? 30 * DAY_MS;
  }

  private async newCA(now: number): Promise<KeyPairPem> {
    const cn = `${this.opts.service}.${this.opts.namespace}-ca-${new Date(now).toISOString().slice(0, 10)}`;
    const nb = new Date(now - CERT_BACKDATE_MS);
    const na = new Date(now + this.caValidityMs);
    return this.opts.issueCA ? this.opts.issueCA(cn, nb, na) : issueCA(cn, { notBefore: nb, notAfter: na });
  }

  private async newLeaf(ca: KeyPairPem, now: number): Promise<KeyPairPem> {
    const caTo = parseCert(ca.cert).to;
    const nb = new Date(now - CERT_BACKDATE_MS);
    const na = new Date(Math.min(now + this.leafValidityMs, caTo));
    const cn = `${this.opts.service}.${this.opts.namespace}.svc`;
    return this.opts.issueLeaf
      ? this.opts.issueLeaf(ca, cn, this.names.dns, this.names.ips, nb, na)
      : issueLeaf(ca, { notBefore: nb, notAfter: na, commonName: cn, dnsNames: this.names.dns, ips: this.names.ips, usage: 'server' });
  }

  private toSecret(s: State): SecretContent {
    const K = SERVING_SECRET_KEYS;
    return {
      labels: { 'app.kubernetes.io/name': 'mesh-admission', ...(this.opts.labels ?? {}) },
      ...(s.next && s.nextSince !== undefined ? { annotations: { [CA_NEXT_SINCE_ANNOTATION]: new Date(s.nextSince).toISOString() } } : {}),
      type: 'kubernetes.io/tls',
      data: {
        [K.cert]: b64(s.leaf.cert),
        [K.key]: b64(s.leaf.key),
        [K.bundle]: b64(s.bundle),
        [K.signingCert]: b64(s.signing.cert),
        [K.signingKey]: b64(s.signing.key),
        ...(s.next ? { [K.nextCert]: b64(s.next.cert), [K.nextKey]: b64(s.next.key) } : {}),
      },
    };
  }

  private fromSecret(secret: StoredSecretContent, now: number): { state: State | undefined; why?: string } {
    const K = SERVING_SECRET_KEYS;
    const d = secret.data ?? {};
    const pair = (c: string, k: string): KeyPairPem | undefined => {
      const cert = unb64(d[c]);
      const key = unb64(d[k]);
      return cert && key ? { cert, key } : undefined;
    };
    const signing = pair(K.signingCert, K.signingKey);
    if (!keyPairValid(signing, now, true)) return { state: undefined, why: 'no valid signing CA' };
    const leaf = pair(K.cert, K.key) ?? { cert: '', key: '' };
    let next = pair(K.nextCert, K.nextKey);
    if (!keyPairValid(next, now, true)) next = undefined;
    const since = Date.parse(secret.annotations?.[CA_NEXT_SINCE_ANNOTATION] ?? '');
    let bundle: string;
    try {
      bundle = mergeBundle(now, unb64(d[K.bundle]), signing.cert, next?.cert);
    } catch {
      bundle = mergeBundle(now, signing.cert, next?.cert);
    }
    return { state: { signing, ...(next ? { next, nextSince: Number.isFinite(since) ? since : now } : {}), bundle, leaf } };
  }

  /** Does this leaf need replacing: broken, not from the signing CA, missing a name, or past 2/3 of its life. */
  private leafDue(s: State, now: number): string | undefined {
    try {
      if (!keyPairValid(s.leaf, now, false)) return 'missing or invalid';
      const leaf = parseCert(s.leaf.cert);
      const ca = parseCert(s.signing.cert);
      if (!leaf.x.checkIssued(ca.x) || !leaf.x.verify(ca.x.publicKey)) return 'not signed by the signing CA';
      const sans = (leaf.x.subjectAltName ?? '').split(', ');
      if (!this.names.dns.every((n) => sans.includes(`DNS:${n}`))) return 'does not cover every Service name';
      if (!this.names.ips.every((ip) => leaf.x.checkIP(ip) !== undefined)) return 'does not cover every IP address';
      if (pastTwoThirds(leaf, now)) return 'past 2/3 of its life';
      return undefined;
    } catch {
      return 'unparseable';
    }
  }

  /** One step towards the desired state, or undefined when nothing is due now. */
  private async step(s: State, now: number): Promise<{ state: State; what: string } | undefined> {
    const signing = parseCert(s.signing.cert);
    // CA rotation, step 2: the next CA is published (by this replica) and every replica had time to see it
    if (s.next) {
      const delay = this.opts.rotationDelayMs ?? 3 * (this.opts.checkIntervalMs ?? 60_000);
      const published = !this.opts.publish || bundleHas(this.lastPublishedOk, parseCert(s.next.cert).x);
      const forced = now >= signing.to - 2 * (this.opts.checkIntervalMs ?? 60_000);
      if ((published && now - (s.nextSince ?? now) >= delay) || forced) {
        const leaf = await this.newLeaf(s.next, now);
        return { state: { signing: s.next, bundle: mergeBundle(now, s.bundle, s.next.cert), leaf }, what: forced ? 'CA rotated (forced: the old CA is expiring)' : 'CA rotated: leaf signed by the new CA' };
      }
    } else if (pastTwoThirds(signing, now)) {
      // CA rotation, step 1: add the next CA to the trust bundle; leaves keep coming from the old CA for now
      const next = await this.newCA(now);
      return { state: { ...s, next, nextSince: now, bundle: mergeBundle(now, s.bundle, s.signing.cert, next.cert) }, what: 'CA rotation started: new CA added to the bundle' };
    }
    const due = this.leafDue(s, now);
    if (due) return { state: { ...s, leaf: await this.newLeaf(s.signing, now) }, what: `leaf renewed (${due})` };
    const pruned = mergeBundle(now, s.bundle, s.signing.cert, s.next?.cert);
    if (pruned !== s.bundle) return { state: { ...s, bundle: pruned }, what: 'expired CA dropped from the bundle' };
    return undefined;
  }

  /** false when another replica wrote first: the caller reads theirs */
  private write(state: State, resourceVersion: string | undefined): Promise<boolean> {
    return this.opts.store.write(this.toSecret(state), resourceVersion);
  }

  private async publish(bundle: string): Promise<void> {
    if (!this.opts.publish || bundle === this.lastPublishedOk) return;
    if (bundle !== this.lastPublishAttempt) this.logger.info({ cas: pemList(bundle).length }, 'publishing the serving CA bundle');
    this.lastPublishAttempt = bundle;
    try {
      const r = await this.opts.publish(bundle);
      if (r.ok) this.lastPublishedOk = bundle;
    } catch (err) {
      this.logger.warn({ err: errorText(err) }, 'CA bundle not published; retrying at the next sync');
    }
  }

  private async doSync(): Promise<ServingMaterial> {
    let state: State | undefined;
    for (let round = 0; round < 8; round++) {
      const now = this.now().getTime();
      const secret = await this.opts.store.read();
      let next: { state: State; what: string } | undefined;
      let rv: string | undefined;
      if (!secret) {
        const signing = await this.newCA(now);
        next = { state: { signing, bundle: mergeBundle(now, signing.cert), leaf: await this.newLeaf(signing, now) }, what: 'CA and leaf created' };
      } else {
        rv = secret.resourceVersion;
        const parsed = this.fromSecret(secret, now);
        if (!parsed.state) {
          const signing = await this.newCA(now);
          next = { state: { signing, bundle: mergeBundle(now, signing.cert), leaf: await this.newLeaf(signing, now) }, what: `CA and leaf replaced (${parsed.why})` };
        } else {
          state = parsed.state;
          // make sure the bundle in force is published before anything may depend on it
          await this.publish(state.bundle);
          next = await this.step(state, now);
        }
      }
      if (!next) break;
      if (await this.write(next.state, rv)) {
        this.logger.info({ secret: this.opts.store.ref, notAfter: new Date(parseCert(next.state.leaf.cert).to).toISOString() }, next.what);
        state = next.state;
        await this.publish(state.bundle);
        // loop: another step may be due (e.g. step 2 right after step 1 when no delay is configured)
      }
      // on conflict: read again
    }
    if (!state) throw new Error(`serving certificate Secret ${this.opts.store.ref}: could not converge`);
    this.serve(state);
    if (!this.served) throw new Error('no serving certificate');
    return this.served;
  }

  private serve(s: State): void {
    const now = this.now().getTime();
    const leaf = parseCert(s.leaf.cert);
    const issuer = parseCert(s.signing.cert);
    const cur = this.served;
    if (cur && cur.cert === s.leaf.cert) {
      if (cur.ca !== s.bundle) this.served = { ...cur, ca: s.bundle };
      return;
    }
    const trusted = !this.opts.publish || bundleHas(this.lastPublishedOk, issuer.x);
    const curEnding = cur ? now >= cur.notAfter.getTime() - 2 * (this.opts.checkIntervalMs ?? 60_000) : true;
    if (!trusted && !curEnding) {
      this.logger.info('new serving certificate held back until its CA is published in the webhook configurations');
      if (cur && cur.ca !== s.bundle) this.served = { ...cur, ca: s.bundle };
      return;
    }
    this.served = { cert: s.leaf.cert, key: s.leaf.key, ca: s.bundle, notAfter: new Date(leaf.to), caNotAfter: new Date(issuer.to) };
    this.opts.onExpiry?.('serving', leaf.to / 1000);
    this.opts.onExpiry?.('serving-ca', issuer.to / 1000);
    this.opts.onChange?.(this.served);
    this.logger.info({ notAfter: this.served.notAfter.toISOString(), caNotAfter: this.served.caNotAfter.toISOString() }, cur ? 'serving certificate swapped' : 'serving certificate loaded');
  }
}
