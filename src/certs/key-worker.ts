// Source of the key-generation worker thread used by KeyPool.
//
// The worker is started with `new Worker(KEY_WORKER_SOURCE, { eval: true })` rather than from a file path. A file
// path would have to resolve to `key-worker.ts` under vitest/tsx (where Node 20 cannot run TypeScript in a worker
// without a loader) and to `key-worker.js` under dist/ (and to something else again inside a bundle). An eval'd
// CommonJS script that uses only node builtins runs identically in all three. It is kept as plain JavaScript in a
// string (not `fn.toString()`), because transpilers may inject helpers (tsx's `__name`) into function bodies.
//
// Protocol (structured clone):
//   main → worker  { type: 'generate', kind: 'rsa' | 'ec', bits: number, count: number }
//   worker → main  { type: 'keys', kind, bits, keys: [{ spki: ArrayBuffer, privateKeyPem: string }] }
//                  { type: 'error', kind, bits, count: number, message: string }
// RSA keys are posted one by one as soon as each is ready; EC keys in batches of up to 64 (each message costs the
// main thread an event, so many small messages would eat what the pool saves).
//
// EC P-256 keys are exported once as SEC1 DER (Node's SPKI export alone costs more than generating the key) and
// re-framed by fixed offsets: OpenSSL's SEC1 encoding of a P-256 key with parameters and public key is always
// 30 77 02 01 01 04 20 <d:32> a0 0a 06 08 <prime256v1> a1 44 03 42 00 <04 x y:65>; anything else falls back to
// the generic exports.

export const KEY_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const { generateKeyPairSync } = require('node:crypto');
const SPKI_P256 = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const PKCS8_P256_HEAD = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const PKCS8_P256_MID = Buffer.from('a144034200', 'hex');
const SEC1_P256_HEAD = Buffer.from('30770201010420', 'hex');
const SEC1_P256_MID = Buffer.from('a00a06082a8648ce3d030107a144034200', 'hex');
function pem(der) {
  const b = der.toString('base64');
  let s = '-----BEGIN PRIVATE KEY-----\n';
  for (let i = 0; i < b.length; i += 64) s += b.slice(i, i + 64) + '\n';
  return s + '-----END PRIVATE KEY-----\n';
}
function ab(buf) { return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength); }
function ecKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sec1 = privateKey.export({ type: 'sec1', format: 'der' });
  if (sec1.length === 121 && sec1.subarray(0, 7).equals(SEC1_P256_HEAD) && sec1.subarray(39, 56).equals(SEC1_P256_MID) && sec1[56] === 4) {
    const d = sec1.subarray(7, 39);
    const q = sec1.subarray(56, 121);
    return { spki: Buffer.concat([SPKI_P256, q]), privateKeyPem: pem(Buffer.concat([PKCS8_P256_HEAD, d, PKCS8_P256_MID, q])) };
  }
  return { spki: publicKey.export({ type: 'spki', format: 'der' }), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) };
}
function rsaKey(bits) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { spki: publicKey, privateKeyPem: privateKey };
}
const queue = [];
let running = false;
// Synchronous generation on this thread (the async API would borrow libuv's thread pool, which the main thread needs
// for fs and dns); setImmediate between messages lets new requests in.
function step() {
  const job = queue[0];
  if (!job) { running = false; return; }
  running = true;
  const n = job.kind === 'ec' ? Math.min(64, job.count) : 1;
  const keys = [];
  const transfer = [];
  try {
    for (let i = 0; i < n; i++) {
      const k = job.kind === 'ec' ? ecKey() : rsaKey(job.bits);
      const spki = ab(k.spki);
      transfer.push(spki);
      keys.push({ spki, privateKeyPem: k.privateKeyPem });
    }
    parentPort.postMessage({ type: 'keys', kind: job.kind, bits: job.bits, keys }, transfer);
  } catch (err) {
    parentPort.postMessage({ type: 'error', kind: job.kind, bits: job.bits, count: n - keys.length, message: String((err && err.message) || err) });
    if (keys.length) parentPort.postMessage({ type: 'keys', kind: job.kind, bits: job.bits, keys }, transfer);
  }
  job.count -= n;
  if (job.count <= 0) queue.shift();
  setImmediate(step);
}
parentPort.on('message', (msg) => {
  if (!msg || msg.type !== 'generate' || !(msg.count > 0)) return;
  queue.push({ kind: msg.kind, bits: msg.bits, count: msg.count });
  if (!running) step();
});
`;
