// validate and explain as a CI gate in the repositories people have: nothing passes unverified by accident, a
// repository is read as it is (arguments, hidden folders, --exclude/--include, files without objects, templates),
// -k results point at the source files, the conventions of kubectl/istioctl/kubeconform, what the API server refuses
// first, and explain -o yaml that leaves what it does not change byte for byte.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { locateOrigins, parseSource, pathMatcher, readInput } from '../../src/cli/input.js';
import { kubectlKubeconfig, liveKubeconfig } from '../../src/cli/kubeconfig.js';
import { judgeOffline } from '../../src/cli/offline.js';
import { formatJunit } from '../../src/cli/report.js';
import { MAX_OBJECT_BYTES } from '../../src/cli/schema.js';
import { meshIdentity } from '../../src/mesh/flavor.js';
import { ABSENCE_RULES } from '../../src/validator/absence.js';
import { REPO_ROOT } from '../support/fixtures.js';

const { KUBECONFIG: _kubeconfig, ...offlineEnv } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'mesh-admission-gate-'));

/** tsx by its file: a command run in another folder (a repository under test) cannot resolve the package name. */
const TSX = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

function cli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, ['--import', TSX, join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    input: opts.input ?? '',
    env: opts.env ?? offlineEnv,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes files under a new folder; returns the folder. */
function tree(name: string, files: Record<string, string>): string {
  const root = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const PLUGIN = (name: string, priority = 10): string => `apiVersion: plugin.flomesh.io/v1alpha1\nkind: Plugin\nmetadata:\n  name: ${name}\nspec:\n  priority: ${priority}\n  pipyscript: "pipy()"\n`;
const CHAIN = `apiVersion: plugin.flomesh.io/v1alpha1
kind: PluginChain
metadata:
  name: chain
  namespace: curl
spec:
  chains:
  - name: inbound-http
    plugins: [token-verifier]
  selectors:
    podSelector: {matchLabels: {app: curl}}
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: curl}}
`;
const HINT = '(not in the input, and no cluster state to check it against: give --cluster-state DIR or --kubeconfig FILE)';

describe('1. nothing passes unverified by accident', () => {
  it('a finding that needs the cluster is unverified without state: it names the flags, is counted, and fails --strict', () => {
    const gtp = 'examples/seeds/000-smi-access-control/09-globaltrafficpolicy-httpbin.yaml';
    const r = cli(['validate', gtp]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${gtp}:8: globaltrafficpolicy.flomesh.io/httpbin: Unverified: spec.targets: clusterKey references not verified (no ServiceImport httpbin/httpbin and no Cluster known yet): default/default/default/cluster-1, default/default/default/cluster-3 [gtp-cluster-key-unverified] ${HINT}\n` +
        `${gtp}:4: globaltrafficpolicy.flomesh.io/httpbin: Unverified: metadata.name: no Service or ServiceImport httpbin/httpbin exists yet, so this policy governs nothing (it applies to the Service/ServiceImport of the same namespace and name) [gtp-governs-nothing] ${HINT}\n` +
        `${gtp}:1: globaltrafficpolicy.flomesh.io/httpbin: admitted (namespace httpbin)\n` +
        '1 object: 1 admitted, 0 denied, 0 skipped (1 with warnings, 1 unverified)\n',
    );
    const strict = cli(['validate', gtp, '--strict', '-q']);
    expect(strict.code).toBe(1);
    expect(strict.stdout.trimEnd().split('\n').at(-1)).toBe('1 object: 1 admitted, 0 denied, 0 skipped (1 with warnings, 1 unverified)');
    // with the cluster's state the same finding is a fact (a plain warning), or is gone
    const state = tree('gtp-state', { 'ns.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: httpbin}\n' });
    const checked = cli(['validate', gtp, '--cluster-state', state]);
    expect(checked.stdout).toContain(`${gtp}:8: globaltrafficpolicy.flomesh.io/httpbin: Warning: spec.targets: clusterKey references not verified`);
    expect(checked.stdout).not.toContain('Unverified');
    expect(cli(['validate', gtp, '--cluster-state', 'examples/cluster', '-o', 'json']).stdout).toContain('"unverified": 0');
  });

  it('an object the input holds is verified: a reference inside one change needs no state', () => {
    const f = join(tree('together', { 'x.yaml': `${PLUGIN('token-verifier')}---\n${CHAIN}` }), 'x.yaml');
    const r = cli(['validate', f, '-o', 'json']);
    const out = JSON.parse(r.stdout) as { summary: { unverified: number }; objects: Array<{ warnings: Array<{ rule: string; unverified: boolean }> }> };
    expect(out.summary.unverified).toBe(0);
    const alone = JSON.parse(cli(['validate', '-f', '-', '-o', 'json'], { input: CHAIN }).stdout) as typeof out;
    expect(alone.summary.unverified).toBe(1);
    expect(alone.objects[0]!.warnings).toContainEqual(expect.objectContaining({ rule: 'pluginchain-plugin-missing', unverified: true }));
  });

  it('a Service in a namespace nothing describes was not checked at all: said, and unverified', () => {
    const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: data}\nspec:\n  ports: [{port: 3306, appProtocol: mysql}]\n';
    const r = cli(['validate', '-f', '-'], { input: svc });
    expect(r.stdout).toContain(`<stdin>:3: service/db: Unverified: metadata.namespace: namespace data is not known, so the mesh's Service checks did not run (they apply in monitored namespaces only) [namespace-unknown] ${HINT}\n`);
    // with the Namespace in the input the checks run (and find the unhandled appProtocol)
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: data, labels: {flomesh.io/monitored-by: fsm}}\n---\n';
    const withNs = cli(['validate', '-f', '-'], { input: ns + svc });
    expect(withNs.stdout).not.toContain('Unverified');
    expect(withNs.stdout).toContain('[service-app-protocol]');
  });

  it('explain on a namespace it does not know says how to give it, counts it, and fails --strict', () => {
    const r = cli(['explain', 'examples/pods/01-pod-curl.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'examples/pods/01-pod-curl.yaml:4: Pod curl/curl: UNVERIFIED SKIP — namespace curl is not known: give it with --cluster-state DIR or --kubeconfig FILE, or put the Namespace in the input\n' +
        '1 pod or template: 0 inject, 1 skip, 0 deny (1 unverified)\n',
    );
    expect(cli(['explain', 'examples/pods/01-pod-curl.yaml', '--strict']).code).toBe(1);
    // the Namespace in the input is the third way
    const ns = join(tree('explain-ns', { 'ns.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: curl\n  labels: {flomesh.io/monitored-by: fsm}\n  annotations: {flomesh.io/sidecar-injection: enabled}\n' }), 'ns.yaml');
    const given = cli(['explain', 'examples/pods/01-pod-curl.yaml', ns, '--strict']);
    expect(given.code).toBe(0);
    expect(given.stdout).toContain('Pod curl/curl: INJECT — sidecar injected');
    expect(given.stdout.trimEnd().split('\n').at(-1)).toBe('1 pod or template: 1 inject, 0 skip, 0 deny');
  });

  it('every absence rule is a rule the validator has', () => {
    const sources = ['egress', 'ingress', 'multicluster', 'plugin', 'smi', 'upstream'].map((f) => readFileSync(join(REPO_ROOT, 'src/validator', `${f}.ts`), 'utf8')).join('\n');
    for (const rule of ABSENCE_RULES) expect(sources, rule).toContain(`'${rule}'`);
  });
});

describe('2. repositories as they are', () => {
  const repo = (): string =>
    tree(`repo-${Math.random().toString(36).slice(2)}`, {
      '.github/workflows/ci.yml': 'name: ci\non: [push]\njobs:\n  validate:\n    runs-on: ubuntu-latest\n    steps:\n    - run: npx mesh-admission validate .\n',
      'chart/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
      'chart/values.yaml': 'name: web\n',
      'chart/templates/egress.yaml': 'apiVersion: policy.flomesh.io/v1alpha1\nkind: Egress\nmetadata:\n  name: {{ .Release.Name }}-egress\n',
      'deploy/base/kustomization.yaml': 'resources: [plugin.yaml]\n',
      'deploy/base/plugin.yaml': PLUGIN('ok'),
      'config/settings.yaml': 'log: debug\nitems: [a, b]\n',
      'config/package.json': '{"name": "x"}\n',
      'policies/plugin.yaml': PLUGIN('policy'),
      'policies/notes.tpl': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.x }}\n',
    });

  it('a normal repository passes: hidden folders, files without objects, charts and kustomizations are read past and counted', () => {
    const root = repo();
    const r = cli(['validate', root, '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('1 object: 1 admitted, 0 denied, 0 skipped; read past: 2 files without Kubernetes objects, 1 kustomization, 1 Helm chart\n');
    const shown = cli(['validate', root, '--show-skipped']);
    expect(shown.stdout.split('\n')).toEqual([
      `${join(root, 'policies/plugin.yaml')}:1: plugin.plugin.flomesh.io/policy: admitted`,
      `${join(root, 'chart')}: skipped: a Helm chart: validate what it renders: helm template ${join(root, 'chart')} | mesh-admission validate -f -`,
      `${join(root, 'config/package.json')}: skipped: no Kubernetes object in this file (no document names an apiVersion or a kind)`,
      `${join(root, 'config/settings.yaml')}: skipped: no Kubernetes object in this file (no document names an apiVersion or a kind)`,
      `${join(root, 'deploy/base')}: skipped: a kustomization: validate what it renders with -k ${join(root, 'deploy/base')}`,
      '1 object: 1 admitted, 0 denied, 0 skipped; read past: 2 files without Kubernetes objects, 1 kustomization, 1 Helm chart',
      '',
    ]);
    // asked for by name, the listing survives --quiet (the admitted object does not)
    const quiet = cli(['validate', root, '--show-skipped', '-q']).stdout.split('\n');
    expect(quiet).toEqual(shown.stdout.split('\n').slice(1));
    // --strict: what was read past is an input error
    const strict = cli(['validate', root, '--strict', '-q']);
    expect(strict.code).toBe(2);
    expect(strict.stdout).toContain(`${join(root, 'config/settings.yaml')}: error: no Kubernetes object in this file (no document names an apiVersion or a kind)\n`);
    expect(strict.stdout.trimEnd().split('\n').at(-1)).toBe('1 object: 1 admitted, 0 denied, 0 skipped; 4 input errors');
  });

  it('files as arguments (and with -f); a hidden folder named is read; a folder to render named is an error', () => {
    const root = repo();
    expect(cli(['validate', join(root, 'policies/plugin.yaml'), '-f', join(root, 'deploy/base/plugin.yaml'), '-q']).stdout).toBe('2 objects: 2 admitted, 0 denied, 0 skipped\n');
    const hidden = cli(['validate', join(root, '.github'), '-q']);
    expect(hidden).toMatchObject({ code: 2 });
    expect(hidden.stdout).toBe(`${join(root, '.github')}: error: no objects found in the input\n0 objects: 0 admitted, 0 denied, 0 skipped; read past: 1 file without Kubernetes objects; 1 input error\n`);
    const chart = cli(['validate', join(root, 'chart')]);
    expect(chart.code).toBe(2);
    expect(chart.stdout).toContain(`${join(root, 'chart')}: error: a Helm chart: validate what it renders: helm template ${join(root, 'chart')} | mesh-admission validate -f -\n`);
  });

  it('--exclude and --include: a name at any depth, or a path from the working directory', () => {
    const root = repo();
    const cases: Array<[string[], string]> = [
      [['--exclude', 'policies'], '.: error: no objects found in the input\n'],
      [['--exclude', 'policies/**'], '.: error: no objects found in the input\n'],
      [['--exclude', './policies/'], '.: error: no objects found in the input\n'],
      [['--exclude', 'plugin.yaml'], '.: error: no objects found in the input\n'],
      [['--include', '*.tpl'], 'policies/notes.tpl:4: error: document 1: a map or list used as a map key: an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)\n'],
    ];
    for (const [flags, says] of cases) {
      const r = cli(['validate', '.', ...flags, '-q'], { cwd: root });
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stdout, flags.join(' ')).toContain(says);
    }
    // a path pattern that names another folder leaves this one alone
    expect(cli(['validate', '.', '--exclude', 'config/policies/**', '-q'], { cwd: root }).code).toBe(0);
    const m = pathMatcher(['chart', 'deploy/**', './x/*.yaml'], '/repo');
    expect(['/repo/chart', '/repo/a/b/chart', '/repo/deploy/base/k.yaml', '/repo/x/y.yaml'].map(m!)).toEqual([true, true, true, true]);
    expect(['/repo/charts', '/repo/a/deploy/k.yaml', '/repo/x/z/y.yaml'].map(m!)).toEqual([false, false, false]);
  });

  it('an unrendered template gets the hint whatever shape it gives the YAML', () => {
    const text = [
      'apiVersion: policy.flomesh.io/v1alpha1\nkind: Egress\nmetadata:\n  name: {{ .Release.Name }}-egress\n',
      '{{- if .Values.enabled }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n{{- end }}\n',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.a | quote }}\n',
    ].join('---\n');
    const r = parseSource({ name: 't.yaml', text });
    expect(r.problems.map((p) => [p.line, p.message])).toEqual([
      [4, 'document 1: Unexpected scalar at node end: an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)'],
      [6, 'document 2: Block collections are not allowed within flow collections: an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)'],
      [18, 'document 3: a map or list used as a map key: an unrendered template ({{ ... }})? Render it first (helm template, kustomize build)'],
    ]);
  });
});

describe('3. -k results point at the source files', () => {
  /** What `kustomize build` prints with `buildMetadata: [originAnnotations]` (kustomize v5). */
  const rendered = `apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: ../../base/plugins.yaml
  name: prod-bad
spec:
  pipyscript: pipy()
  priority: 70000
---
apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: plugins/remote.yaml
      repo: https://github.com/example/mesh-config
      ref: v1.2.0
  name: prod-remote
spec:
  pipyscript: ""
  priority: 10
---
apiVersion: plugin.flomesh.io/v1alpha1
kind: Plugin
metadata:
  name: no-origin
spec:
  pipyscript: ""
  priority: 10
`;
  const setup = (): { root: string; overlay: string; env: NodeJS.ProcessEnv } => {
    const root = tree(`k-${Math.random().toString(36).slice(2)}`, {
      'deploy/base/kustomization.yaml': 'resources: [plugins.yaml]\n',
      'deploy/base/plugins.yaml': `${PLUGIN('other')}---\n# the one that is too high\n${PLUGIN('bad', 70000)}`,
      'deploy/overlays/prod/kustomization.yaml': 'resources: [../../base]\nnamePrefix: prod-\nbuildMetadata: [originAnnotations]\n',
      'bin/kubectl': `#!/bin/sh\ncat <<'EOF'\n${rendered}EOF\n`,
    });
    chmodSync(join(root, 'bin/kubectl'), 0o755);
    return { root, overlay: join(root, 'deploy/overlays/prod'), env: { ...offlineEnv, PATH: `${join(root, 'bin')}${delimiter}${process.env.PATH ?? ''}` } };
  };

  it('text, GitHub annotations and SARIF name the file and line an origin annotation points at; else the kustomization file', () => {
    const { root, overlay, env } = setup();
    const base = join(root, 'deploy/base/plugins.yaml');
    const kfile = join(overlay, 'kustomization.yaml');
    const text = cli(['validate', '-k', overlay], { env });
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n')).toEqual([
      `${base}:10: plugin.plugin.flomesh.io/prod-bad: The Plugin "prod-bad" is invalid:`,
      `${base}:15: plugin.plugin.flomesh.io/prod-bad: * spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]`,
      `kustomize ${overlay}:12: plugin.plugin.flomesh.io/prod-remote: The Plugin "prod-remote" is invalid:`,
      `kustomize ${overlay}:22: plugin.plugin.flomesh.io/prod-remote: * spec.pipyscript: Required value: plugin[prod-remote.] is missing pipy script [plugin-script]`,
      `kustomize ${overlay}:25: plugin.plugin.flomesh.io/no-origin: The Plugin "no-origin" is invalid:`,
      `kustomize ${overlay}:30: plugin.plugin.flomesh.io/no-origin: * spec.pipyscript: Required value: plugin[no-origin.] is missing pipy script [plugin-script]`,
      '3 objects: 0 admitted, 3 denied, 0 skipped',
      '',
    ]);
    // run from the repository's root, as CI does: annotations and SARIF name files from there
    const rel = (p: string): string => relative(root, p);
    const github = cli(['validate', '-k', overlay, '-o', 'github'], { env, cwd: root }).stdout.split('\n');
    expect(github.slice(0, 3)).toEqual([
      `::error file=${rel(base)},line=15,title=plugin.plugin.flomesh.io/prod-bad::spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]`,
      `::error file=${rel(kfile)},title=plugin.plugin.flomesh.io/prod-remote::kustomize ${overlay}:22: spec.pipyscript: Required value: plugin[prod-remote.] is missing pipy script [plugin-script]`,
      `::error file=${rel(kfile)},title=plugin.plugin.flomesh.io/no-origin::kustomize ${overlay}:30: spec.pipyscript: Required value: plugin[no-origin.] is missing pipy script [plugin-script]`,
    ]);
    type Sarif = { runs: Array<{ results: Array<{ locations: Array<{ physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } } }> }> }> };
    const sarif = JSON.parse(cli(['validate', '-k', overlay, '-o', 'sarif'], { env, cwd: root }).stdout) as Sarif;
    expect(sarif.runs[0]!.results.map((x) => x.locations[0]!.physicalLocation)).toEqual([
      { artifactLocation: { uri: rel(base) }, region: { startLine: 15 } },
      { artifactLocation: { uri: rel(kfile) } },
      { artifactLocation: { uri: rel(kfile) } },
    ]);
    const json = JSON.parse(cli(['validate', '-k', overlay, '-o', 'json'], { env }).stdout) as { objects: Array<{ origin?: string }> };
    expect(json.objects.map((o) => o.origin)).toEqual(['../../base/plugins.yaml', 'https://github.com/example/mesh-config//plugins/remote.yaml?ref=v1.2.0', undefined]);
  });

  it('an origin file that does not hold the object by kind and name gives the file without a line', () => {
    const { root, overlay } = setup();
    writeFileSync(join(root, 'deploy/base/plugins.yaml'), `${PLUGIN('a')}---\n${PLUGIN('b')}`);
    const docs = parseSource({ name: `kustomize ${overlay}`, text: rendered }).documents;
    const [bad] = locateOrigins(docs, overlay);
    expect(bad).toMatchObject({ source: join(root, 'deploy/base/plugins.yaml'), file: join(root, 'deploy/base/plugins.yaml'), line: 0 });
    expect(bad!.renderedLines).toBeUndefined();
    expect(bad!.lineOf('spec.priority')).toBe(0);
  });

  it.skipIf(spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status !== 0)('with the real kubectl kustomize, the overlay points back into its base', () => {
    const root = tree(`k-real-${Math.random().toString(36).slice(2)}`, {
      'base/kustomization.yaml': 'resources: [plugins.yaml]\n',
      'base/plugins.yaml': `${PLUGIN('other')}---\n${PLUGIN('bad', 70000)}`,
      'prod/kustomization.yaml': 'resources: [../base]\nnamePrefix: prod-\nbuildMetadata: [originAnnotations]\n',
    });
    const r = cli(['validate', '-k', join(root, 'prod'), '-q']);
    expect(r.stdout).toContain(`${join(root, 'base/plugins.yaml')}:14: plugin.plugin.flomesh.io/prod-bad: * spec.priority: Invalid value: 70000`);
  });
});

describe('4. the conventions of the tools people use', () => {
  it('-n places objects without a namespace; an object naming another one is refused, as kubectl apply -n refuses it', () => {
    const input = `${CHAIN.replace('  namespace: curl\n', '')}---\n${CHAIN.replace('name: chain', 'name: elsewhere').replace('namespace: curl', 'namespace: other')}`;
    const r = cli(['validate', '-f', '-', '-n', 'team-a'], { input });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('<stdin>:1: pluginchain.plugin.flomesh.io/chain: admitted (namespace team-a)\n');
    expect(r.stdout).toContain(
      '<stdin>:17: pluginchain.plugin.flomesh.io/elsewhere: * metadata.namespace: Invalid value: "other": the namespace from the provided object does not match the namespace "team-a" given with -n (kubectl apply -n team-a refuses it) [namespace-mismatch]\n',
    );
    const explain = cli(['explain', 'examples/pods/01-pod-curl.yaml', '-n', 'curl', '--cluster-state', 'examples/cluster', '-o', 'json']);
    expect((JSON.parse(explain.stdout) as { results: Array<{ object: string }> }).results[0]!.object).toBe('Pod curl/curl');
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n';
    const placed = cli(['explain', '-f', '-', '-n', 'curl', '--cluster-state', 'examples/cluster'], { input: pod });
    expect(placed.stdout).toContain('<stdin>:1: Pod curl/p: INJECT');
  });

  it('which kubeconfig: --kubeconfig, $KUBECONFIG (its files that exist), ~/.kube/config only when asked or for audit', () => {
    const home = tree('home', { '.kube/config': 'x' });
    const a = join(tree('kc', { a: 'x' }), 'a');
    const env = (v?: string): NodeJS.ProcessEnv => (v === undefined ? {} : { KUBECONFIG: v });
    expect(liveKubeconfig({}, { env: env(), home })).toBeUndefined();
    expect(liveKubeconfig({ context: 'c' }, { env: env(), home })).toEqual({ files: [join(home, '.kube/config')], from: '~/.kube/config' });
    expect(liveKubeconfig({}, { env: env(`${join(dir, 'missing')}${delimiter}${a}`), home })).toEqual({ files: [a], from: '$KUBECONFIG' });
    expect(liveKubeconfig({ kubeconfig: 'f' }, { env: env(a), home })).toEqual({ files: ['f'], from: '--kubeconfig' });
    expect(liveKubeconfig({ kubeconfig: false }, { env: env(a), home })).toBeUndefined();
    expect(liveKubeconfig({ clusterState: 's' }, { env: env(a), home })).toBeUndefined();
    expect(() => liveKubeconfig({}, { env: env(join(dir, 'missing')), home })).toThrow(`$KUBECONFIG names no file that exists: ${join(dir, 'missing')}`);
    expect(() => liveKubeconfig({ context: 'c' }, { env: env(), home: join(dir, 'nohome') })).toThrow('--context c: no kubeconfig to find it in: give --kubeconfig FILE or set KUBECONFIG');
    expect(kubectlKubeconfig(undefined, { env: env(), home })).toEqual({ files: [join(home, '.kube/config')], from: '~/.kube/config' });
    expect(kubectlKubeconfig(undefined, { env: env(), home: join(dir, 'nohome') })).toBeUndefined();
  });

  it('--suppress and the annotation silence warnings (counted, kept in JSON), never a denial; a suppression that matched nothing is said', () => {
    const annotated = CHAIN.replace('  namespace: curl\n', '  namespace: curl\n  annotations:\n    mesh-admission.io/suppress: "pluginchain-plugin-missing, other-rule"\n');
    const r = cli(['validate', '-f', '-'], { input: annotated });
    expect(r.stdout).toBe('<stdin>:1: pluginchain.plugin.flomesh.io/chain: admitted (namespace curl)\n1 object: 1 admitted, 0 denied, 0 skipped (1 finding suppressed)\n');
    const flagged = cli(['validate', '-f', '-', '--suppress', 'pluginchain-plugin-missing,plugin-priority-range', '--suppress', 'nothing-like-this', '-o', 'json'], { input: `${CHAIN}---\n${PLUGIN('high', 70000)}` });
    expect(flagged.code).toBe(1);
    const out = JSON.parse(flagged.stdout) as { summary: { suppressed: number }; objects: Array<{ status: string; suppressed: Array<{ rule: string; line: number }> }> };
    expect(out.summary.suppressed).toBe(1);
    expect(out.objects.map((o) => [o.status, o.suppressed])).toEqual([
      ['admitted', [{ rule: 'pluginchain-plugin-missing', field: 'spec.chains[0].plugins[0]', message: 'Plugin token-verifier does not exist: proxies skip it until a Plugin of that name is created', line: 9 }]],
      ['denied', []],
    ]);
    expect(flagged.stderr).toBe(
      'mesh-admission: plugin-priority-range denies at admission: the cluster would refuse the object, so it cannot be suppressed\nmesh-admission: --suppress nothing-like-this: no finding of that rule in this run\n',
    );
    // unknown fields deny only here (--strict): that denial can be silenced
    const typo = PLUGIN('typo').replace('priority: 10', 'priorty: 10\n  priority: 10');
    expect(cli(['validate', '-f', '-', '--strict'], { input: typo }).code).toBe(1);
    expect(cli(['validate', '-f', '-', '--strict', '--suppress', 'unknown-field'], { input: typo }).code).toBe(0);
  });

  it('-o junit: a suite per source, a case per object, failures, skips and input errors as GitLab and Jenkins read them', () => {
    const f = join(tree('junit', { 'p.yaml': `${PLUGIN('ok')}---\n${PLUGIN('high', 70000)}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\nkind: [\n` }), 'p.yaml');
    const r = cli(['validate', f, '-o', 'junit'], { cwd: dir });
    expect(r.code).toBe(2);
    const p = relative(dir, f);
    expect(r.stdout).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="mesh-admission validate" tests="4" failures="1" errors="1" skipped="1">',
        `  <testsuite name="${f}" tests="4" failures="1" errors="1" skipped="1">`,
        `    <testcase name="plugin.plugin.flomesh.io/ok" classname="${f}:1" file="${p}" line="1"/>`,
        `    <testcase name="plugin.plugin.flomesh.io/high" classname="${f}:9" file="${p}" line="9">`,
        `      <failure message="The Plugin &quot;high&quot; is invalid: spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]" type="plugin-priority-range">${f}:14: * spec.priority: Invalid value: 70000: must be an integer between 0 and 65535 [plugin-priority-range]</failure>`,
        '    </testcase>',
        `    <testcase name="deployment.apps/d" classname="${f}:17" file="${p}" line="17">`,
        '      <skipped message="not a kind this webhook validates"/>',
        '    </testcase>',
        `    <testcase name="input" classname="${f}:22" file="${p}" line="22">`,
        `      <error message="document 4: Flow sequence in block collection must be sufficiently indented and end with a ]" type="input-error">${f}:22: error: document 4: Flow sequence in block collection must be sufficiently indented and end with a ]</error>`,
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
    // warnings are a case's output, and its failure under --strict
    const warned = judgeOffline(readInput({ filenames: ['-'], stdin: () => CHAIN }), { mesh: meshIdentity('fsm'), strict: true });
    expect(formatJunit(warned)).toContain('<failure message="Unverified: spec.chains[0].plugins[0]: Plugin token-verifier does not exist');
    expect(formatJunit({ ...warned, strict: false })).toContain('<system-out>&lt;stdin&gt;:9: Unverified: ');
  });
});

describe('5. what the API server refuses first is refused offline too', () => {
  it('names by the rules of their kind, even without --strict', () => {
    const input = [
      PLUGIN('Bad_Name'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: 9lives, namespace: curl}\nspec: {ports: [{port: 80}]}\n',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n',
      `apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: ${'c'.repeat(53)}, namespace: curl}\n`,
      'apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-, namespace: curl}\nspec: {containers: [{name: c, image: i}]}\n',
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: Any_Name_Goes}\n',
    ].join('---\n');
    const r = cli(['validate', '-f', '-', '-o', 'json'], { input });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { objects: Array<{ name: string; status: string; causes: Array<{ field: string; message: string; rule: string }> }> };
    expect(out.objects.map((o) => [o.name, o.status, o.causes.map((c) => `${c.field}: ${c.message} [${c.rule}]`)])).toEqual([
      [
        'Bad_Name',
        'denied',
        [
          "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') [metadata-name]",
        ],
      ],
      [
        '9lives',
        'denied',
        [
          "metadata.name: Invalid value: \"9lives\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?') [metadata-name]",
        ],
      ],
      [
        'a.b',
        'denied',
        [
          "metadata.name: Invalid value: \"a.b\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') [metadata-name]",
        ],
      ],
      ['c'.repeat(53), 'denied', [`metadata.name: Invalid value: "${'c'.repeat(53)}": must be no more than 52 characters [metadata-name]`]],
      ['web-', 'skipped', []],
      ['Any_Name_Goes', 'skipped', []],
    ]);
  });

  it('an object over the size etcd stores, and the same object twice in one input', () => {
    const object = { apiVersion: 'plugin.flomesh.io/v1alpha1', kind: 'Plugin', metadata: { name: 'big' }, spec: { priority: 10, pipyscript: 'x'.repeat(5 * 1024 * 1024) } };
    const r = cli(['validate', '-f', '-'], { input: JSON.stringify(object) });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `<stdin>:1: plugin.plugin.flomesh.io/big: * Too long: the object is ${Buffer.byteLength(JSON.stringify(object))} bytes as JSON; etcd stores at most ${MAX_OBJECT_BYTES} bytes (1.5 MiB, its default --max-request-bytes) and the API server fails the request with "etcdserver: request is too large" [object-size]\n`,
    );
    const twice = cli(['validate', '-f', '-', '-n', 'curl'], { input: `${CHAIN}---\n${CHAIN.replace('  namespace: curl\n', '')}` });
    expect(twice.code).toBe(1);
    expect(twice.stdout).toContain('<stdin>:17: pluginchain.plugin.flomesh.io/chain: * metadata.name: Duplicate value: "chain": PluginChain curl/chain is also at <stdin>:1; one input holds each object once (applied, the later one replaces the earlier) [duplicate-object]\n');
    // the same name in another namespace, or of another kind, is another object
    const apart = cli(['validate', '-f', '-', '-q'], { input: `${CHAIN}---\n${CHAIN.replace('namespace: curl', 'namespace: other')}---\n${PLUGIN('chain')}` });
    expect(apart.stdout).not.toContain('duplicate-object');
  });
});

describe('6. the smaller things', () => {
  it('certs: an IP address becomes an IP entry, a bad name is refused, every file written is named', () => {
    const out = join(dir, 'certs');
    const r = cli(['certs', '--out', out, '--dns', '192.168.1.10', '--dns', 'webhook.example.com']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `wrote ${out}/ca.crt, ca.key, tls.crt, tls.key for mesh-admission, mesh-admission.fsm-system, mesh-admission.fsm-system.svc, mesh-admission.fsm-system.svc.cluster.local, webhook.example.com, 192.168.1.10\n`,
    );
    const san = spawnSync('node', ['-e', `process.stdout.write(new (require('node:crypto').X509Certificate)(require('node:fs').readFileSync('${join(out, 'tls.crt')}')).subjectAltName)`], { encoding: 'utf8' }).stdout;
    expect(san).toContain('IP Address:192.168.1.10');
    expect(san).not.toContain('DNS:192.168.1.10');
    const bad = cli(['certs', '--out', join(dir, 'certs-bad'), '--dns', 'bad name!']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`error: option '--dns <name>' argument 'bad name!' is invalid. "bad name!" is neither an IP address nor a DNS name`);
  });

  it('explain -o yaml leaves what it does not change byte for byte and keeps List wrappers; diff shows the injection only', () => {
    const input = `# services first: untouched, quoting and comments kept
apiVersion: v1
kind: Service
metadata: {name: web, namespace: curl}   # flow style
spec:
  ports:
  - port: 80
    name: 'http'
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: curl
  spec:
    selector: {matchLabels: {app: web}}
    template:
      metadata:
        labels:
          app: web # the app label
      spec:
        containers:
        - name: web
          image: nginx
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cfg, namespace: curl}
  data: {a: "1"}

`;
    const f = join(tree('kube-inject', { 'app.yaml': input }), 'app.yaml');
    const r = cli(['explain', f, '--cluster-state', 'examples/cluster', '--sidecar-mode', 'classic', '-o', 'yaml']);
    expect(r.code).toBe(0);
    const [service, list] = input.split('---\n');
    expect(r.stdout.startsWith(`${service}---\n`)).toBe(true);
    const after = r.stdout.slice(service!.length + 4);
    // the List is still a List, the Deployment's own lines are all there, in order, with their comments
    const docs = parseAllDocuments(after).map((d) => d.toJS() as { kind: string; items: Array<{ kind: string; spec?: any }> });
    expect(docs.map((d) => [d.kind, d.items.map((i) => i.kind)])).toEqual([['List', ['Deployment', 'ConfigMap']]]);
    expect(docs[0]!.items[0]!.spec.template.spec.containers.map((c: { name: string }) => c.name)).toEqual(['sidecar', 'web']);
    const kept = list!.split('\n');
    const outLines = after.split('\n');
    let at = 0;
    for (const line of kept) {
      const found = outLines.indexOf(line, at);
      expect(found, `line kept: ${line}`).toBeGreaterThanOrEqual(at);
      at = found + 1;
    }
    expect(after.endsWith('  data: {a: "1"}\n\n')).toBe(true);
    // nothing to inject: the output is the input
    const same = cli(['explain', f, 'examples/pods/03-pod-curl-injection-disabled.yaml', '--cluster-state', 'examples/cluster', '-o', 'yaml', '--sidecar-mode', 'classic']);
    expect(same.stdout.endsWith(`---\n${readFileSync(join(REPO_ROOT, 'examples/pods/03-pod-curl-injection-disabled.yaml'), 'utf8')}`)).toBe(true);
    const skipped = cli(['explain', 'examples/pods/03-pod-curl-injection-disabled.yaml', 'examples/pods/04-pod-ext-auth-unmonitored.yaml', '--cluster-state', 'examples/cluster', '-o', 'yaml']);
    expect(skipped.stdout).toBe(
      `${readFileSync(join(REPO_ROOT, 'examples/pods/03-pod-curl-injection-disabled.yaml'), 'utf8')}---\n${readFileSync(join(REPO_ROOT, 'examples/pods/04-pod-ext-auth-unmonitored.yaml'), 'utf8')}`,
    );
  });
});
