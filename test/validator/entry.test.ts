// The validator's one entry point: the webhook handler, the offline CLI and the unit tests' `check` all reach it, and
// it alone decides where an object lives and what a rule sees (operation, old object).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseReview } from '../../src/admission/review.js';
import { validateOffline } from '../../src/cli/offline.js';
import { MemoryView } from '../../src/cluster/memory.js';
import { loadStaticView } from '../../src/cluster/static.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { identify, KINDS } from '../../src/mesh/kinds.js';
import type { KubeObject } from '../../src/mesh/objects.js';
import type { ValidationContext } from '../../src/validator/context.js';
import { VALIDATORS, type KindValidator } from '../../src/validator/registry.js';
import { validate } from '../../src/validator/validate.js';
import { validateHandler } from '../../src/webhooks/validate.js';
import { fixtureFiles, loadFixture, REPO_ROOT } from '../support/fixtures.js';

const mesh = meshIdentity('fsm');
const STATE = join(REPO_ROOT, 'examples/cluster');

describe('validator entry point', () => {
  afterEach(() => vi.restoreAllMocks());

  it('hands the rules the operation and, on UPDATE, the old object placed like the new one', () => {
    const seen: Array<Pick<ValidationContext, 'operation' | 'oldObject' | 'self'>> = [];
    const real = VALIDATORS.Egress!;
    vi.spyOn(VALIDATORS as Record<string, KindValidator>, 'Egress').mockImplementation((obj, ctx, out) => {
      seen.push({ operation: ctx.operation, oldObject: ctx.oldObject, self: ctx.self });
      real(obj, ctx, out);
    });
    const review = parseReview(loadFixture('egress-update-server-first.json').raw);
    if (!review.ok) throw new Error(review.reason);
    const req = review.review.request;
    validate({ operation: req.operation, kind: req.kind, object: req.object!, oldObject: req.oldObject, namespace: req.namespace! }, new MemoryView(), mesh);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.operation).toBe('UPDATE');
    expect(seen[0]!.oldObject?.metadata?.namespace).toBe(req.namespace);
    expect(seen[0]!.oldObject?.spec).toEqual(req.oldObject!.spec);
    expect(seen[0]!.self).toEqual({ kind: 'Egress', namespace: req.namespace, name: req.object!.metadata!.name });
    validate({ operation: 'CREATE', kind: req.kind, object: req.object!, namespace: req.namespace! }, new MemoryView(), mesh);
    expect(seen[1]).toMatchObject({ operation: 'CREATE', oldObject: undefined });
  });

  it('every kind of the table has exactly one check, and every check a kind', () => {
    expect(Object.keys(VALIDATORS).sort()).toEqual([...new Set(KINDS.map((k) => k.kind))].sort());
  });

  it('DELETE and CONNECT bring nothing to check: admitted, no field rule run (a referenced kind gets reference warnings only)', () => {
    const spy = vi.spyOn(VALIDATORS as Record<string, KindValidator>, 'Plugin');
    const egressSpy = vi.spyOn(VALIDATORS as Record<string, KindValidator>, 'Egress');
    const plugin: KubeObject = { apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'p' }, spec: { priority: 70000 } };
    const v = validate({ operation: 'DELETE', kind: { group: 'plugin.flomesh.io', kind: 'Plugin' }, object: plugin, oldObject: plugin }, new MemoryView(), mesh);
    expect(v).toMatchObject({ allowed: true, known: true, errors: [], warnings: [] });
    expect(spy).not.toHaveBeenCalled();
    const egress: KubeObject = { apiVersion: 'policy.flomesh.io/v1alpha1', kind: 'Egress', metadata: { name: 'e', namespace: 'a' }, spec: {} };
    for (const operation of ['DELETE', 'CONNECT'])
      expect(validate({ operation, kind: { group: 'policy.flomesh.io', kind: 'Egress' }, object: egress }, new MemoryView(), mesh)).toMatchObject({
        allowed: true,
        errors: [],
        skipped: `operation ${operation} is not validated`,
      });
    expect(egressSpy).not.toHaveBeenCalled();
  });

  it('places objects the same way for the webhook, the CLI and the tests', () => {
    // cluster-scoped: no namespace, whatever the manifest or the request says
    expect(identify({ metadata: { name: 'p', namespace: 'x' } }, { group: 'plugin.flomesh.io', kind: 'Plugin' }, { namespace: 'y' })).toEqual({ kind: 'Plugin', group: 'plugin.flomesh.io', namespace: '', name: 'p', label: 'p' });
    // namespaced: its own namespace, else the request's, else kubectl's default
    const egress = { group: 'policy.flomesh.io', kind: 'Egress' };
    expect(identify({ metadata: { name: 'e', namespace: 'a' } }, egress, { namespace: 'b' }).namespace).toBe('a');
    expect(identify({ metadata: { name: 'e' } }, egress, { namespace: 'b' }).namespace).toBe('b');
    expect(identify({ metadata: { name: 'e' } }, egress).namespace).toBe('default');
    // kinds outside the table: built-in cluster-scoped kinds have no namespace
    expect(identify({ metadata: { name: 'n' } }, { group: '', kind: 'Namespace' }).namespace).toBe('');
    expect(identify({ metadata: { name: 'd' } }, { group: 'apps', kind: 'Deployment' }).namespace).toBe('default');
    // no name yet: generateName is the label for messages
    expect(identify({ metadata: { generateName: 'web-' } }, egress, { namespace: 'b' })).toMatchObject({ name: '', label: 'web-' });
  });

  // The verdict each captured request must get, written down here (the example cluster holds everything they refer to).
  const PRIORITY_70000 = [{ reason: 'FieldValueInvalid', field: 'spec.priority', message: 'Invalid value: 70000: must be an integer between 0 and 65535' }];
  const EXPECTED: Record<string, { allowed: boolean; warnings?: string[]; causes?: { reason: string; field: string; message: string }[] }> = {
    'egress-create-http.json': { allowed: true },
    'egress-create-tcp.json': { allowed: true },
    'egress-update-server-first.json': { allowed: true },
    'globaltrafficpolicy-create.json': { allowed: true },
    'httproutegroup-create.json': { allowed: true },
    'plugin-create-dryrun-priority-70000.json': { allowed: false, causes: PRIORITY_70000 },
    'plugin-create-priority-70000.json': { allowed: false, causes: PRIORITY_70000 },
    'plugin-create.json': { allowed: true, warnings: ['spec.priority: 115 on outbound-http runs after modules/outbound-circuit-breaker (120) and before modules/outbound-http-load-balancing (110)'] },
    'plugin-update.json': { allowed: true, warnings: ['spec.priority: 116 on outbound-http runs after modules/outbound-circuit-breaker (120) and before modules/outbound-http-load-balancing (110)'] },
    'pluginchain-create.json': { allowed: true, warnings: ['spec.selectors.namespaceSelector: selects namespaces other than curl: the plugins are attached to matching pods in each of them'] },
    'pluginconfig-create.json': { allowed: true },
    'service-create.json': { allowed: true },
    'serviceexport-create.json': { allowed: true },
    'traffictarget-create.json': { allowed: true },
  };

  it('every captured policy request has an expected verdict', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(fixtureFiles().filter((f) => !f.startsWith('pod-')));
  });

  describe('every captured policy request: the expected verdict from the webhook handler and from the CLI', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entry-'));
    const view = loadStaticView(STATE);
    const handler = validateHandler({ mesh, view });
    for (const file of fixtureFiles().filter((f) => !f.startsWith('pod-'))) {
      it(file, () => {
        const expected = EXPECTED[file]!;
        const review = parseReview(loadFixture(file).raw);
        if (!review.ok) throw new Error(review.reason);
        const req = review.review.request;
        const outcome = handler.handle(req, { deadline: Date.now() + 10_000, signal: new AbortController().signal });
        if (outcome instanceof Promise) throw new Error('the validating webhook answers synchronously');
        const r = outcome.response;
        expect(r.allowed).toBe(expected.allowed);
        expect(r.warnings ?? []).toEqual(expected.warnings ?? []);
        expect(r.status?.details?.causes ?? []).toEqual(expected.causes ?? []);
        if (!expected.allowed) expect(r.status).toMatchObject({ code: 422, reason: 'Invalid' });
        // what `kubectl apply -n <ns> -f` would send: the object as written, in the request's namespace
        const obj = structuredClone(req.object!);
        if (req.namespace) obj.metadata = { ...obj.metadata, namespace: req.namespace };
        const path = join(dir, file.replace(/\.json$/, '.yaml'));
        writeFileSync(path, stringify(obj));
        const [offline] = validateOffline([path], mesh, STATE);
        expect(offline!.allowed).toBe(expected.allowed);
        expect(offline!.warnings).toEqual(expected.warnings ?? []);
        expect(offline!.causes.map((c) => ({ reason: c.type, field: c.field, message: c.message }))).toEqual(expected.causes ?? []);
      });
    }
  });
});
