// The repository explains itself with what it holds: no comment, test, bench, script or document cites a document
// that is not in it (design notes kept elsewhere, their numbered sections, gaps and fixes), every Markdown file a text
// names exists in the repository, and every link into docs/ (and every link of README.md and docs/) reaches an
// existing file and, with an #anchor, an existing heading. The examples below are assembled from pieces, so that this
// file passes its own check.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/fixtures.js';

/** What is read: everything a maintainer reads next to the code. */
const SCANNED = ['src', 'test', 'bench', 'scripts', 'docs', 'README.md'];
const TEXT = /\.(ts|md|json|ya?ml|js|txt)$/;

function filesUnder(path: string): string[] {
  const abs = join(REPO_ROOT, path);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [abs];
  return (readdirSync(abs, { recursive: true }) as string[]).map((f) => join(abs, f)).filter((f) => TEXT.test(f) && statSync(f).isFile());
}

const SECTION_SIGN = '\u00a7';
const MD = '.md';

/**
 * Citations of documents outside the repository, as `file:line: what: text`: section signs followed by a number, the
 * gap numbers of the validator notes (a G and 1 to 19), the fix numbers of the injection notes, paths into a `shared`
 * folder beside the checkout, and Markdown files found neither beside the citing file nor at that path from the root
 * of the repository.
 */
export function foreignCitations(file: string, text: string): string[] {
  const out: string[] = [];
  const patterns: ReadonlyArray<readonly [RegExp, string]> = [
    [new RegExp(`${SECTION_SIGN}\\s?\\d`, 'g'), 'a section number of a document'],
    [/\b(?:gaps? )?G(?:[1-9]|1\d)\b/g, 'a gap number of the validator notes'],
    [/\bfix(?:es)? \d+\b/g, 'a fix number of the injection notes'],
    [/(?:\.\.\/)*\bshared\/(?:spec|reference|seeds|fixtures)\b/g, 'a path outside the repository'],
  ];
  text.split('\n').forEach((line, i) => {
    const at = `${relative(REPO_ROOT, file)}:${i + 1}`;
    for (const [re, what] of patterns) for (const m of line.matchAll(re)) out.push(`${at}: ${what}: ${m[0]}`);
    // a Markdown file's name, not a property access in code (`${x.md}`) nor part of a URL
    for (const m of line.matchAll(/(?<![\w$.{/:-])((?:\.{1,2}\/)*[\w-]+(?:\/[\w.-]+)*\.md)(?![\w/])/g)) {
      const name = m[1]!;
      if (/https?:\/\/\S*$/.test(line.slice(0, m.index))) continue;
      const inRepo = (p: string): boolean => !relative(REPO_ROOT, p).startsWith('..') && existsSync(p);
      if (!inRepo(join(REPO_ROOT, name)) && !inRepo(resolve(dirname(file), name))) out.push(`${at}: a document the repository does not have: ${name}`);
    }
  });
  return out;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, each space a hyphen. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a Markdown text defines: its headings' slugs (repeats numbered as GitHub does) and `<a id>`s. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = headingSlug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(a[1]!);
  }
  return anchors;
}

/**
 * The links of a text that must resolve, as [target file, anchor or '', where]: `docs/….md[#anchor]` written
 * anywhere, and in Markdown files every link to a local `.md` file or to `#anchor` of the same file.
 */
export function links(file: string, text: string): Array<readonly [string, string, string]> {
  const out: Array<readonly [string, string, string]> = [];
  text.split('\n').forEach((line, i) => {
    const at = `${relative(REPO_ROOT, file)}:${i + 1}`;
    for (const m of line.matchAll(/(?<![\w/.-])docs\/([\w./-]+\.md)(?:#([\w-]+))?/g)) out.push([join(REPO_ROOT, 'docs', m[1]!), m[2] ?? '', at] as const);
    if (!file.endsWith('.md')) return;
    for (const m of line.matchAll(/\]\(([^)\s#]*)(?:#([^)\s]+))?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      if (target === '') out.push([file, m[2] ?? '', at] as const);
      else if (target.endsWith('.md')) out.push([resolve(dirname(file), target), m[2] ?? '', at] as const);
    }
  });
  return out;
}

const scanned = SCANNED.flatMap(filesUnder);

describe('the repository cites only what it holds', () => {
  it('reads the citations it must refuse, and lets the repository\'s own documents through', () => {
    const file = join(REPO_ROOT, 'src', 'x.ts');
    const [server, injection, gaps, g5, fix] = [`server${MD}`, `injection${MD}`, `gaps ${'G'}3`, `${'G'}5`, `${'fix'} 6`];
    expect(foreignCitations(file, `// the defaults of ${server} ${SECTION_SIGN}6 (${gaps}, ${g5}); ${injection} ${SECTION_SIGN}9 ${fix}`)).toEqual([
      `src/x.ts:1: a section number of a document: ${SECTION_SIGN}6`,
      `src/x.ts:1: a section number of a document: ${SECTION_SIGN}9`,
      `src/x.ts:1: a gap number of the validator notes: ${gaps}`,
      `src/x.ts:1: a gap number of the validator notes: ${g5}`,
      `src/x.ts:1: a fix number of the injection notes: ${fix}`,
      `src/x.ts:1: a document the repository does not have: ${server}`,
      `src/x.ts:1: a document the repository does not have: ${injection}`,
    ]);
    // the notes beside the checkout exist, but not in the repository
    const outside = `../${'shared'}/reference/fsm-injector${MD}`;
    expect(foreignCitations(file, `// see ${outside}`)).toEqual([
      `src/x.ts:1: a path outside the repository: ../${'shared'}/reference`,
      `src/x.ts:1: a document the repository does not have: ${outside}`,
    ]);
    expect(foreignCitations(file, `// docs/injection${MD}#probes, bench/RESULTS${MD}, README${MD}, \`\${r${MD}}\`, https://x.io/a${MD}`)).toEqual([]);
  });

  it('no file under src/, test/, bench/, scripts/, docs/ or README.md cites a document the repository does not have', () => {
    expect(scanned.length).toBeGreaterThan(100);
    expect(scanned.flatMap((f) => foreignCitations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });
});

describe('links into docs/ and between the documents resolve', () => {
  it('makes anchors as GitHub does', () => {
    expect(headingSlug("Where this server differs from the mesh's own injector")).toBe('where-this-server-differs-from-the-meshs-own-injector');
    expect(headingSlug('(b) The bootstrap Secret from the pod watch')).toBe('b-the-bootstrap-secret-from-the-pod-watch');
    expect(headingSlug('The offline `validate` command only (`src/cli/`)')).toBe('the-offline-validate-command-only-srccli');
    expect([...anchorsOf('# A\n## Probes\n```\n# not a heading\n```\n## Probes\n| <a id="rule-x"></a> |')]).toEqual(['a', 'probes', 'probes-1', 'rule-x']);
  });

  it('finds the links to check, and not the ones that are not local', () => {
    const md = join(REPO_ROOT, 'docs', `x${MD}`);
    expect(links(md, `see [probes](injection${MD}#probes), [top](#top), [web](https://k8s.io/a${MD}) and docs/architecture${MD}#shutdown`)).toEqual([
      [join(REPO_ROOT, 'docs', `architecture${MD}`), 'shutdown', `docs/x${MD}:1`],
      [join(REPO_ROOT, 'docs', `injection${MD}`), 'probes', `docs/x${MD}:1`],
      [md, 'top', `docs/x${MD}:1`],
    ]);
  });

  it('every link reaches an existing file and, with an anchor, an existing heading', () => {
    const anchors = new Map<string, Set<string>>();
    const broken: string[] = [];
    let checked = 0;
    for (const f of scanned)
      for (const [target, anchor, at] of links(f, readFileSync(f, 'utf8'))) {
        checked++;
        if (!existsSync(target)) {
          broken.push(`${at}: ${relative(REPO_ROOT, target)} does not exist`);
          continue;
        }
        if (!anchor) continue;
        if (!anchors.has(target)) anchors.set(target, anchorsOf(readFileSync(target, 'utf8')));
        if (!anchors.get(target)!.has(anchor)) broken.push(`${at}: ${relative(REPO_ROOT, target)} has no heading #${anchor}`);
      }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});
