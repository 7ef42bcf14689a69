// One YAML reading for every input: the same document gives the same objects through the state loader (serve and the
// offline commands' --cluster-state), -f FILE, -f - and -k, with merge keys applied and timestamps kept as strings;
// and what one path refuses, every path refuses.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readInput, readState } from '../../src/cli/input.js';
import { loadManifests } from '../../src/cluster/manifests.js';
import { loadStaticView } from '../../src/cluster/static.js';
import { loadYamlValues, parseYamlDocuments, YamlReadError } from '../../src/cluster/yaml.js';
import type { KubeObject } from '../../src/mesh/objects.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-yaml-'));

/** Every way an input reaches the engines, each returning the objects it read (or throwing what it refused). */
function readEveryWay(name: string, text: string): Record<string, KubeObject[]> {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, 'objects.yaml');
  writeFileSync(file, text);
  // a stand-in for `kubectl kustomize DIR`: prints the stream as kustomize would
  const kubectl = join(dir, `kubectl-${name}`);
  writeFileSync(kubectl, `#!/bin/sh\ncat '${file}'\n`);
  chmodSync(kubectl, 0o755);
  const objects = (input: { documents: ReadonlyArray<{ object: KubeObject }>; problems: ReadonlyArray<{ line: number; message: string }> }): KubeObject[] => {
    const p = input.problems[0];
    if (p) throw new Error(`${p.line}: ${p.message}`);
    return input.documents.map((d) => d.object);
  };
  return {
    'serve --cluster-state': loadManifests([folder]).map((l) => l.object),
    'validate --cluster-state': objects(readState(folder)),
    '-f FILE': objects(readInput({ filenames: [file] })),
    '-f -': objects(readInput({ filenames: ['-'], stdin: () => text })),
    '-k DIR': objects(readInput({ kustomizations: [folder], kubectl })),
  };
}

const ANCHORS_AND_MERGE_KEYS = `# two Egresses sharing defaults, as people write them to avoid repeating themselves
apiVersion: v1
kind: List
items:
- apiVersion: policy.flomesh.io/v1alpha1
  kind: Egress
  metadata:
    name: a
    namespace: curl
    annotations:
      deployed-at: 2024-05-01T10:00:00Z
      day: 2024-05-01
  spec: &spec
    sources:
    - {kind: ServiceAccount, name: curl, namespace: curl}
    hosts: [httpbin.org]
    ports:
    - &http {number: 80, protocol: http}
- apiVersion: policy.flomesh.io/v1alpha1
  kind: Egress
  metadata: {name: b, namespace: curl}
  spec:
    <<: *spec
    hosts: [example.com]
    ports:
    - <<: *http
      number: 8080
---
apiVersion: v1
kind: ConfigMap
metadata: {name: scalars, namespace: curl}
data:
  yes: yes
  on: on
  mode: 0644
  octal: 0o17
  hex: 0x1F
  float: 1e3
  tilde: ~
  empty:
  quoted: "2024-05-01"
  big: 12345678901234567890
  folded: >
    one
    two
`;

describe('one YAML reading for every input', () => {
  it('reads the same objects through each path: merge keys applied, timestamps as strings, YAML 1.2 scalars', () => {
    const ways = readEveryWay('merge', ANCHORS_AND_MERGE_KEYS);
    const [first, ...rest] = Object.values(ways);
    for (const other of rest) expect(other).toEqual(first);
    const [a, b, scalars] = first!;
    expect(a!.metadata?.annotations).toEqual({ 'deployed-at': '2024-05-01T10:00:00Z', day: '2024-05-01' });
    // explicit keys win over merged ones; the merged keys are there, no `<<` key is left
    expect(b!.spec).toEqual({
      sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
      hosts: ['example.com'],
      ports: [{ number: 8080, protocol: 'http' }],
    });
    expect((scalars as KubeObject & { data: unknown }).data).toEqual({
      yes: 'yes',
      on: 'on',
      mode: 644,
      octal: 15,
      hex: 31,
      float: 1000,
      tilde: null,
      empty: null,
      quoted: '2024-05-01',
      big: 12345678901234567890,
      folded: 'one two\n',
    });
  });

  it('a file without anchors or templates (the fast reading) gives what the careful reading gives', () => {
    const plain = ANCHORS_AND_MERGE_KEYS.replace(/&\w+ ?/g, '').replace(/<<: \*\w+\n\s*/g, '');
    const fast = loadYamlValues(plain);
    const careful = parseYamlDocuments(plain).documents.map((d) => d.value);
    expect(fast).toEqual(careful);
    expect(fast).toHaveLength(2);
    // and the server's view holds them placed in their namespaces
    const folder = join(dir, 'plain');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'x.yaml'), plain);
    expect(loadStaticView(folder).get('ConfigMap', 'curl', 'scalars')).toEqual(fast[1]);
  });

  it('what the careful reading refuses, every path refuses, with the same line', () => {
    const refused: Array<[string, string, string]> = [
      ['template', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n', '4: document 1: a map or list used as a map key'],
      ['collection-key', 'apiVersion: v1\nkind: ConfigMap\n? [a, b]\n: c\n', '3: document 1: a map or list used as a map key'],
      ['unknown-tag', 'apiVersion: v1\nkind: Secret\ndata:\n  key: !!binary aGk=\n', '4: document 1: unknown tag !<tag:yaml.org,2002:binary>'],
      ['duplicate-key', 'apiVersion: v1\nkind: ConfigMap\nkind: Secret\n', '3: document 1: Map keys must be unique'],
      [
        'alias-bomb',
        `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
        '1: document 1: Excessive alias count indicates a resource exhaustion attack',
      ],
    ];
    for (const [name, text, message] of refused) {
      const folder = join(dir, `refused-${name}`);
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'x.yaml'), text);
      const [line] = message.split(':');
      expect(() => loadManifests([folder]), name).toThrow(`${join(folder, 'x.yaml')}:${message}`);
      const state = readState(folder).problems;
      const file = readInput({ filenames: [join(folder, 'x.yaml')] }).problems;
      const stdin = readInput({ filenames: ['-'], stdin: () => text }).problems;
      for (const problems of [state, file, stdin]) {
        expect(problems, name).toHaveLength(1);
        expect(problems[0]!.line, name).toBe(Number(line));
        expect(problems[0]!.message.startsWith(message.slice(line!.length + 2)), `${name}: ${problems[0]!.message}`).toBe(true);
      }
    }
    expect(() => loadYamlValues('a: 1\n---\nb: !foo x\n')).toThrow(YamlReadError);
    expect(() => loadYamlValues('a: 1\n---\nb: !foo x\n')).toThrow('line 3: document 2: unknown tag !<!foo>');
  });
});
