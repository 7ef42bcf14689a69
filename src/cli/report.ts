// How `validate` prints its report: text (kubectl's words, each line prefixed with file:line and the object, each
// finding followed by its rule id), one JSON document, SARIF 2.1.0 (code scanning), GitHub workflow commands
// (annotations on the pull request's files) and JUnit XML (GitLab, Jenkins).
import { isAbsolute, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { failsStrict, STATE_FLAGS, type LocatedCause, type LocatedWarning, type OfflineReport, type OfflineResult, type Summary } from './offline.js';
import type { InputProblem, SkippedSource } from './input.js';

export const OUTPUT_FORMATS = ['text', 'json', 'sarif', 'github', 'junit'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface FormatOptions {
  /** only what fails the run (denials, input errors, and with --strict the warnings), then the summary */
  readonly quiet?: boolean;
  /** skipped objects and the files and folders read past, each on a line (text) */
  readonly showSkipped?: boolean;
  /** tool version, for SARIF */
  readonly version?: string;
  /** paths in SARIF and annotations are relative to this folder (the repository root in CI) */
  readonly cwd?: string;
}

/** `<kind>.<group>/<name>`, the way kubectl names objects in its output. */
export function objectName(r: Pick<OfflineResult, 'kind' | 'group' | 'name'>): string {
  const kind = (r.kind || 'object').toLowerCase();
  return `${r.group ? `${kind}.${r.group}` : kind}/${r.name || '(no name)'}`;
}

const at = (source: string, line: number): string => (line > 0 ? `${source}:${line}` : source);
const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;
const withRule = (text: string, rule: string | undefined): string => (rule ? `${text} [${rule}]` : text);

/** What an unverified finding lacks, and how to give it. */
export const UNVERIFIED_HINT = `not in the input, and no cluster state to check it against: give ${STATE_FLAGS}`;

/** A warning as printed after the object's name: `Warning: …` or `Unverified: …`, with its rule id. */
export function warningText(w: LocatedWarning): string {
  return w.unverified ? `Unverified: ${withRule(w.text, w.rule)} (${UNVERIFIED_HINT})` : `Warning: ${withRule(w.text, w.rule)}`;
}

const causeText = (c: LocatedCause): string => withRule(`${c.field ? `${c.field}: ` : ''}${c.message}`, c.rule);

/**
 * `3 objects: 1 admitted, 1 denied, 1 skipped (2 with warnings, 1 unverified); read past: 2 files without Kubernetes
 * objects; 1 input error` — the three verdicts add up to the objects; the parenthesis counts some of them again.
 */
export function summaryLine(s: Summary): string {
  const among = [
    ...(s.withWarnings ? [`${s.withWarnings} with warnings`] : []),
    ...(s.unverified ? [`${s.unverified} unverified`] : []),
    ...(s.suppressed ? [plural(s.suppressed, 'finding') + ' suppressed'] : []),
  ];
  const { noObjects, kustomizations, helmCharts } = s.skippedSources;
  const readPast = [
    ...(noObjects ? [plural(noObjects, 'file') + ' without Kubernetes objects'] : []),
    ...(kustomizations ? [plural(kustomizations, 'kustomization')] : []),
    ...(helmCharts ? [plural(helmCharts, 'Helm chart')] : []),
  ];
  return (
    `${plural(s.objects, 'object')}: ${s.admitted} admitted, ${s.denied} denied, ${s.skipped} skipped` +
    (among.length ? ` (${among.join(', ')})` : '') +
    (readPast.length ? `; read past: ${readPast.join(', ')}` : '') +
    (s.inputErrors ? `; ${plural(s.inputErrors, 'input error')}` : '')
  );
}

function problemLine(p: InputProblem): string {
  return p.source ? `${at(p.source, p.line)}: error: ${p.message}` : `error: ${p.message}`;
}

const skippedLine = (s: SkippedSource): string => `${s.source}: skipped: ${s.message}`;

export function formatText(report: OfflineReport, opts: FormatOptions = {}): string {
  const lines: string[] = [];
  for (const r of report.results) {
    const prefix = (line: number): string => `${at(r.source, line)}: ${objectName(r)}: `;
    const warnings = opts.quiet ? r.warnings.filter((w) => report.strict && failsStrict(w)) : r.warnings;
    for (const w of warnings) lines.push(`${prefix(w.line)}${warningText(w)}`);
    if (r.status === 'denied') {
      lines.push(`${prefix(r.line)}The ${r.kind || 'object'} "${r.name}" is invalid:`);
      for (const c of r.causes) lines.push(`${prefix(c.line)}* ${causeText(c)}`);
    } else if (r.status === 'skipped') {
      // asked for by name, it is listed with --quiet too
      if (opts.showSkipped) lines.push(`${prefix(r.line)}skipped: not a kind this webhook validates`);
    } else if (!opts.quiet) lines.push(`${prefix(r.line)}admitted${r.namespace ? ` (namespace ${r.namespace})` : ''}`);
  }
  if (opts.showSkipped) for (const s of report.skipped) lines.push(skippedLine(s));
  for (const p of report.problems) lines.push(problemLine(p));
  lines.push(summaryLine(report.summary));
  return lines.join('\n') + '\n';
}

export function formatJson(report: OfflineReport): string {
  const objects = report.results.map((r) => ({
    ...r,
    warnings: r.warnings.map((w) => ({ field: w.field, message: w.message, rule: w.rule ?? '', line: w.line, unverified: w.unverified === true })),
    causes: r.causes.map((c) => ({ type: c.type, field: c.field, message: c.message, rule: c.rule, line: c.line })),
  }));
  return JSON.stringify({ summary: report.summary, strict: report.strict, objects, skipped: report.skipped, problems: report.problems }, null, 2) + '\n';
}

/** A repository-relative path with forward slashes when the file is under `cwd`, else undefined. */
function repoPath(file: string, cwd: string): string | undefined {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : undefined;
}

/** Where a finding is, for tools that point into files: the file, and the line when it is the file's. */
interface Place {
  readonly source: string;
  readonly file?: string;
  readonly renderedLines?: boolean;
}
const fileLine = (where: Place, line: number): number => (where.file && !where.renderedLines && line > 0 ? line : 0);

// ---- SARIF -------------------------------------------------------------------------------------------------------

interface SarifResult {
  ruleId: string;
  level: 'error' | 'warning';
  message: { text: string };
  locations: unknown[];
  properties?: Record<string, unknown>;
}

const INPUT_RULE = 'input-error';

export function formatSarif(report: OfflineReport, opts: FormatOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const rules = new Map<string, string>();
  const results: SarifResult[] = [];
  const location = (where: Place, line: number, logical?: string): unknown => {
    const l = fileLine(where, line);
    return {
      // a stream (stdin) has no file to point at: the object's name still does
      ...(where.file ? { physicalLocation: { artifactLocation: { uri: repoPath(where.file, cwd) ?? pathToFileURL(where.file).href }, ...(l > 0 ? { region: { startLine: l } } : {}) } } : {}),
      ...(logical ? { logicalLocations: [{ fullyQualifiedName: logical, kind: 'object' }] } : {}),
      message: { text: at(where.source, line) },
    };
  };
  const add = (ruleId: string, description: string, level: SarifResult['level'], text: string, loc: unknown, properties?: Record<string, unknown>): void => {
    if (!rules.has(ruleId)) rules.set(ruleId, description);
    results.push({ ruleId, level, message: { text }, locations: [loc], ...(properties ? { properties } : {}) });
  };
  for (const r of report.results) {
    const name = objectName(r);
    for (const c of r.causes) add(c.rule || 'invalid', c.type, 'error', `${name}: ${c.field ? `${c.field}: ` : ''}${c.message}`, location(r, c.line, name));
    for (const w of r.warnings)
      add(
        w.rule || 'warning',
        'warning',
        report.strict && failsStrict(w) ? 'error' : 'warning',
        `${name}: ${w.unverified ? `unverified: ${w.text} (${UNVERIFIED_HINT})` : w.text}`,
        location(r, w.line, name),
        w.unverified ? { unverified: true } : undefined,
      );
  }
  for (const p of report.problems) add(INPUT_RULE, 'input that cannot be read', 'error', p.message, location(p, p.line));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'mesh-admission',
            ...(opts.version ? { version: opts.version, semanticVersion: opts.version } : {}),
            rules: [...rules].map(([id, text]) => ({ id, shortDescription: { text } })),
          },
        },
        results,
        properties: { summary: report.summary },
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + '\n';
}

// ---- GitHub workflow commands ----------------------------------------------------------------------------------

const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string): string => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

function annotation(level: 'error' | 'warning', where: Place, line: number, title: string, message: string, cwd: string): string {
  const l = fileLine(where, line);
  const props = [...(where.file ? [`file=${escapeProperty(repoPath(where.file, cwd) ?? where.file)}`] : []), ...(l > 0 ? [`line=${l}`] : []), `title=${escapeProperty(title)}`];
  // without the file's own line the annotation lands on the file (or the run's summary): the message keeps the position
  const text = l > 0 ? message : `${at(where.source, line)}: ${message}`;
  return `::${level} ${props.join(',')}::${escapeData(text)}`;
}

export function formatGithub(report: OfflineReport, opts: FormatOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const lines: string[] = [];
  for (const r of report.results) {
    const name = objectName(r);
    for (const c of r.causes) lines.push(annotation('error', r, c.line, name, causeText(c), cwd));
    for (const w of r.warnings) {
      const fails = report.strict && failsStrict(w);
      if (opts.quiet && !fails) continue;
      lines.push(annotation(fails ? 'error' : 'warning', r, w.line, name, warningText(w).replace(/^Warning: /, ''), cwd));
    }
  }
  for (const p of report.problems) lines.push(annotation('error', p, p.line, 'mesh-admission: input error', p.message, cwd));
  lines.push(summaryLine(report.summary));
  return lines.join('\n') + '\n';
}

// ---- JUnit XML -----------------------------------------------------------------------------------------------------

const xml = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // XML 1.0 has no way to write most control characters
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

interface Case {
  readonly name: string;
  readonly classname: string;
  readonly file?: string;
  readonly line: number;
  readonly failure?: { message: string; type: string; body: string };
  readonly error?: { message: string; body: string };
  readonly skipped?: string;
  readonly out?: string;
}

/**
 * JUnit XML as GitLab and Jenkins read it: a test suite per source, a test case per object (failed when denied, or
 * with --strict when it has a warning; skipped when not a kind this webhook validates; warnings and unverified
 * findings otherwise in its output), a test case with an error per input problem.
 */
export function formatJunit(report: OfflineReport, opts: FormatOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const suites = new Map<string, Case[]>();
  const add = (suite: string, c: Case): void => void (suites.get(suite) ?? suites.set(suite, []).get(suite)!).push(c);
  for (const r of report.results) {
    const name = objectName(r);
    const file = r.file ? (repoPath(r.file, cwd) ?? r.file) : undefined;
    const lines = [...r.causes.map((c) => `${at(r.source, c.line)}: * ${causeText(c)}`), ...r.warnings.map((w) => `${at(r.source, w.line)}: ${warningText(w)}`)];
    const strictFailures = report.strict ? r.warnings.filter(failsStrict) : [];
    const base = { name, classname: at(r.source, r.line), ...(file ? { file } : {}), line: fileLine(r, r.line) };
    if (r.status === 'denied') add(r.source, { ...base, failure: { message: `The ${r.kind || 'object'} "${r.name}" is invalid: ${r.causes.map(causeText).join('; ')}`, type: r.causes[0]?.rule ?? 'denied', body: lines.join('\n') } });
    else if (strictFailures.length) add(r.source, { ...base, failure: { message: strictFailures.map((w) => warningText(w)).join('; '), type: strictFailures[0]!.rule ?? 'warning', body: lines.join('\n') } });
    else if (r.status === 'skipped') add(r.source, { ...base, skipped: 'not a kind this webhook validates' });
    else add(r.source, { ...base, ...(lines.length ? { out: lines.join('\n') } : {}) });
  }
  for (const p of report.problems) {
    const file = p.file ? (repoPath(p.file, cwd) ?? p.file) : undefined;
    add(p.source || 'input', { name: 'input', classname: at(p.source, p.line), ...(file ? { file } : {}), line: p.line, error: { message: p.message, body: problemLine(p) } });
  }
  const attrs = (o: Record<string, string | number | undefined>): string =>
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}="${xml(String(v))}"`)
      .join('');
  const count = (cases: readonly Case[]) => ({
    tests: cases.length,
    failures: cases.filter((c) => c.failure).length,
    errors: cases.filter((c) => c.error).length,
    skipped: cases.filter((c) => c.skipped !== undefined).length,
  });
  const all = [...suites.values()].flat();
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites${attrs({ name: 'mesh-admission validate', ...count(all) })}>`];
  for (const [suite, cases] of suites) {
    out.push(`  <testsuite${attrs({ name: suite, ...count(cases) })}>`);
    for (const c of cases) {
      const open = `    <testcase${attrs({ name: c.name, classname: c.classname, file: c.file, line: c.line > 0 ? c.line : undefined })}`;
      const body = [
        ...(c.failure ? [`      <failure${attrs({ message: c.failure.message, type: c.failure.type })}>${xml(c.failure.body)}</failure>`] : []),
        ...(c.error ? [`      <error${attrs({ message: c.error.message, type: 'input-error' })}>${xml(c.error.body)}</error>`] : []),
        ...(c.skipped !== undefined ? [`      <skipped${attrs({ message: c.skipped })}/>`] : []),
        ...(c.out ? [`      <system-out>${xml(c.out)}</system-out>`] : []),
      ];
      out.push(body.length ? `${open}>\n${body.join('\n')}\n    </testcase>` : `${open}/>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

export function formatReport(format: OutputFormat, report: OfflineReport, opts: FormatOptions = {}): string {
  const formatters: Record<OutputFormat, () => string> = {
    text: () => formatText(report, opts),
    json: () => formatJson(report),
    sarif: () => formatSarif(report, opts),
    github: () => formatGithub(report, opts),
    junit: () => formatJunit(report, opts),
  };
  return formatters[format]();
}
