// Reading Kubernetes manifests from YAML/JSON files and folders (multi-document files and `List` objects allowed).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { InputError } from '../mesh/errors.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';

export interface LoadedObject {
  readonly object: KubeObject;
  /** `file` or `file#<document index>` */
  readonly source: string;
}

export class ManifestError extends InputError {}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Files under each path (a folder is walked recursively, in name order so output is stable). */
export function manifestFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (p: string, explicit: boolean): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ManifestError(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      for (const entry of readdirSync(p).sort()) walk(join(p, entry), false);
    } else if (explicit || MANIFEST_FILE.test(p)) files.push(p);
  };
  for (const p of paths) walk(p, true);
  return files;
}

export function parseManifests(text: string, file: string): LoadedObject[] {
  const out: LoadedObject[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    if (doc.errors.length > 0) throw new ManifestError(`${file}: document ${i + 1}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (!isRecord(value)) throw new ManifestError(`${file}: document ${i + 1} is not a Kubernetes object`);
    const source = list.length > 1 ? `${file}#${i + 1}` : file;
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      for (const item of value.items) if (isRecord(item)) out.push({ object: item as KubeObject, source });
    } else out.push({ object: value as KubeObject, source });
  });
  return out;
}

export function loadManifests(paths: readonly string[]): LoadedObject[] {
  return manifestFiles(paths).flatMap((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new ManifestError(`${f}: ${(err as Error).message}`);
    }
    return parseManifests(text, f);
  });
}
