// docs/validation-rules.md is generated from the source (npm run docs, scripts/rules-catalogue.ts) and must stay so:
// the committed catalogue is what the script writes now; every rule id written in the source is in it; and every
// finding the validator really makes (over the repository's example objects, each of their fields broken in turn)
// carries a rule id of the catalogue and a message that one of that rule's templates matches.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifests } from '../src/cluster/manifests.js';
import { loadStaticView } from '../src/cluster/static.js';
import { meshIdentity } from '../src/mesh/flavor.js';
import { findKind } from '../src/mesh/kinds.js';
import { gvkOf, isRecord, type KubeObject } from '../src/mesh/objects.js';
import { validate } from '../src/validator/validate.js';
import { CATALOGUE_FILE, collectRules, renderCatalogue, SECTIONS, withRegion, type RuleEntry } from '../scripts/rules-catalogue.js';
import { fixtureFiles, loadFixture, REPO_ROOT } from './support/fixtures.js';

let rules: RuleEntry[];
let problems: string[];
beforeAll(() => {
  ({ rules, problems } = collectRules());
});

const byId = (id: string): RuleEntry | undefined => rules.find((r) => r.rule === id && r.section === 'webhook');

describe('the rules catalogue (docs/validation-rules.md)', () => {
  it('is what `npm run docs` generates from the source now (run it after changing a rule, its message or its comment)', () => {
    const committed = readFileSync(CATALOGUE_FILE, 'utf8');
    expect(withRegion(committed, renderCatalogue(rules))).toBe(committed);
  });

  it('finds every rule id as a constant where the finding is made', () => {
    expect(problems).toEqual([]);
  });

  it('reads a rule through the helpers: kind, severity, message with the arguments the call site gives', () => {
    const range = byId('plugin-priority-range')!;
    expect(range.kinds).toEqual(['Plugin', 'MeshConfig']);
    expect(range.severities).toEqual(['denial']);
    // checkIntRange's message, with the bounds the Plugin check passes (PRIORITY_MIN, PRIORITY_MAX)
    expect(range.messages).toContain('spec.priority: Invalid value: <value>: must be an integer between 0 and 65535');
    // a warning of a Service is never a denial, and a rule of the reference checks belongs to the deleted kind
    expect(byId('service-app-protocol')).toMatchObject({ kinds: ['Service'], severities: ['warning'] });
    expect(byId('plugin-still-referenced')!.messages).toContain('Plugin "<name>" is still mounted by <ref> on <chain>');
  });

  it('names the failure each rule prevents, from the comment where its id is written', () => {
    const missing = rules.filter((r) => r.why.length === 0).map((r) => `${r.rule} (${r.at.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('lists every rule id written literally in a rule position in src/validator, src/cli and src/audit', () => {
    // Independent of the generator's evaluation: a string passed to a parameter called `rule` (of any function or
    // method of these files, by name), or given as a `rule:` property.
    const files = SECTIONS.flatMap((s) => s.files()).map((f) => join(REPO_ROOT, f));
    const sources = files.map((f) => ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true));
    // file → function name → the positions of its `rule` parameters; a name is looked up in the caller's file first
    const ruleParams = new Map<string, Map<string, Set<number>>>();
    for (const sf of sources) {
      const own = new Map<string, Set<number>>();
      sf.forEachChild(function visit(n: ts.Node): void {
        if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) {
          const i = n.parameters.findIndex((p) => ['rule', 'ruleId'].includes(p.name.getText()));
          own.set(n.name.getText(), new Set([...(own.get(n.name.getText()) ?? []), ...(i >= 0 ? [i] : [])]));
        }
        n.forEachChild(visit);
      });
      ruleParams.set(sf.fileName, own);
    }
    const positions = (file: string, name: string): Set<number> =>
      ruleParams.get(file)!.get(name) ?? new Set([...ruleParams.values()].flatMap((m) => [...(m.get(name) ?? [])]));
    const literal = new Set<string>();
    for (const sf of sources)
      sf.forEachChild(function visit(n: ts.Node): void {
        if (ts.isCallExpression(n)) {
          const name = ts.isPropertyAccessExpression(n.expression) ? n.expression.name.text : n.expression.getText();
          for (const i of positions(sf.fileName, name)) {
            const arg = n.arguments[i];
            if (arg && ts.isStringLiteral(arg)) literal.add(arg.text);
          }
        }
        if (ts.isPropertyAssignment(n) && n.name.getText() === 'rule' && ts.isStringLiteral(n.initializer)) literal.add(n.initializer.text);
        n.forEachChild(visit);
      });
    expect(literal.size).toBeGreaterThan(100);
    const catalogued = new Set(rules.map((r) => r.rule));
    expect([...literal].filter((id) => !catalogued.has(id)).sort()).toEqual([]);
  });

  it("matches every finding the validator makes over the examples, each field broken in turn, with its rule's messages", () => {
    const mesh = meshIdentity('fsm');
    const view = loadStaticView(join(REPO_ROOT, 'examples/cluster'));
    const examples = [
      ...loadManifests([join(REPO_ROOT, 'examples/seeds'), join(REPO_ROOT, 'examples/cluster')]).map((l) => l.object),
      ...fixtureFiles()
        .map((f) => loadFixture(f).review.request.object as KubeObject | null)
        .filter((o): o is KubeObject => o !== null),
    ].filter((o) => findKind(gvkOf(o).group, gvkOf(o).kind));
    const seen = new Map<string, Set<string>>();
    const unmatched: string[] = [];
    for (const object of examples)
      for (const variant of brokenVariants(object)) {
        const verdict = validate({ operation: 'CREATE', kind: gvkOf(variant), object: variant }, view, mesh);
        for (const f of [...verdict.errors, ...verdict.warningDetails]) {
          const rule = f.rule ?? '';
          const text = f.field ? `${f.field}: ${f.message}` : f.message;
          seen.set(rule, (seen.get(rule) ?? new Set()).add(text));
          const entry = byId(rule);
          if (!entry?.patterns.some((p) => p.test(text))) unmatched.push(`[${rule}] ${text}`);
        }
      }
    expect([...new Set(unmatched)].slice(0, 20)).toEqual([]);
    // the examples and their broken fields reach most of the rules, or this test would prove little
    expect(seen.size).toBeGreaterThan(60);
  });
});

const BAD_VALUES: readonly unknown[] = [null, -1, 70000, 1.5, 'Not_A Valid/Name!', '', [], {}, true];

/** The object, then one variant per field (leaves and containers alike) with that field deleted or given a bad value. */
function* brokenVariants(object: KubeObject): Generator<KubeObject> {
  yield object;
  const paths: Array<Array<string | number>> = [['metadata', 'name']];
  const walk = (v: unknown, path: Array<string | number>): void => {
    if (path.length > 0) paths.push(path);
    if (path.length >= 6) return;
    if (Array.isArray(v)) v.forEach((item, i) => walk(item, [...path, i]));
    else if (isRecord(v)) for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
  };
  walk(object.spec, ['spec']);
  for (const path of paths)
    for (const bad of [undefined, ...BAD_VALUES]) {
      const copy = structuredClone(object) as Record<string, unknown>;
      let at: Record<string, unknown> | unknown[] = copy;
      for (const key of path.slice(0, -1)) at = (at as Record<string, unknown>)[key as string] as Record<string, unknown>;
      const last = path[path.length - 1]!;
      if (bad === undefined) {
        if (Array.isArray(at)) at.splice(last as number, 1);
        else delete at[last as string];
      } else (at as Record<string, unknown>)[last as string] = structuredClone(bad);
      yield copy as KubeObject;
    }
}

