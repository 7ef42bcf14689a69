// The key worker thread that fills a KeyPool: its messages, its generation loop, and where its entry file is.
//
// Protocol (structured clone):
//   pool → worker  { type: 'generate', kind, bits, count }
//   worker → pool  { type: 'keys', kind, bits, keys: [{ spki: ArrayBuffer, privateKeyPem }] }
//                  { type: 'error', kind, bits, count, message }   (count: keys of the request not made)
// RSA keys are posted one by one as soon as each is ready; ECDSA keys in batches of up to 64, because each message
// costs the pool's thread an event and many small ones would eat what the pool saves it.
//
// Keys are generated synchronously on the worker's own thread: the async API would borrow libuv's thread pool, which
// the main thread needs for fs and dns. A setImmediate between batches lets new requests in.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { generateEcKey, generateRsaKey, type EncodedKeyPair, type KeyKind } from './keys.js';

export interface GenerateRequest {
  readonly type: 'generate';
  readonly kind: KeyKind;
  /** RSA modulus length; 256 for ECDSA P-256 */
  readonly bits: number;
  readonly count: number;
}

export interface TransferredKey {
  readonly spki: ArrayBuffer;
  readonly privateKeyPem: string;
}

export type KeyWorkerReply =
  | { readonly type: 'keys'; readonly kind: KeyKind; readonly bits: number; readonly keys: TransferredKey[] }
  | { readonly type: 'error'; readonly kind: KeyKind; readonly bits: number; readonly count: number; readonly message: string };

/** What the loop needs of its port: a worker's parentPort, or one end of a MessageChannel. */
export interface KeyWorkerPort {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  postMessage(message: KeyWorkerReply, transfer: ArrayBuffer[]): void;
}

/** ECDSA keys per message */
export const EC_BATCH = 64;

const isRequest = (m: unknown): m is GenerateRequest => {
  const r = m as Partial<GenerateRequest> | null;
  return typeof r === 'object' && r !== null && r.type === 'generate' && (r.kind === 'ec' || r.kind === 'rsa') && typeof r.bits === 'number' && typeof r.count === 'number' && r.count > 0;
};

/** An ArrayBuffer of exactly these bytes, safe to transfer (a Buffer may be a view into a shared pool). */
const ownBuffer = (b: Buffer): ArrayBuffer => {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
};

/** Answers generate requests on `port`, in order, until the thread ends. */
export function serveKeyRequests(port: KeyWorkerPort): void {
  const queue: { kind: KeyKind; bits: number; count: number }[] = [];
  let running = false;
  const step = (): void => {
    const job = queue[0];
    if (!job) {
      running = false;
      return;
    }
    running = true;
    const n = job.kind === 'ec' ? Math.min(EC_BATCH, job.count) : 1;
    const keys: TransferredKey[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const k: EncodedKeyPair = job.kind === 'ec' ? generateEcKey() : generateRsaKey(job.bits);
        keys.push({ spki: ownBuffer(k.spki), privateKeyPem: k.privateKeyPem });
      }
    } catch (err) {
      port.postMessage({ type: 'error', kind: job.kind, bits: job.bits, count: n - keys.length, message: err instanceof Error ? err.message : String(err) }, []);
    }
    if (keys.length > 0) port.postMessage({ type: 'keys', kind: job.kind, bits: job.bits, keys }, keys.map((k) => k.spki));
    job.count -= n;
    if (job.count <= 0) queue.shift();
    setImmediate(step);
  };
  port.on('message', (m) => {
    if (!isRequest(m)) return;
    queue.push({ kind: m.kind, bits: m.bits, count: m.count });
    if (!running) step();
  });
}

/** How to start the worker: `new Worker(entry.script, entry.options)`. */
export interface KeyWorkerEntry {
  readonly script: URL | string;
  readonly options: { readonly eval: boolean; readonly execArgv: string[] };
}

/**
 * The worker's entry file (key-worker-main) beside this module. Compiled (dist/), Node starts the JavaScript file
 * itself. Run from source (vitest, tsx), the file is TypeScript, which Node cannot load by itself, and Node 20 applies
 * no loader given with `--import` to a worker's entry file (tried: the entry fails with "Unknown file extension"); so a
 * one-line CommonJS script loads it through tsx's require API instead. Either way the worker gets no flags of the
 * parent's (such as --input-type).
 */
export function keyWorkerEntry(moduleUrl: string = import.meta.url): KeyWorkerEntry {
  if (!moduleUrl.endsWith('.ts')) return { script: new URL('./key-worker-main.js', moduleUrl), options: { eval: false, execArgv: [] } };
  const tsx = createRequire(moduleUrl).resolve('tsx/cjs/api');
  const main = fileURLToPath(new URL('./key-worker-main.ts', moduleUrl));
  return { script: `require(${JSON.stringify(tsx)}).require(${JSON.stringify(main)}, __filename);`, options: { eval: true, execArgv: [] } };
}
