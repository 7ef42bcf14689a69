// The layout of src/, checked on the source: imports flow one way (mesh ← engines, cluster, certs, install ←
// admission, webhooks, kube ← controllers ← server ← cli), the two engines never import each other, no file imports itself back
// through others (within a folder either), only src/kube/ talks to the API server, and the offline commands load no
// server or Kubernetes client.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/fixtures.js';

const SRC = join(REPO_ROOT, 'src');

/** Folder → the folders it may import. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  mesh: [],
  cluster: ['mesh'],
  certs: ['mesh'],
  install: ['mesh'],
  validator: ['mesh', 'cluster'],
  injector: ['mesh', 'cluster'],
  audit: ['mesh', 'cluster', 'validator', 'injector'],
  admission: ['mesh'],
  webhooks: ['mesh', 'cluster', 'certs', 'admission', 'validator', 'injector'],
  kube: ['mesh'],
  controllers: ['mesh', 'cluster', 'certs', 'install', 'injector', 'kube'],
  server: ['mesh', 'cluster', 'certs', 'install', 'admission', 'webhooks', 'kube', 'controllers', 'injector', 'validator', 'audit'],
  cli: ['mesh', 'cluster', 'certs', 'install', 'admission', 'webhooks', 'kube', 'controllers', 'injector', 'validator', 'audit', 'server'],
};

interface Import {
  readonly from: string;
  /** a path under src/ (relative imports) or a package name */
  readonly to: string;
  readonly typeOnly: boolean;
  readonly dynamic: boolean;
}

const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(SRC, f));
const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4]!;
    const to = spec.startsWith('.') ? resolve(dirname(file), spec).replace(/\.js$/, '.ts') : spec;
    out.push({ from: file, to, typeOnly: Boolean(m[2]), dynamic: m[4] !== undefined });
  }
  return out;
}

/** What loading `entries` loads eagerly: our files, and the packages they import (types and dynamic imports are not loaded). */
function staticClosure(entries: readonly string[]): { files: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages: string[] = [];
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const i of importsOf(file)) {
      if (i.typeOnly || i.dynamic) continue;
      if (i.to.startsWith(SRC)) walk(i.to);
      else packages.push(i.to);
    }
  };
  for (const entry of entries) walk(join(SRC, entry));
  return { files: [...seen].map((f) => relative(SRC, f)), packages };
}

const folderOf = (file: string): string => relative(SRC, file).split(sep)[0]!.replace(/\.ts$/, '');
const all = files.flatMap(importsOf);

/**
 * The import circles among `edges` (file → the files it imports): every strongly connected component of more than one
 * file, or a file importing itself (Tarjan), each as its files sorted.
 */
function importCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(component.sort());
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('architecture', () => {
  it('every folder of src/ is in the layering table', () => {
    expect(new Set(files.map(folderOf))).toEqual(new Set(Object.keys(ALLOWED)));
  });

  it('imports flow one way: each folder imports only the folders below it', () => {
    const wrong = all
      .filter((i) => i.to.startsWith(SRC) && folderOf(i.to) !== folderOf(i.from) && !ALLOWED[folderOf(i.from)]!.includes(folderOf(i.to)))
      .map((i) => `${relative(SRC, i.from)} → ${relative(SRC, i.to)}`);
    expect(wrong).toEqual([]);
  });

  it('finds import circles: a file importing itself, two files, a longer ring, and not a diamond', () => {
    const g = (edges: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(edges));
    expect(importCycles(g({ a: ['a'] }))).toEqual([['a']]);
    expect(importCycles(g({ a: ['b'], b: ['a'] }))).toEqual([['a', 'b']]);
    expect(importCycles(g({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] }))).toEqual([['a', 'b', 'c']]);
    expect(importCycles(g({ a: ['b', 'c'], b: ['d'], c: ['d'], d: [] }))).toEqual([]);
  });

  it('no import circle between files anywhere in src/, within a folder too (type-only and dynamic imports count)', () => {
    // A circle through `import type` or `import()` costs nothing at run time, but a reader still cannot start anywhere.
    const edges = new Map(files.map((f) => [relative(SRC, f), importsOf(f).filter((i) => i.to.startsWith(SRC)).map((i) => relative(SRC, i.to))]));
    expect(importCycles(edges)).toEqual([]);
  });

  it('only src/kube/ holds API server paths', () => {
    const api = /['"`]\/apis?\/(v1|\$\{)|['"`]\/apis\//;
    const outside = files.filter((f) => folderOf(f) !== 'kube' && api.test(readFileSync(f, 'utf8'))).map((f) => relative(SRC, f));
    expect(outside).toEqual([]);
  });

  it('validate and explain load no server, no Kubernetes client, no logger or metrics library', () => {
    // The static (eagerly loaded) closure of what the offline commands run; dynamic imports and types are not loaded.
    const heavy = ['@kubernetes/client-node', 'pino', 'prom-client', 'express'];
    const { files: loaded, packages } = staticClosure(['cli/main.ts', 'cli/offline.ts', 'cli/explain.ts']);
    // server/options.ts is the data of serve's flags (their defaults for --help): nothing else of the server
    expect(loaded.filter((f) => (f.startsWith(`server${sep}`) && f !== join('server', 'options.ts')) || f.startsWith(`kube${sep}`))).toEqual([]);
    expect(packages.filter((p) => heavy.includes(p))).toEqual([]);
  });

  it('a standalone server does not load the Kubernetes client (about 75 MB of RSS): live mode imports it when chosen', () => {
    const { files: loaded, packages } = staticClosure(['server/run.ts']);
    expect(packages).not.toContain('@kubernetes/client-node');
    expect(loaded).not.toContain(join('server', 'live.ts'));
  });
});
