// The captured AdmissionReview requests kept in test/fixtures/admission (provenance in its README).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../..');
export const FIXTURES_DIR = join(REPO_ROOT, 'test/fixtures/admission');

export interface Fixture {
  file: string;
  review: { apiVersion: string; kind: string; request: { uid: string; kind: { group: string; kind: string }; object: Record<string, unknown> | null; oldObject: Record<string, unknown> | null; dryRun?: boolean; namespace?: string; name?: string } };
  raw: string;
}

export function fixtureFiles(): string[] {
  return readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function loadFixture(file: string): Fixture {
  const raw = readFileSync(join(FIXTURES_DIR, file), 'utf8');
  return { file, raw, review: JSON.parse(raw) };
}

/** Pod requests go to the mutating webhook, everything else to the validating one. */
export const webhookPathFor = (file: string): string => (file.startsWith('pod-') ? '/mutate-pod-creation' : '/validate');

/** `request.object` of a captured review, as the validator's unit tests take it. */
export function fixtureObject<T = Record<string, unknown>>(file: string): T {
  return loadFixture(file).review.request.object as T;
}
