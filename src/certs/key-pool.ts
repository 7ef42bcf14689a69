// Pools of leaf keys for bootstrap certificates, filled in the background by a worker thread (key-worker.ts).
//
// - RSA (MeshConfig certificate.certKeyBitSize): 100–300 ms per key, so never generated on the request path: a pool
//   keeps `target` keys ready.
// - ECDSA P-256 (the default) costs little (keys.ts generateEcKey), but a pool of kind 'ec' still takes it off the
//   request thread (on a 2-core machine the worker uses the core the event loop does not);
//   `ecPool.take() ?? generateEcKey()` never waits.
//
// Empty-pool policy: `take()` never blocks and returns undefined when the pool is empty; `takeWithin(ms)` waits for
// the next key up to `ms` and then rejects with KeyPoolTimeoutError (message names the key size and the pool state).
// The request path should use `takeWithin` with a deadline below the admission deadline and turn the error into a
// denial with that message: a pod is never admitted without its certificate, and a burst larger than the pool is
// served at the worker's generation rate instead of stalling the event loop.
import { Worker } from 'node:worker_threads';
import type { EncodedKeyPair, KeyKind } from './keys.js';
import { keyWorkerEntry, type GenerateRequest, type KeyWorkerReply } from './key-worker.js';
import { backoffDelay, type BackoffPolicy } from '../mesh/backoff.js';

/** A crashed key worker is restarted after 50–100 ms, doubling to at most 5 s. */
const RESTART_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5000 };

export class KeyPoolTimeoutError extends Error {
  override readonly name = 'KeyPoolTimeoutError';
}

export class KeyPoolClosedError extends Error {
  override readonly name = 'KeyPoolClosedError';
}

export interface KeyPoolOptions {
  /** 'rsa' (default) or 'ec' (ECDSA P-256, moves key generation off the request thread) */
  readonly kind?: KeyKind;
  /** RSA modulus length (MeshConfig certificate.certKeyBitSize); default 2048; ignored for EC */
  readonly bits?: number;
  /** keys kept ready; default 32 for RSA, 1024 for EC */
  readonly target?: number;
  /**
   * refill when ready + in-flight keys drop to this level; default target − 1 for RSA (refill at once: generation is
   * slow) and target / 2 for EC (fewer, larger batches)
   */
  readonly lowWater?: number;
  /** called when the worker reports an error or dies; the pool restarts it on the next refill */
  readonly onError?: (err: Error) => void;
}

export interface KeyPoolStats {
  readonly kind: KeyKind;
  readonly bits: number;
  readonly target: number;
  readonly available: number;
  /** keys asked of the worker and not yet received */
  readonly generating: number;
  /** callers waiting in takeWithin */
  readonly waiting: number;
  /** keys received from the worker since start */
  readonly generated: number;
  /** takes that found the pool empty (take() → undefined, or takeWithin had to wait) */
  readonly misses: number;
}

interface Waiter {
  resolve(k: EncodedKeyPair): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A pool of leaf keys refilled by one background worker thread. The worker is unref'd (it never keeps the process
 * alive) and `close()` terminates it. The worker starts in the constructor: create an RSA pool only when RSA leaves
 * are actually configured.
 */
export class KeyPool {
  readonly kind: KeyKind;
  readonly bits: number;
  readonly target: number;
  private readonly lowWater: number;
  private readonly keys: EncodedKeyPair[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly onError: ((err: Error) => void) | undefined;
  private worker: Worker | undefined;
  private outstanding = 0;
  private generated = 0;
  private misses = 0;
  private restarts = 0;
  private closed = false;

  constructor(opts: KeyPoolOptions = {}) {
    this.kind = opts.kind ?? 'rsa';
    this.bits = this.kind === 'ec' ? 256 : (opts.bits ?? 2048);
    this.target = opts.target ?? (this.kind === 'ec' ? 1024 : 32);
    if (this.kind === 'rsa' && (!Number.isInteger(this.bits) || this.bits < 1024 || this.bits > 16384)) throw new RangeError(`KeyPool: RSA key size ${this.bits} out of range 1024–16384`);
    if (!Number.isInteger(this.target) || this.target < 0) throw new RangeError(`KeyPool: target ${this.target} must be a non-negative integer`);
    this.lowWater = Math.min(opts.lowWater ?? (this.kind === 'ec' ? Math.floor(this.target / 2) : this.target - 1), this.target - 1);
    this.onError = opts.onError;
    this.refill();
  }

  private get label(): string {
    return this.kind === 'ec' ? 'ECDSA P-256' : `RSA-${this.bits}`;
  }

  /** A ready key, or undefined when the pool is empty (never blocks). Triggers a refill. */
  take(): EncodedKeyPair | undefined {
    if (this.closed) throw new KeyPoolClosedError('KeyPool is closed');
    const k = this.keys.pop();
    if (!k) this.misses++;
    this.refill();
    return k;
  }

  /** A ready key, or the next one generated within `ms` milliseconds; rejects with KeyPoolTimeoutError after that. */
  takeWithin(ms: number): Promise<EncodedKeyPair> {
    if (this.closed) return Promise.reject(new KeyPoolClosedError('KeyPool is closed'));
    const k = this.keys.pop();
    if (k) {
      this.refill();
      return Promise.resolve(k);
    }
    this.misses++;
    return new Promise<EncodedKeyPair>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(
            new KeyPoolTimeoutError(
              `no ${this.label} key became available within ${ms} ms (pool of ${this.target} is empty; ${this.outstanding} being generated in the background, ${this.waiters.length} other requests waiting)`,
            ),
          );
        }, Math.max(0, ms)),
      };
      this.waiters.push(waiter);
      this.refill();
    });
  }

  stats(): KeyPoolStats {
    return {
      kind: this.kind,
      bits: this.bits,
      target: this.target,
      available: this.keys.length,
      generating: this.outstanding,
      waiting: this.waiters.length,
      generated: this.generated,
      misses: this.misses,
    };
  }

  /** Resolves once `n` keys (default: the target) are ready; for start-up warm-up and tests. */
  async ready(n = this.target, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.topUp(Math.min(n, this.target) + this.waiters.length);
    while (this.keys.length < n) {
      if (this.closed) throw new KeyPoolClosedError('KeyPool is closed');
      if (Date.now() > deadline) throw new KeyPoolTimeoutError(`KeyPool: ${this.keys.length}/${n} ${this.label} keys after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Rejects pending waiters and terminates the worker. Idempotent. Waits at most ~100 ms: a worker inside a native
   * RSA generation only stops when that returns, and being unref'd it cannot hold the process open anyway.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new KeyPoolClosedError('KeyPool closed while waiting for a key'));
    }
    this.keys.length = 0;
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([w.terminate().catch(() => 0), new Promise((r) => (timer = setTimeout(r, 100)))]);
      clearTimeout(timer);
    }
  }

  private refill(): void {
    if (this.closed) return;
    const level = this.keys.length + this.outstanding - this.waiters.length;
    if (level > this.lowWater && level >= 0) return;
    // Keys owed to waiters count on top of the target.
    this.topUp(this.target + this.waiters.length);
  }

  /** Asks the worker for enough keys that ready + in-flight reach `level`. */
  private topUp(level: number): void {
    if (this.closed) return;
    const want = level - this.keys.length - this.outstanding;
    if (want <= 0) return;
    const worker = this.ensureWorker();
    this.outstanding += want;
    const request: GenerateRequest = { type: 'generate', kind: this.kind, bits: this.bits, count: want };
    worker.postMessage(request);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const entry = keyWorkerEntry();
    const w = new Worker(entry.script, { ...entry.options, name: `${this.kind}-key-pool` });
    w.on('message', (m: KeyWorkerReply) => this.onMessage(m));
    w.on('error', (err) => this.workerGone(w, err));
    w.on('exit', (code) => {
      if (!this.closed) this.workerGone(w, new Error(`key worker exited with code ${code}`));
    });
    // unref() after the listeners: adding a 'message' listener refs the worker's port again.
    w.unref();
    this.worker = w;
    return w;
  }

  private workerGone(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.outstanding = 0;
    this.onError?.(err);
    // Restart only when someone is waiting (otherwise the next take() restarts it), with a growing delay.
    const delay = backoffDelay(RESTART_BACKOFF, ++this.restarts);
    if (this.waiters.length > 0) setTimeout(() => this.refill(), delay).unref();
  }

  private onMessage(m: KeyWorkerReply): void {
    if (this.closed || m.kind !== this.kind || m.bits !== this.bits) return;
    if (m.type === 'error') {
      this.outstanding = Math.max(0, this.outstanding - m.count);
      this.onError?.(new Error(`key worker: ${m.message}`));
      return;
    }
    this.restarts = 0;
    for (const raw of m.keys) {
      this.outstanding = Math.max(0, this.outstanding - 1);
      this.generated++;
      const key: EncodedKeyPair = { kind: this.kind, spki: Buffer.from(raw.spki), privateKeyPem: raw.privateKeyPem };
      const waiter = this.waiters.shift();
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.resolve(key);
      } else this.keys.push(key);
    }
  }
}
