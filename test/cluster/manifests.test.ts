// The state loader (serve and the offline commands' --cluster-state): multi-document files, List objects, folders in
// name order, and a clear error naming the file and the line for what cannot be read.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests, ManifestError, parseManifests } from '../../src/cluster/manifests.js';

describe('manifest loader', () => {
  it('reads multi-document YAML, JSON and List objects, skipping empty documents, with their source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifests-'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: c\n');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'x' } }] }));
    writeFileSync(join(dir, 'sub', 'c.yml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: d}\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
    const loaded = loadManifests([dir]);
    expect(loaded.map((l) => [l.object.metadata?.name, l.source.slice(dir.length + 1)])).toEqual([
      ['s', 'a.json'],
      ['b', 'b.yaml#1'],
      ['c', 'b.yaml#3'],
      ['d', join('sub', 'c.yml')],
    ]);
  });

  it('names the file, the document and the line of a YAML error, as -f does; a scalar document is not an object', () => {
    expect(() => parseManifests('apiVersion: v1\nkind: [Namespace\nmetadata: {}\n', 'state/broken.yaml')).toThrow(ManifestError);
    expect(() => parseManifests('apiVersion: v1\nkind: [Namespace\nmetadata: {}\n', 'state/broken.yaml')).toThrow(
      new ManifestError('state/broken.yaml', 'document 1: Flow sequence in block collection must be sufficiently indented and end with a ]', 3),
    );
    expect(() => parseManifests('a: 1\n---\na: 1\na: 2\n', 'dup.yaml')).toThrow('dup.yaml:4: document 2: Map keys must be unique');
    expect(() => parseManifests('a: 1\nb: !!binary aGk=\n', 'tag.yaml')).toThrow('tag.yaml:2: document 1: unknown tag !<tag:yaml.org,2002:binary>');
    expect(() => parseManifests('--- just text\n', 'scalar.yaml')).toThrow('scalar.yaml: document 1 is not a Kubernetes object');
    expect(() => loadManifests(['/nonexistent/state'])).toThrow('/nonexistent/state: no such file or directory');
  });
});
