// `mesh-admission validate`: the webhook's rules offline as a CI gate. Every line names its object and file:line; exit
// codes 0 clean, 1 denied (or warnings with --strict), 2 input or usage errors.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-cli-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** The environment of a CI job that has no cluster: validate judges offline unless told otherwise. */
const { KUBECONFIG: _kubeconfig, ...offlineEnv } = process.env;

function cli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    input: opts.input ?? '',
    env: opts.env ?? offlineEnv,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const validate = (...args: string[]) => cli(['validate', ...args]);

const BAD_PLUGIN = `apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  name: deny-a
spec:
  priority: 70000
  pipyscript: ""
`;

const GOOD_PLUGIN = `apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  name: ok
spec:
  priority: 10
  pipyscript: "pipy()"
`;

const CONFLICTING_EGRESSES = `apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata:
  name: db-server-first
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  ipAddresses: [10.0.0.0/24]
  ports:
  - number: 3306
    protocol: tcp-server-first
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata:
  name: db-http
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  hosts: [db.example.com]
  ports:
  - number: 3306
    protocol: http
`;

const TYPOS = `apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  name: typos
spec:
  priorty: 10
  pipyScript: "pipy()"
  pipyscript: "pipy()"
`;

/** What a Helm chart looks like before `helm template`: valid YAML around a template, then a broken line. */
const WITH_TEMPLATES = `${GOOD_PLUGIN}---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Values.name }}
---
{{- if .Values.enabled }}
kind: [
---
${BAD_PLUGIN.replace('deny-a', 'deny-b')}`;

interface JsonReport {
  summary: { objects: number; admitted: number; denied: number; skipped: number; withWarnings: number; unverified: number; suppressed: number; skippedSources: { noObjects: number; kustomizations: number; helmCharts: number }; inputErrors: number };
  objects: Array<{ source: string; line: number; kind: string; name: string; status: string; allowed: boolean; warnings: Array<{ field: string; message: string; line: number }>; causes: Array<{ field: string; message: string; rule: string; line: number }> }>;
  problems: Array<{ source: string; line: number; message: string }>;
}

describe('mesh-admission validate: verdicts and exit codes', () => {
  it('exits 0 and prints one admitted line per object for valid seed policies, then the summary', () => {
    const r = validate('-f', 'examples/seeds/003-plugin-iam', '--cluster-state', 'examples/cluster');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('examples/seeds/003-plugin-iam/03-plugin-token-verifier.yaml:1: plugin.plugin.flomesh.io/token-verifier: admitted\n');
    // skipped objects are counted, not listed, unless asked for
    expect(r.stdout).not.toContain('deployment.apps/ext-auth');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('8 objects: 7 admitted, 0 denied, 1 skipped (4 with warnings)');
    const listed = validate('-f', 'examples/seeds/003-plugin-iam', '--cluster-state', 'examples/cluster', '--show-skipped');
    expect(listed.stdout).toContain('examples/seeds/003-plugin-iam/01-deployment-ext-auth.yaml:1: deployment.apps/ext-auth: skipped: not a kind this webhook validates\n');
  });

  it('exits 1 and prints what kubectl would print for a denial, every line with file:line and the object', () => {
    const p = file('bad-plugin.yaml', BAD_PLUGIN);
    const r = validate('-f', p);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `${p}:1: plugin.plugin.flomesh.io/deny-a: The Plugin "deny-a" is invalid:\n` +
        `${p}:7: plugin.plugin.flomesh.io/deny-a: * spec.pipyscript: Required value: plugin[deny-a.] is missing pipy script [plugin-script]\n` +
        `${p}:6: plugin.plugin.flomesh.io/deny-a: * spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]\n` +
        '1 object: 0 admitted, 1 denied, 0 skipped\n',
    );
  });

  it('counts the given objects as present: two conflicting Egresses deny each other (one JSON document)', () => {
    const p = file('egresses.yaml', CONFLICTING_EGRESSES);
    const r = validate('-f', p, '-o', 'json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as JsonReport;
    expect(out.objects.map((o) => [o.name, o.line, o.allowed])).toEqual([
      ['db-server-first', 1, false],
      ['db-http', 16, false],
    ]);
    expect(out.objects[0]?.causes).toContainEqual(expect.objectContaining({ field: 'spec.ports[0]', line: 13, message: 'port 3306 is tcp-server-first here but http in Egress curl/db-http (same source ServiceAccount curl/curl)' }));
    expect(out.summary).toEqual({ objects: 2, admitted: 0, denied: 2, skipped: 0, withWarnings: 0, unverified: 0, suppressed: 0, skippedSources: { noObjects: 0, kustomizations: 0, helmCharts: 0 }, inputErrors: 0 });
    expect(out.problems).toEqual([]);
  });

  it('exits 2 on a missing file and on a bad flag (never 1, which means denied)', () => {
    const missing = validate('-f', join(dir, 'missing.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain(`${join(dir, 'missing.yaml')}: error: no such file or directory\n`);
    const bad = validate('-f', file('ok.yaml', GOOD_PLUGIN), '--no-such-flag');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error: unknown option '--no-such-flag'");
    expect(validate('-f', file('ok2.yaml', GOOD_PLUGIN), '-o', 'yaml').code).toBe(2);
    const none = validate();
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('error: give the manifests as arguments, with -f PATH, -f - (standard input) or -k DIR\n');
  });

  it('empty input is an input error (exit 2) that says so: a CI gate must not pass on nothing', () => {
    const r = validate('-f', '-');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('<stdin>: error: no objects found in the input\n0 objects: 0 admitted, 0 denied, 0 skipped; 1 input error\n');
    const json = JSON.parse(validate('-f', file('comments.yaml', '# nothing here\n---\n'), '-o', 'json').stdout) as JsonReport;
    expect(json.summary.objects).toBe(0);
    expect(json.problems).toEqual([{ source: join(dir, 'comments.yaml'), line: 0, message: 'no objects found in the input' }]);
  });
});

describe('mesh-admission validate: input', () => {
  it('reads standard input with -f -, multi-document streams and Lists', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- ${GOOD_PLUGIN.replace('name: ok', 'name: in-list').trimEnd().split('\n').join('\n  ')}\n`;
    const r = cli(['validate', '-f', '-', '-o', 'json'], { input: `${GOOD_PLUGIN}---\n${list}` });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as JsonReport;
    expect(out.objects.map((o) => [o.source, o.line, o.name, o.status])).toEqual([
      ['<stdin>', 1, 'ok', 'admitted'],
      ['<stdin>', 12, 'in-list', 'admitted'],
    ]);
  });

  it('reports an unparsable document with its file and line and validates the rest', () => {
    const p = file('chart.yaml', WITH_TEMPLATES);
    const r = validate('-f', p);
    expect(r.code).toBe(2);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toContain(`${p}:1: plugin.plugin.flomesh.io/ok: admitted`);
    expect(lines).toContain(`${p}:12: error: document 2: a map or list used as a map key: an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)`);
    expect(lines.some((l) => l.startsWith(`${p}:14: error: document 3: `))).toBe(true);
    expect(lines).toContain(`${p}:17: plugin.plugin.flomesh.io/deny-b: The Plugin "deny-b" is invalid:`);
    expect(lines.at(-1)).toBe('2 objects: 1 admitted, 1 denied, 0 skipped; 2 input errors');
    // -o json is still one valid document, with the problems in it
    const json = JSON.parse(validate('-f', p, '-o', 'json').stdout) as JsonReport;
    expect(json.summary).toMatchObject({ objects: 2, admitted: 1, denied: 1, skipped: 0, withWarnings: 0, inputErrors: 2 });
    expect(json.problems.map((x) => [x.line, x.message.slice(0, 11)])).toEqual([
      [12, 'document 2:'],
      [14, 'document 3:'],
    ]);
  });

  it('refuses to read a kustomization folder as loose files, and renders it with -k through kubectl', () => {
    const k = join(dir, 'kustomize');
    mkdirSync(k, { recursive: true });
    writeFileSync(join(k, 'kustomization.yaml'), 'resources: [plugin.yaml]\n');
    writeFileSync(join(k, 'plugin.yaml'), GOOD_PLUGIN);
    const loose = validate('-f', k);
    expect(loose.code).toBe(2);
    expect(loose.stdout).toContain(`${k}: error: a kustomization: validate what it renders with -k ${k}\n`);
    // a stub kubectl on PATH: what `kubectl kustomize DIR` prints is what gets validated
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const log = join(dir, 'kubectl-args');
    const stub = join(bin, 'kubectl');
    writeFileSync(stub, `#!/bin/sh\necho "$@" > '${log}'\ncat <<'EOF'\n${GOOD_PLUGIN}---\n${BAD_PLUGIN}EOF\n`);
    chmodSync(stub, 0o755);
    const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
    const r = cli(['validate', '-k', k], { env });
    expect(readFileSync(log, 'utf8')).toBe(`kustomize ${k}\n`);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`kustomize ${k}:1: plugin.plugin.flomesh.io/ok: admitted\n`);
    expect(r.stdout).toContain(`kustomize ${k}:9: plugin.plugin.flomesh.io/deny-a: The Plugin "deny-a" is invalid:\n`);
  });

  it('says clearly when kubectl is not there to render -k', () => {
    const empty = join(dir, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'validate', '-k', 'manifests'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, PATH: empty } });
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('kustomize manifests: error: kubectl is not on PATH (it renders kustomizations): install kubectl, or pipe `kustomize build manifests` into -f -\n');
  });
});

describe('mesh-admission validate: what the API server would refuse', () => {
  it('unknown fields are warnings with a did-you-mean, on their own lines', () => {
    const p = file('typos.yaml', TYPOS);
    const r = validate('-f', p);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${p}:6: plugin.plugin.flomesh.io/typos: Warning: spec.priorty: unknown field; did you mean "spec.priority"? [unknown-field]\n` +
        `${p}:7: plugin.plugin.flomesh.io/typos: Warning: spec.pipyScript: unknown field; did you mean "spec.pipyscript"? [unknown-field]\n` +
        `${p}:1: plugin.plugin.flomesh.io/typos: admitted\n` +
        '1 object: 1 admitted, 0 denied, 0 skipped (1 with warnings)\n',
    );
  });

  it('--strict makes unknown fields deny (exit 1), like kubectl --validate=strict', () => {
    const p = file('typos-strict.yaml', TYPOS);
    const r = validate('-f', p, '--strict');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${p}:6: plugin.plugin.flomesh.io/typos: * spec.priorty: unknown field; did you mean "spec.priority"? [unknown-field]\n`);
    // a plain warning (not an unknown field) fails a strict run too, the object itself is admitted
    const warned = file('warned.yaml', CONFLICTING_EGRESSES.split('---')[0]!.replace('protocol: tcp-server-first', 'protocol: https'));
    expect(validate('-f', warned).code).toBe(0);
    const strict = validate('-f', warned, '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain(': admitted');
  });

  it('a mistyped group or kind, an unpublished version and a missing name are errors', () => {
    const p = file(
      'apiversions.yaml',
      [
        'apiVersion: policy.flomseh.io/v1alpha1\nkind: Egress\nmetadata: {name: a, namespace: curl}\n',
        'apiVersion: policy.flomesh.io/v1alpha1\nkind: egress\nmetadata: {name: b, namespace: curl}\n',
        'apiVersion: policy.flomesh.io/v1alpha9\nkind: Egress\nmetadata: {name: c, namespace: curl}\n',
        'apiVersion: plugin.flomesh.io/v1alpha1\nkind: Plugin\nspec: {pipyscript: "pipy()"}\n',
        // neither a mistake nor a checked kind: another group's kind, a kind of a mesh group this tool does not check
        'apiVersion: gateway.flomesh.io/v1alpha1\nkind: Egress\nmetadata: {name: d}\n',
        'apiVersion: specs.smi-spec.io/v1alpha4\nkind: UDPRoute\nmetadata: {name: e}\n',
      ].join('---\n'),
    );
    const r = validate('-f', p, '-o', 'json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as JsonReport;
    expect(out.objects.map((o) => [o.line, o.status, o.causes.map((c) => `${c.field}: ${c.message}`)])).toEqual([
      [1, 'denied', ['apiVersion: Unsupported value: "policy.flomseh.io/v1alpha1": no API group policy.flomseh.io; did you mean "policy.flomesh.io/v1alpha1"?']],
      [5, 'denied', ['kind: Unsupported value: "egress": no kind egress in policy.flomesh.io; did you mean "Egress"?']],
      [9, 'denied', ['apiVersion: Unsupported value: "policy.flomesh.io/v1alpha9": Egress is not served in version v1alpha9 of policy.flomesh.io; supported values: "policy.flomesh.io/v1alpha1"']],
      [13, 'denied', ['metadata.name: Required value: name or generateName is required']],
      [17, 'skipped', []],
      [21, 'skipped', []],
    ]);
  });

  it('the seed documents and the example cluster have no unknown field', () => {
    const r = validate('-f', 'examples/seeds', '-f', 'examples/cluster', '-f', 'examples/pods', '--cluster-state', 'examples/cluster', '--strict', '-q', '-o', 'json');
    const out = JSON.parse(r.stdout) as JsonReport;
    expect(out.objects.flatMap((o) => o.causes.filter((c) => c.rule === 'unknown-field'))).toEqual([]);
    expect(out.problems).toEqual([]);
  });
});

describe('mesh-admission validate: output for CI', () => {
  const p = (): string => file('mixed.yaml', `${GOOD_PLUGIN}---\n${BAD_PLUGIN}---\n${TYPOS}`);

  it('--quiet prints only what fails, and the summary', () => {
    const f = p();
    const r = validate('-f', f, '-q');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `${f}:9: plugin.plugin.flomesh.io/deny-a: The Plugin "deny-a" is invalid:\n` +
        `${f}:15: plugin.plugin.flomesh.io/deny-a: * spec.pipyscript: Required value: plugin[deny-a.] is missing pipy script [plugin-script]\n` +
        `${f}:14: plugin.plugin.flomesh.io/deny-a: * spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]\n` +
        '3 objects: 2 admitted, 1 denied, 0 skipped (1 with warnings)\n',
    );
    expect(validate('-f', file('quiet-ok.yaml', GOOD_PLUGIN), '-q')).toMatchObject({ code: 0, stdout: '1 object: 1 admitted, 0 denied, 0 skipped\n' });
  });

  it('-o sarif is a SARIF 2.1.0 log with a result per cause and warning, located by file and line', () => {
    const f = p();
    const r = validate('-f', f, '-o', 'sarif');
    expect(r.code).toBe(1);
    const sarif = JSON.parse(r.stdout) as { version: string; $schema: string; runs: Array<{ tool: { driver: { name: string; version: string; rules: Array<{ id: string }> } }; results: Array<{ ruleId: string; level: string; message: { text: string }; locations: Array<{ physicalLocation?: { artifactLocation: { uri: string }; region: { startLine: number } }; logicalLocations: Array<{ fullyQualifiedName: string }> }> }> }> };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/);
    const run = sarif.runs[0]!;
    expect(run.tool.driver.name).toBe('mesh-admission');
    expect(run.tool.driver.version).toBe(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version);
    const uri = relative(REPO_ROOT, f).startsWith('..') ? `file://${f}` : relative(REPO_ROOT, f);
    expect(run.results.map((x) => [x.ruleId, x.level, x.locations[0]!.physicalLocation!.artifactLocation.uri, x.locations[0]!.physicalLocation!.region.startLine, x.locations[0]!.logicalLocations[0]!.fullyQualifiedName])).toEqual([
      ['plugin-script', 'error', uri, 15, 'plugin.plugin.flomesh.io/deny-a'],
      ['plugin-priority-range', 'error', uri, 14, 'plugin.plugin.flomesh.io/deny-a'],
      ['unknown-field', 'warning', uri, 22, 'plugin.plugin.flomesh.io/typos'],
      ['unknown-field', 'warning', uri, 23, 'plugin.plugin.flomesh.io/typos'],
    ]);
    expect(run.results[2]!.message.text).toBe('plugin.plugin.flomesh.io/typos: spec.priorty: unknown field; did you mean "spec.priority"?');
    expect(new Set(run.tool.driver.rules.map((x) => x.id))).toEqual(new Set(run.results.map((x) => x.ruleId)));
  });

  it('-o github prints workflow commands that annotate the file and line', () => {
    const f = p();
    const r = validate('-f', f, '-o', 'github');
    expect(r.code).toBe(1);
    const rel = relative(REPO_ROOT, f).startsWith('..') ? f : relative(REPO_ROOT, f);
    expect(r.stdout.split('\n')).toEqual([
      `::error file=${rel},line=15,title=plugin.plugin.flomesh.io/deny-a::spec.pipyscript: Required value: plugin[deny-a.] is missing pipy script [plugin-script]`,
      `::error file=${rel},line=14,title=plugin.plugin.flomesh.io/deny-a::spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]`,
      `::warning file=${rel},line=22,title=plugin.plugin.flomesh.io/typos::spec.priorty: unknown field; did you mean "spec.priority"? [unknown-field]`,
      `::warning file=${rel},line=23,title=plugin.plugin.flomesh.io/typos::spec.pipyScript: unknown field; did you mean "spec.pipyscript"? [unknown-field]`,
      '3 objects: 2 admitted, 1 denied, 0 skipped (1 with warnings)',
      '',
    ]);
  });

  it('version', () => {
    const version = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
    expect(cli(['version'])).toMatchObject({ code: 0, stdout: `mesh-admission ${version}\n` });
    expect(cli(['--version'])).toMatchObject({ code: 0, stdout: `mesh-admission ${version}\n` });
  });
});
