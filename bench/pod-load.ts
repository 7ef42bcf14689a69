// Part H's load generator, a child process of bench/run.ts: creates objects (pods, or plain Secrets) through a real
// kube-apiserver as admin, keeping `concurrency` creates in flight over the project's own keep-alive client, and
// reports each create's latency. Every create must be answered 201, or the run counts an error.
import { KubeConfig } from '@kubernetes/client-node';
import { KubeHttp } from '../src/kube/http.js';

export interface PodLoad {
  readonly kubeconfig: string;
  /** collection path, e.g. /api/v1/namespaces/x/pods */
  readonly path: string;
  /** the object created (with metadata.generateName) */
  readonly body: Record<string, unknown>;
  readonly count: number;
  readonly concurrency: number;
}

export interface PodLoadResult {
  /** ms per create, in completion order */
  readonly latencies: number[];
  readonly seconds: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** what the creates returned, trimmed to what the caller checks (name, labels, container names) */
  readonly created: Array<{ name: string; labels: Record<string, string>; containers: string[] }>;
}

async function run(load: PodLoad): Promise<PodLoadResult> {
  const kc = new KubeConfig();
  kc.loadFromFile(load.kubeconfig);
  const http = new KubeHttp(kc);
  const text = JSON.stringify(load.body);
  const latencies: number[] = [];
  const created: PodLoadResult['created'] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < load.count) {
      next++;
      const t = performance.now();
      try {
        const res = await http.request<{ metadata?: { name?: string; labels?: Record<string, string> }; spec?: { containers?: Array<{ name: string }> }; message?: string }>({ method: 'POST', path: load.path, body: text, timeoutMs: 60_000 });
        latencies.push(performance.now() - t);
        if (res.status !== 201) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(`${res.status} ${res.body?.message ?? ''}`);
          continue;
        }
        created.push({ name: res.body?.metadata?.name ?? '', labels: res.body?.metadata?.labels ?? {}, containers: (res.body?.spec?.containers ?? []).map((c) => c.name) });
      } catch (err) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: load.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  http.close();
  return { latencies, seconds, errors, errorSamples, created };
}

process.on('message', (load: PodLoad) => {
  run(load).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (err: Error) => process.send!({ ok: false, error: err.stack ?? err.message }, () => process.exit(1)),
  );
});
