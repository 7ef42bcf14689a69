// Building AdmissionReview answers. Every answer carries the request's uid and apiVersion.
import type { Operation } from 'fast-json-patch';
import { type FieldError, formatInvalidMessage, oneLine } from '../mesh/field-errors.js';
import type { AdmissionApiVersion, AdmissionResponse, AdmissionStatus } from './review.js';

/** The API server rejects oversized warning sets; beyond this many, the rest are summarised in one line. */
export const MAX_WARNINGS = 32;

export function normalizeWarnings(warnings: readonly string[]): string[] | undefined {
  const unique = [...new Set(warnings.map((w) => w.replace(/[\r\n]+/g, ' ')))].map((w) => oneLine(w));
  if (unique.length === 0) return undefined;
  if (unique.length <= MAX_WARNINGS) return unique;
  return [...unique.slice(0, MAX_WARNINGS - 1), `${unique.length - (MAX_WARNINGS - 1)} more warnings not shown`];
}

export function encodePatch(ops: readonly Operation[]): string {
  return Buffer.from(JSON.stringify(ops), 'utf8').toString('base64');
}

export function allow(uid: string, warnings: readonly string[] = [], patch?: readonly Operation[]): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: true };
  if (patch && patch.length > 0) {
    res.patchType = 'JSONPatch';
    res.patch = encodePatch(patch);
  }
  const w = normalizeWarnings(warnings);
  if (w) res.warnings = w;
  return res;
}

export function deny(uid: string, status: Omit<AdmissionStatus, 'status'>, warnings: readonly string[] = []): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: false, status: { status: 'Failure', ...status } };
  const w = normalizeWarnings(warnings);
  if (w) res.warnings = w;
  return res;
}

/** 422 Invalid with one cause per violation: kubectl prints `The <Kind> "<name>" is invalid:` and a line per cause. */
export function denyInvalid(uid: string, target: { kind: string; group: string; name: string }, errors: readonly FieldError[], warnings: readonly string[] = []): AdmissionResponse {
  return deny(
    uid,
    {
      code: 422,
      reason: 'Invalid',
      message: formatInvalidMessage(target.kind, target.name, errors),
      details: {
        name: target.name,
        group: target.group,
        kind: target.kind,
        causes: errors.map((e) => ({ reason: e.type, field: e.field, message: e.message })),
      },
    },
    warnings,
  );
}

export function reviewOf(apiVersion: AdmissionApiVersion, response: AdmissionResponse): { apiVersion: AdmissionApiVersion; kind: 'AdmissionReview'; response: AdmissionResponse } {
  return { apiVersion, kind: 'AdmissionReview', response };
}
