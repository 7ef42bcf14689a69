import { MemoryView } from '../src/cluster/memory.js';
import { meshIdentity } from '../src/mesh/flavor.js';
import { placeManifest } from '../src/mesh/kinds.js';
import { gvkOf } from '../src/mesh/objects.js';
import { validate } from '../src/validator/validate.js';
import { scaleState, scaleRequests, scaleCounts, scaleSize, scaleStateOfSize } from './scale-state.js';

const mesh = meshIdentity('fsm');
for (const n of [0, 1, 10, 1000]) {
  const objs = scaleState(n).map(placeManifest);
  if (objs.length !== scaleSize(n)) throw new Error(`size ${objs.length} != ${scaleSize(n)}`);
  const view = new MemoryView(objs);
  const denied: Record<string, number> = {};
  const warned: Record<string, number> = {};
  const samples: string[] = [];
  const t = performance.now();
  for (const o of objs) {
    const v = validate({ operation: 'CREATE', kind: gvkOf(o), object: o }, view, mesh);
    if (!v.known) continue;
    if (!v.allowed) { denied[o.kind!] = (denied[o.kind!] ?? 0) + 1; if (samples.length < 5) samples.push(`${o.kind} ${o.metadata?.namespace}/${o.metadata?.name}: ${v.errors.map((e) => e.field + ': ' + e.message).join('; ')}`); }
    if (v.warnings.length) { warned[o.kind!] = (warned[o.kind!] ?? 0) + 1; if (n === 1000 && (warned[o.kind!] ?? 0) <= 1) console.log(`  warn sample ${o.kind}: ${v.warnings[0]}`); }
  }
  console.log(`N=${n}: ${objs.length} objects ${JSON.stringify(scaleCounts(n))} in ${(performance.now() - t).toFixed(0)} ms; denied ${JSON.stringify(denied)} warned ${JSON.stringify(warned)}`);
  for (const s of samples) console.log('  ' + s);
  for (const r of scaleRequests()) {
    if (r.path !== '/validate') continue;
    const req = r.review.request as any;
    const v = validate({ operation: 'CREATE', kind: req.kind, object: req.object, namespace: req.namespace }, view, mesh);
    console.log(`  request ${r.label}: allowed=${v.allowed} errors=${v.errors.map((e) => e.message).join('; ')} warnings=${v.warnings.length} ${v.warnings.slice(0, 2).join(' | ')}`);
  }
}
const s = scaleStateOfSize(5000);
console.log('ofSize 5000 -> n', s.n, s.objects.length);
