// The load generator, run as a child process of bench/run.ts so that it never shares an event loop with the server
// under test. It receives one scenario over IPC, keeps exactly `concurrency` requests in flight over keep-alive TLS
// (one https.Agent, maxSockets = concurrency), and answers with throughput, latencies and errors.
//
// Every request carries a fresh uid; every answer must be a 200 AdmissionReview whose response.uid is that uid and
// that is allowed (and, for mutate, carries a JSONPatch): anything else is counted as an error.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import fastJsonPatch from 'fast-json-patch';

export interface LoadScenario {
  readonly name: string;
  readonly port: number;
  readonly path: string;
  /** CA that signed the server's certificate */
  readonly ca: string;
  /** TLS server name when the certificate does not cover 127.0.0.1 (live mode's covers the Service names) */
  readonly servername?: string;
  /** each body is `parts[0] + uid + parts[1]`; bodies are rotated request by request */
  readonly bodies: readonly (readonly [string, string])[];
  readonly concurrency: number;
  /** start at most this many requests a second (default: as many as `concurrency` allows) */
  readonly ratePerSecond?: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** the answer must carry a patch (mutate scenarios) */
  readonly expectPatch: boolean;
  /**
   * Play the API server's part after a mutate answer: apply the patch and store the pod (POST to this API server),
   * as a real API server does once admission is over. Not timed: latencies are the webhook's alone.
   */
  readonly storePods?: { readonly url: string; readonly ca: string; readonly token: string };
}

export interface LoadResult {
  readonly name: string;
  readonly requests: number;
  readonly seconds: number;
  readonly throughput: number;
  /** milliseconds */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** requests answered during warm-up and drain (checked, not timed) */
  readonly unmeasured: number;
  /** mean response body size in bytes */
  readonly responseBytes: number;
  /** CPU time (user + system, µs) this load generator used during the window */
  readonly clientCpuUs: number;
  /** answers completed inside the window (the throughput's numerator) */
  readonly completed: number;
  /** pods stored in the API server (storePods) */
  readonly stored: number;
}

/** Sent to the parent when the measurement window opens and closes, so it can read its own CPU clock then. */
export interface WindowMark {
  readonly mark: 'start' | 'end';
}

interface Reply {
  status: number;
  text: string;
}

export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

export async function runScenario(s: LoadScenario): Promise<LoadResult> {
  const agent = new Agent({ ca: s.ca, keepAlive: true, maxSockets: s.concurrency, maxFreeSockets: s.concurrency });
  const post = (body: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: s.port, method: 'POST', path: s.path, agent, ...(s.servername ? { servername: s.servername } : {}), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const store = s.storePods;
  const apiAgent = store ? new Agent({ ca: store.ca, keepAlive: true, maxSockets: s.concurrency }) : undefined;
  let stored = 0;
  /** The pod as the API server stores it: the request's object with the patch applied, a name given. */
  const storePod = (parts: readonly [string, string], uid: string, patchB64: string): Promise<void> => {
    const review = JSON.parse(parts[0] + uid + parts[1]) as { request: { namespace: string; object: Record<string, unknown> } };
    const ops = JSON.parse(Buffer.from(patchB64, 'base64').toString('utf8')) as fastJsonPatch.Operation[];
    const pod = fastJsonPatch.applyPatch(review.request.object, ops, false, true).newDocument as { metadata?: Record<string, unknown> };
    pod.metadata = { ...pod.metadata, name: `bench-${uid}`, namespace: review.request.namespace };
    const body = JSON.stringify(pod);
    const url = new URL(`${store!.url}/api/v1/namespaces/${review.request.namespace}/pods`);
    return new Promise((resolve) => {
      const req = request(
        { host: url.hostname, port: url.port, method: 'POST', path: url.pathname, agent: apiAgent, headers: { authorization: `Bearer ${store!.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 201) stored++;
            else fail(`storing the pod: HTTP ${res.statusCode}`);
            resolve();
          });
        },
      );
      req.on('error', (err) => {
        fail(`storing the pod: ${err.message}`);
        resolve();
      });
      req.end(body);
    });
  };

  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let unmeasured = 0;
  let responseBytes = 0;
  let measured = 0;
  let completedInWindow = 0;
  let next = 0;
  const fail = (why: string): void => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(why);
  };
  const check = (reply: Reply, uid: string): void => {
    if (reply.status !== 200) return fail(`HTTP ${reply.status}: ${reply.text.slice(0, 200)}`);
    let answer: { response?: { uid?: unknown; allowed?: unknown; patch?: unknown; status?: { message?: unknown } } };
    try {
      answer = JSON.parse(reply.text) as typeof answer;
    } catch {
      return fail(`not JSON: ${reply.text.slice(0, 200)}`);
    }
    const r = answer.response;
    if (!r || r.uid !== uid) return fail(`wrong uid: expected ${uid}, got ${String(r?.uid)}`);
    if (r.allowed !== true) return fail(`not allowed: ${String(r.status?.message)}`);
    if (s.expectPatch && typeof r.patch !== 'string') return fail('no patch in a mutate answer');
  };

  const t0 = performance.now();
  const measureFrom = t0 + s.warmupMs;
  const measureTo = measureFrom + s.durationMs;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpuUsed: NodeJS.CpuUsage | undefined;
  const startMark = (): void => {
    if (cpuStart) return;
    cpuStart = process.cpuUsage();
    process.send?.({ mark: 'start' } satisfies WindowMark);
  };
  const endMark = (): void => {
    if (cpuUsed) return;
    startMark();
    cpuUsed = process.cpuUsage(cpuStart);
    process.send?.({ mark: 'end' } satisfies WindowMark);
  };
  const marks = [setTimeout(startMark, s.warmupMs), setTimeout(endMark, s.warmupMs + s.durationMs)];
  // paced: request i starts no earlier than i / ratePerSecond after the first (the load of a real API server, which
  // admits pods at its own pace, instead of as many as the server can take)
  const paceFrom = performance.now();
  let started = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (s.ratePerSecond) {
        const due = paceFrom + (started++ * 1000) / s.ratePerSecond;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const start = performance.now();
      if (start >= measureTo) return;
      const parts = s.bodies[next++ % s.bodies.length]!;
      const uid = randomUUID();
      let reply: Reply;
      try {
        reply = await post(parts[0] + uid + parts[1]);
      } catch (err) {
        fail(`request failed: ${(err as Error).message}`);
        continue;
      }
      const end = performance.now();
      check(reply, uid);
      if (store) {
        const patch = (JSON.parse(reply.text) as { response?: { patch?: string } }).response?.patch;
        if (patch) await storePod(parts, uid, patch);
      }
      if (end >= measureFrom && end <= measureTo) completedInWindow++;
      // A request is timed when it both started and finished inside the window: the window then holds only
      // steady-state requests (connections already open, JIT warm), never a warm-up or drain straggler.
      if (start >= measureFrom && end <= measureTo) {
        latencies.push(end - start);
        responseBytes += reply.text.length;
        measured++;
      } else unmeasured++;
    }
  };
  await Promise.all(Array.from({ length: s.concurrency }, worker));
  // the workers stop by the clock; the end mark's timer may still be pending: the window closes now either way
  endMark();
  agent.destroy();
  apiAgent?.destroy();
  for (const t of marks) clearTimeout(t);

  const sorted = Float64Array.from(latencies).sort();
  const seconds = s.durationMs / 1000;
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    name: s.name,
    requests: measured,
    seconds,
    // answers completed inside the window, whenever they started
    throughput: completedInWindow / seconds,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    mean: measured ? sum / measured : NaN,
    errors,
    errorSamples,
    unmeasured,
    responseBytes: measured ? Math.round(responseBytes / measured) : 0,
    clientCpuUs: cpuUsed ? cpuUsed.user + cpuUsed.system : NaN,
    completed: completedInWindow,
    stored,
  };
}

// As a child process: one scenario in, one result out, exit.
if (process.send) {
  process.once('message', (msg: LoadScenario) => {
    // a scenario message is the only one expected
    runScenario(msg).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (err: unknown) => process.send!({ ok: false, error: (err as Error).stack ?? String(err) }, () => process.exit(1)),
    );
  });
}
