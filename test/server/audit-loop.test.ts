// The continuous audit: gauges by kind, rule and severity (reset between runs), the time of the last run, a bounded
// JSON document on the metrics port, and a run that lets the event loop breathe.
import pino from 'pino';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { MemoryView } from '../../src/cluster/memory.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { placeManifest } from '../../src/mesh/kinds.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import { AuditLoop, jittered } from '../../src/server/audit-loop.js';
import { createHealthApp } from '../../src/server/health.js';
import { Metrics } from '../../src/server/metrics.js';
import { namespace, pod } from '../injector/helpers.js';

const mesh = meshIdentity('fsm');
const logger = pino({ level: 'silent' });
const chain = (name: string, plugins: string[]): KubeObject => ({
  apiVersion: 'plugin.flomesh.io/v1alpha1',
  kind: 'PluginChain',
  metadata: { name, namespace: 'apps' },
  spec: { chains: [{ name: 'inbound-http', plugins }], selectors: { podSelector: { matchLabels: { app: 'web' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'apps' } } } },
});
const podIn = (name: string): KubeObject => {
  const p = pod();
  p.metadata = { ...p.metadata, name, namespace: 'apps', creationTimestamp: '2026-01-01T00:00:00Z' };
  return p;
};

function setup(pods: KubeObject[], objects: KubeObject[] = [], failing?: { fail: boolean }) {
  const view = new MemoryView([namespace('apps'), ...objects].map(placeManifest));
  const metrics = new Metrics();
  const listed: string[] = [];
  const loop = new AuditLoop({
    view,
    audit: { mesh, injector: { mesh, sidecarMode: 'classic' } },
    listPods: async (namespaces) => {
      if (failing?.fail) throw new Error('pods is forbidden');
      listed.push(...namespaces);
      return pods.filter((p) => namespaces.includes(p.metadata?.namespace ?? ''));
    },
    bootstrapSecretsNotListed: 'the server may not list Secrets',
    intervalMs: 300_000,
    metrics,
    logger,
    maxFindings: 2,
    sliceMs: 0,
    now: () => Date.parse('2026-12-01T12:00:00Z'),
  });
  return { view, metrics, loop, listed };
}

const findingsMetric = async (metrics: Metrics): Promise<Array<{ labels: Record<string, string | number>; value: number }>> =>
  (await metrics.auditFindings.get()).values.map((v) => ({ labels: v.labels as Record<string, string | number>, value: v.value }));

describe('continuous audit', () => {
  it('publishes findings as gauges, the last run time, and a bounded document', async () => {
    const { metrics, loop, listed } = setup([podIn('a'), podIn('b'), podIn('c')], [chain('c1', ['gone'])]);
    const health = createHealthApp(metrics, { ready: () => ({ ready: true, reasons: [] }), audit: () => (loop.document() ? { ran: true, document: loop.document() } : { ran: false }) });
    expect((await request(health).get('/audit')).status).toBe(503);
    const report = await loop.runNow();
    expect(listed).toEqual(['apps']);
    expect(report?.findings.map((f) => f.rule)).toEqual(['pluginchain-plugin-missing', 'pod-sidecar-missing', 'pod-sidecar-missing', 'pod-sidecar-missing']);
    expect(await findingsMetric(metrics)).toEqual([
      { labels: { kind: 'PluginChain', rule: 'pluginchain-plugin-missing', severity: 'warning' }, value: 1 },
      { labels: { kind: 'Pod', rule: 'pod-sidecar-missing', severity: 'warning' }, value: 3 },
    ]);
    expect((await metrics.auditLastRun.get()).values[0]!.value).toBe(Date.parse('2026-12-01T12:00:00Z') / 1000);
    const res = await request(health).get('/audit');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      summary: { errors: 0, warnings: 4, objects: 1, pods: 3, notChecked: ['bootstrap Secrets (the server may not list Secrets)'] },
      truncated: 2,
      startedAt: '2026-12-01T12:00:00.000Z',
    });
    expect(res.body.findings).toHaveLength(2);
    const text = await metrics.registry.metrics();
    expect(text).toContain('mesh_admission_audit_findings{kind="Pod",rule="pod-sidecar-missing",severity="warning"} 3');
  });

  it('a rule that finds nothing any more disappears from the gauge', async () => {
    const { view, metrics, loop } = setup([], [chain('c1', ['gone'])]);
    await loop.runNow();
    expect(await findingsMetric(metrics)).toHaveLength(1);
    view.removeObject(placeManifest(chain('c1', ['gone'])));
    await loop.runNow();
    expect(await findingsMetric(metrics)).toEqual([]);
  });

  it('a failed pod list keeps the previous results and counts the failure', async () => {
    const failing = { fail: false };
    const { metrics, loop } = setup([podIn('a')], [], failing);
    await loop.runNow();
    const before = loop.document();
    expect(before?.summary.pods).toBe(1);
    failing.fail = true;
    expect(await loop.runNow()).toBeUndefined();
    expect((await metrics.auditFailures.get()).values[0]!.value).toBe(1);
    expect(loop.document()).toBe(before);
  });

  it('lets the event loop run between slices of a run', async () => {
    const pods = Array.from({ length: 50 }, (_, i) => podIn(`p${i}`));
    const { loop } = setup(pods);
    let ticks = 0;
    let done = false;
    const tick = (): void => {
      ticks++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    await loop.runNow();
    done = true;
    // with a zero-length slice the run yields after every pod: the ticker ran alongside it
    expect(ticks).toBeGreaterThan(10);
  });

  it('jitter keeps the interval within ±10 %', () => {
    expect(jittered(300_000, () => 0)).toBe(270_000);
    expect(jittered(300_000, () => 0.999999)).toBe(330_000);
    expect(jittered(300_000, () => 0.5)).toBe(300_000);
  });

  it('/audit without an audit: 404 that says why', async () => {
    const res = await request(createHealthApp(new Metrics(), { ready: () => ({ ready: true, reasons: [] }) })).get('/audit');
    expect(res.status).toBe(404);
    expect(res.body.error).toContain('--audit-interval-seconds');
  });
});
