// SIGTERM under load, as a rolling update delivers it: 16 pod creates in flight through the real API server while the
// server drains (it keeps answering for --shutdown-delay-seconds, every answer with Connection: close, and gives up
// its Lease at once). Nothing in flight fails; the process exits 0; a replacement replica started afterwards creates
// the bootstrap Secrets of the pods admitted during the delay (the draining one no longer creates any).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeApiServer, podLoad, TestCluster, waitFor, type ServerProcess } from './harness.js';

let cluster: TestCluster;
let server: ServerProcess;
let kubeconfig: string;

const secretExists = async (ns: string, pod: string): Promise<boolean> => {
  const p = await cluster.admin.get(`/api/v1/namespaces/${ns}/pods/${pod}`);
  const uuid = p?.metadata?.labels?.['fsm-proxy-uuid'];
  return Boolean(uuid && (await cluster.admin.get(`/api/v1/namespaces/${ns}/secrets/sidecar-bootstrap-config-${uuid}`)));
};

describeApiServer('SIGTERM under load', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.meshNamespace('busy');
    kubeconfig = await cluster.serviceAccountKubeConfig();
    server = await cluster.startServer(kubeconfig, ['--shutdown-delay-seconds', '5']);
    await cluster.registerWebhooks(server.url);
    await cluster.waitForCaBundle();
    await waitFor(async () => (await server.readyz()).status === 200, { timeoutMs: 60_000, what: 'the server to be ready' });
    await waitFor(() => server.out.includes('started leading'), { timeoutMs: 30_000, what: 'the Lease' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('fails nothing in flight, exits 0, and a replacement creates the Secrets of the pods admitted while it drained', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const load = podLoad(cluster.admin, 'busy', 16, stopped);
    await waitFor(async () => (await cluster.admin.list('/api/v1/namespaces/busy/pods')).length >= 50, { timeoutMs: 60_000, what: '50 pods under load' });

    server.kill('SIGTERM');
    const termAt = Date.now();
    // the load goes on while the server drains; it stops well inside the 5 s delay, as the Service's endpoints would
    // have moved the traffic to another replica by then
    await waitFor(() => Date.now() - termAt >= 3000, { timeoutMs: 10_000, intervalMs: 50, what: '3 s of draining under load' });
    stop();
    const { created, failures } = await load;
    expect(failures).toEqual([]);
    await server.whenExited();
    expect(server.exitCode).toBe(0);
    const log = server.logs();
    expect(log.filter((l) => l.msg === 'leader election: released the lease')).toHaveLength(1);

    // pods admitted after SIGTERM: the draining server had given up the Lease, so it made none of their Secrets
    const missing: string[] = [];
    for (const name of created) if (!(await secretExists('busy', name))) missing.push(name);
    expect(missing.length).toBeGreaterThan(0);

    const replacement = await cluster.startServer(kubeconfig, [], { port: server.port });
    await waitFor(async () => {
      for (const name of missing) if (!(await secretExists('busy', name))) return false;
      return true;
    }, { timeoutMs: 60_000, intervalMs: 250, what: 'the replacement to create every missing Secret' });
    expect(replacement.exited).toBe(false);
  });
});
