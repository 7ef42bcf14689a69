// Reading Kubernetes manifests from YAML/JSON files and folders (multi-document files and `List` objects allowed): a
// cluster state, which may hold tens of thousands of objects, for the standalone server and the offline commands'
// --cluster-state. The YAML is read by yaml.ts's fast reader, with the same rules as every other input.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../mesh/errors.js';
import { isRecord, type KubeObject } from '../mesh/objects.js';
import { loadYamlValues, YamlReadError } from './yaml.js';

export interface LoadedObject {
  readonly object: KubeObject;
  /** `file` or `file#<document index>` */
  readonly source: string;
}

export class ManifestError extends InputError {
  constructor(
    /** the file or folder */
    readonly path: string,
    /** what is wrong, without the path */
    readonly detail: string,
    /** 1-based, 0 when the problem is not at a line */
    readonly line = 0,
  ) {
    super(`${path}${line > 0 ? `:${line}` : ''}: ${detail}`);
  }
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Files under each path (a folder is walked recursively, in name order so output is stable). */
export function manifestFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (p: string, explicit: boolean): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ManifestError(p, 'no such file or directory');
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
  let list: unknown[];
  try {
    list = loadYamlValues(text);
  } catch (err) {
    if (err instanceof YamlReadError) throw new ManifestError(file, `document ${err.document + 1}: ${err.problem.message}`, err.problem.line);
    throw err;
  }
  list.forEach((value, i) => {
    if (value === null || value === undefined) return;
    if (!isRecord(value)) throw new ManifestError(file, `document ${i + 1} is not a Kubernetes object`);
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
      throw new ManifestError(f, (err as Error).message);
    }
    return parseManifests(text, f);
  });
}
