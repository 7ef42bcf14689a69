// How `validate` prints its report: text (kubectl's words, each line prefixed with file:line and the object), one JSON
// document, SARIF 2.1.0 (code scanning) and GitHub workflow commands (annotations on the pull request's files).
import { isAbsolute, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { failsStrict, type LocatedCause, type LocatedWarning, type OfflineReport, type OfflineResult, type Summary } from './offline.js';
import type { InputProblem } from './input.js';

export const OUTPUT_FORMATS = ['text', 'json', 'sarif', 'github'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface FormatOptions {
  /** only what fails the run: denials, input errors, and with --strict the warnings */
  readonly quiet?: boolean;
  /** tool version, for SARIF */
  readonly version?: string;
  /** paths in SARIF are relative to this folder (the repository root in CI) */
  readonly cwd?: string;
}

/** `<kind>.<group>/<name>`, the way kubectl names objects in its output. */
export function objectName(r: Pick<OfflineResult, 'kind' | 'group' | 'name'>): string {
  const kind = (r.kind || 'object').toLowerCase();
  return `${r.group ? `${kind}.${r.group}` : kind}/${r.name || '(no name)'}`;
}

const at = (source: string, line: number): string => (line > 0 ? `${source}:${line}` : source);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function summaryLine(s: Summary): string {
  const input = s.inputErrors ? `; ${plural(s.inputErrors, 'input error')}` : '';
  return `${plural(s.objects, 'object')}: ${s.admitted} admitted, ${s.denied} denied, ${s.withWarnings} with warnings, ${s.skipped} skipped${input}`;
}

function problemLine(p: InputProblem): string {
  return p.source ? `${at(p.source, p.line)}: error: ${p.message}` : `error: ${p.message}`;
}

export function formatText(report: OfflineReport, opts: FormatOptions = {}): string {
  const lines: string[] = [];
  for (const r of report.results) {
    const prefix = (line: number): string => `${at(r.source, line)}: ${objectName(r)}: `;
    const warnings = opts.quiet ? r.warnings.filter((w) => report.strict && failsStrict(w)) : r.warnings;
    for (const w of warnings) lines.push(`${prefix(w.line)}Warning: ${w.text}`);
    if (r.status === 'denied') {
      lines.push(`${prefix(r.line)}The ${r.kind || 'object'} "${r.name}" is invalid:`);
      for (const c of r.causes) lines.push(`${prefix(c.line)}* ${c.field ? `${c.field}: ` : ''}${c.message}`);
    } else if (opts.quiet) continue;
    else if (r.status === 'skipped') lines.push(`${prefix(r.line)}skipped: not a kind this webhook validates`);
    else lines.push(`${prefix(r.line)}admitted${r.namespace ? ` (namespace ${r.namespace})` : ''}`);
  }
  for (const p of report.problems) lines.push(problemLine(p));
  if (!opts.quiet) lines.push(summaryLine(report.summary));
  return lines.join('\n') + (lines.length ? '\n' : '');
}

export function formatJson(report: OfflineReport): string {
  const objects = report.results.map((r) => ({
    ...r,
    warnings: r.warnings.map((w) => ({ field: w.field, message: w.message, rule: w.rule ?? '', line: w.line })),
    causes: r.causes.map((c) => ({ type: c.type, field: c.field, message: c.message, rule: c.rule, line: c.line })),
  }));
  return JSON.stringify({ summary: report.summary, strict: report.strict, objects, problems: report.problems }, null, 2) + '\n';
}

// ---- SARIF -------------------------------------------------------------------------------------------------------

/** A repository-relative path with forward slashes when the file is under `cwd`, else a file: URI. */
function artifactUri(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  return pathToFileURL(file).href;
}

interface SarifResult {
  ruleId: string;
  level: 'error' | 'warning';
  message: { text: string };
  locations: unknown[];
}

const INPUT_RULE = 'input-error';

export function formatSarif(report: OfflineReport, opts: FormatOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const rules = new Map<string, string>();
  const results: SarifResult[] = [];
  const location = (source: { source: string; file?: string }, line: number, logical?: string): unknown => ({
    // a stream (stdin, a rendered kustomization) has no file to point at: the object's name still does
    ...(source.file ? { physicalLocation: { artifactLocation: { uri: artifactUri(source.file, cwd) }, ...(line > 0 ? { region: { startLine: line } } : {}) } } : {}),
    ...(logical ? { logicalLocations: [{ fullyQualifiedName: logical, kind: 'object' }] } : {}),
    message: { text: at(source.source, line) },
  });
  const add = (ruleId: string, description: string, level: SarifResult['level'], text: string, loc: unknown): void => {
    if (!rules.has(ruleId)) rules.set(ruleId, description);
    results.push({ ruleId, level, message: { text }, locations: [loc] });
  };
  for (const r of report.results) {
    const name = objectName(r);
    for (const c of r.causes as LocatedCause[])
      add(c.rule || 'invalid', c.type, 'error', `${name}: ${c.field ? `${c.field}: ` : ''}${c.message}`, location(r, c.line, name));
    for (const w of r.warnings as LocatedWarning[])
      add(w.rule || 'warning', 'warning', report.strict && failsStrict(w) ? 'error' : 'warning', `${name}: ${w.text}`, location(r, w.line, name));
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

/** A path GitHub can match against the repository: relative to `cwd` when under it. */
function annotationPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : file;
}

function annotation(level: 'error' | 'warning', where: { source: string; file?: string }, line: number, title: string, message: string, cwd: string): string {
  const props = [
    ...(where.file ? [`file=${escapeProperty(annotationPath(where.file, cwd))}`] : []),
    ...(where.file && line > 0 ? [`line=${line}`] : []),
    `title=${escapeProperty(title)}`,
  ];
  // without a file the annotation lands on the run's summary; the message keeps the stream's position
  const text = where.file ? message : `${at(where.source, line)}: ${message}`;
  return `::${level} ${props.join(',')}::${escapeData(text)}`;
}

export function formatGithub(report: OfflineReport, opts: FormatOptions = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const lines: string[] = [];
  for (const r of report.results) {
    const name = objectName(r);
    for (const c of r.causes) lines.push(annotation('error', r, c.line, name, `${c.field ? `${c.field}: ` : ''}${c.message}`, cwd));
    for (const w of r.warnings) {
      const fails = report.strict && failsStrict(w);
      if (opts.quiet && !fails) continue;
      lines.push(annotation(fails ? 'error' : 'warning', r, w.line, name, w.text, cwd));
    }
  }
  for (const p of report.problems) lines.push(annotation('error', p, p.line, 'mesh-admission: input error', p.message, cwd));
  if (!opts.quiet) lines.push(summaryLine(report.summary));
  return lines.join('\n') + (lines.length ? '\n' : '');
}

export function formatReport(format: OutputFormat, report: OfflineReport, opts: FormatOptions = {}): string {
  const formatters: Record<OutputFormat, () => string> = {
    text: () => formatText(report, opts),
    json: () => formatJson(report),
    sarif: () => formatSarif(report, opts),
    github: () => formatGithub(report, opts),
  };
  return formatters[format]();
}
