// How an audit reads: text for people (findings grouped by object, the summary last), JSON for tools (the same data,
// as the CLI prints it and the server serves it on /audit, capped in size).
import type { AuditReport, Finding, Severity } from './audit.js';

export interface AuditSummary {
  readonly errors: number;
  readonly warnings: number;
  readonly objects: number;
  readonly pods: number;
  readonly notChecked: readonly string[];
}

export interface AuditJson {
  readonly summary: AuditSummary;
  readonly findings: readonly Finding[];
  /** findings left out to keep the document bounded (the summary still counts them) */
  readonly truncated?: number;
}

export function summarize(report: AuditReport): AuditSummary {
  const count = (s: Severity): number => report.findings.filter((f) => f.severity === s).length;
  return { errors: count('error'), warnings: count('warning'), objects: report.objects, pods: report.pods, notChecked: report.notChecked };
}

/** `Kind namespace/name` (or `Kind name` when cluster-scoped). */
export function objectRef(f: Pick<Finding, 'kind' | 'namespace' | 'name'>): string {
  return `${f.kind} ${f.namespace ? `${f.namespace}/` : ''}${f.name}`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function summaryLine(s: AuditSummary): string {
  return `${plural(s.errors, 'error')}, ${plural(s.warnings, 'warning')} in ${plural(s.objects, 'policy object')} and ${plural(s.pods, 'pod')}`;
}

/** Findings grouped by object, one line each (`severity  field: message  [rule]`), then the summary. */
export function formatAuditText(report: AuditReport): string {
  const lines: string[] = [];
  let current = '';
  for (const f of report.findings) {
    const ref = objectRef(f);
    if (ref !== current) {
      if (current) lines.push('');
      lines.push(ref);
      current = ref;
    }
    lines.push(`  ${f.severity.padEnd(7)} ${f.field ? `${f.field}: ` : ''}${f.message}  [${f.rule}]`);
  }
  if (lines.length) lines.push('');
  const summary = summarize(report);
  lines.push(`${summaryLine(summary)}.`);
  for (const what of summary.notChecked) lines.push(`Not checked: ${what}.`);
  return `${lines.join('\n')}\n`;
}

/** The report as JSON data, at most `maxFindings` findings (the summary counts all of them). */
export function auditJson(report: AuditReport, maxFindings = Number.POSITIVE_INFINITY): AuditJson {
  const summary = summarize(report);
  if (report.findings.length <= maxFindings) return { summary, findings: report.findings };
  return { summary, findings: report.findings.slice(0, maxFindings), truncated: report.findings.length - maxFindings };
}
