// The key worker's loop, run on this thread over a MessageChannel (the same code the worker thread runs), and where
// its entry file is found.
import { createPublicKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { EC_BATCH, keyWorkerEntry, serveKeyRequests, type GenerateRequest, type KeyWorkerReply } from '../../src/certs/key-worker.js';
import { assertUsable } from './support.js';

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

/** A served port and a function that sends a message and collects the replies until `until` says enough. */
function worker(): { send(m: unknown): void; replies(until: (all: KeyWorkerReply[]) => boolean): Promise<KeyWorkerReply[]> } {
  const channel = new MessageChannel();
  channels.push(channel);
  serveKeyRequests(channel.port1);
  const got: KeyWorkerReply[] = [];
  let wake: (() => void) | undefined;
  (channel.port2 as MessagePort).on('message', (m: KeyWorkerReply) => {
    got.push(m);
    wake?.();
  });
  return {
    send: (m) => channel.port2.postMessage(m),
    replies: async (until) => {
      while (!until(got)) await new Promise<void>((r) => (wake = r));
      return got;
    },
  };
}

const keysIn = (rs: KeyWorkerReply[]): number => rs.reduce((n, r) => n + (r.type === 'keys' ? r.keys.length : 0), 0);

describe('key worker loop', () => {
  it(`answers an ECDSA request in batches of ${EC_BATCH}, with usable keys`, async () => {
    const w = worker();
    const req: GenerateRequest = { type: 'generate', kind: 'ec', bits: 256, count: EC_BATCH + 6 };
    w.send(req);
    const replies = await w.replies((rs) => keysIn(rs) >= EC_BATCH + 6);
    expect(replies.map((r) => (r.type === 'keys' ? [r.kind, r.bits, r.keys.length] : r))).toEqual([
      ['ec', 256, EC_BATCH],
      ['ec', 256, 6],
    ]);
    const first = replies[0]!;
    if (first.type !== 'keys') throw new Error('expected keys');
    assertUsable({ kind: 'ec', spki: Buffer.from(first.keys[0]!.spki), privateKeyPem: first.keys[0]!.privateKeyPem });
  });

  it('posts RSA keys one by one, in the order asked, after any request still queued', async () => {
    const w = worker();
    w.send({ type: 'generate', kind: 'rsa', bits: 1024, count: 2 });
    w.send({ type: 'generate', kind: 'ec', bits: 256, count: 1 });
    const replies = await w.replies((rs) => keysIn(rs) >= 3);
    expect(replies.map((r) => (r.type === 'keys' ? `${r.kind}-${r.bits}×${r.keys.length}` : r.type))).toEqual(['rsa-1024×1', 'rsa-1024×1', 'ec-256×1']);
    const k = replies[0]!;
    if (k.type !== 'keys') throw new Error('expected keys');
    expect(createPublicKey({ key: Buffer.from(k.keys[0]!.spki), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength).toBe(1024);
  });

  it('reports a key it cannot make as an error naming the count, and goes on with the next request', async () => {
    const w = worker();
    w.send({ type: 'generate', kind: 'rsa', bits: 100, count: 1 });
    w.send({ type: 'generate', kind: 'ec', bits: 256, count: 1 });
    const replies = await w.replies((rs) => rs.length >= 2);
    expect(replies[0]).toMatchObject({ type: 'error', kind: 'rsa', bits: 100, count: 1, message: expect.stringMatching(/key size too small/) });
    expect(replies[1]).toMatchObject({ type: 'keys', kind: 'ec', bits: 256 });
  });

  it('ignores messages that are not generate requests', async () => {
    const w = worker();
    for (const m of [null, 'generate', { type: 'stop' }, { type: 'generate', kind: 'dsa', bits: 1024, count: 1 }, { type: 'generate', kind: 'ec', bits: 256, count: 0 }]) w.send(m);
    w.send({ type: 'generate', kind: 'ec', bits: 256, count: 2 });
    const replies = await w.replies((rs) => rs.length >= 1);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ type: 'keys', kind: 'ec', bits: 256, keys: [expect.anything(), expect.anything()] });
  });
});

describe('keyWorkerEntry', () => {
  it('is the compiled file beside a compiled module, started with no flags', () => {
    expect(keyWorkerEntry('file:///app/dist/certs/key-worker.js')).toEqual({ script: new URL('file:///app/dist/certs/key-worker-main.js'), options: { eval: false, execArgv: [] } });
  });

  it('from source, a script that loads the TypeScript file beside the module through tsx', () => {
    const entry = keyWorkerEntry(new URL('../../src/certs/key-worker.ts', import.meta.url).href);
    const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cjs/api/index.cjs', import.meta.url));
    const main = fileURLToPath(new URL('../../src/certs/key-worker-main.ts', import.meta.url));
    expect(entry).toEqual({ script: `require(${JSON.stringify(tsx)}).require(${JSON.stringify(main)}, __filename);`, options: { eval: true, execArgv: [] } });
  });
});
