// RE2 syntax check for the regexes the mesh hands to Envoy's `safe_regex` (SMI HTTPRouteGroup pathRegex and header
// values). JS RegExp is not RE2: look-around and backreferences compile in JS and make Envoy NACK the whole route
// configuration, so patterns are compiled by the real RE2 (re2-wasm).
//
// Why not `new re2.RE2(pattern, 'u')` from the package entry point:
// - its RE2 class never frees the compiled program inside the wasm heap, which is a fixed 16 MiB: after a few
//   thousand compilations every later call aborts, and an aborted wasm instance stays dead for the process;
// - it first rewrites JS syntax into RE2 syntax (`\u0041`, `\cA`, `(?<n>`), so it accepts patterns Envoy rejects.
// So the raw compiler (`WrappedRE2`) is loaded here, fed the pattern exactly as Envoy gets it and freed after use.
// The emscripten loader instantiates the wasm synchronously under Node (`instantiateSync`), so validators stay
// synchronous: no top-level await is needed, under plain ESM or vitest.
import { createRequire } from 'node:module';

interface CompiledRe2 {
  ok(): boolean;
  error(): string;
  delete(): void;
}

interface Re2Wasm {
  WrappedRE2: new (pattern: string, ignoreCase: boolean, multiline: boolean, dotAll: boolean) => CompiledRe2;
}

const require = createRequire(import.meta.url);
const RE2_WASM_PATH = require.resolve('re2-wasm/build/wasm/re2.js');

/** A fresh wasm instance (a new 16 MiB heap): dropping the cache entry makes `require` run the loader again. */
function loadRe2(): Re2Wasm {
  delete require.cache[RE2_WASM_PATH];
  return require(RE2_WASM_PATH) as Re2Wasm;
}

let re2 = loadRe2();

/** Longer patterns are refused before parsing: they bound the work one field can cost the webhook. */
export const MAX_REGEX_LENGTH = 4096;
/** Budget of expanded pattern elements (see `shapeOf`), far above any path or header regex seen in practice. */
export const MAX_REGEX_EXPANSION = 1000;
/** Expansion elements all regexes of one object may add up to: bounds the CPU one admission request can cost. */
export const MAX_OBJECT_REGEX_EXPANSION = 20 * MAX_REGEX_EXPANSION;
/** A Unicode class (`\p{L}`) compiles to hundreds of UTF-8 ranges: two orders of magnitude more work than `.`. */
const UNICODE_CLASS_COST = 200;
/** RE2 refuses larger counts while parsing, before any expansion, so they cost nothing and RE2 words the error. */
const RE2_MAX_REPEAT = 1000;
/** Current RE2 (and Go) refuse deeper nesting; the RE2 inside re2-wasm predates that limit. */
const RE2_MAX_DEPTH = 1000;

const TOO_LARGE = `too large: more than ${MAX_REGEX_EXPANSION} elements once repetitions are unrolled and Unicode classes counted (Envoy rejects RE2 programs above size 100 by default)`;

/**
 * Compiles with RE2 and returns its error text, or undefined when the pattern is valid. Exported for tests of the
 * abort recovery; validators call `re2Error`, which bounds the work first.
 */
export function re2CompileError(pattern: string): string | undefined {
  try {
    const compiled = new re2.WrappedRE2(pattern, false, false, false);
    const reason = compiled.ok() ? undefined : compiled.error();
    compiled.delete();
    return reason;
  } catch {
    // The wasm heap ran out (a huge expansion): the instance aborted and would throw on every later call, turning
    // every HTTPRouteGroup admission into a webhook failure. Start a fresh instance and refuse this pattern.
    re2 = loadRe2();
    return TOO_LARGE;
  }
}

/** Index just past the `]` closing the class that opens at `start`, or the pattern's end. */
function classEnd(p: string, start: number): number {
  let i = start + 1;
  if (p[i] === '^') i++;
  if (p[i] === ']') i++; // a `]` first in a class is a literal
  while (i < p.length && p[i] !== ']') {
    if (p[i] === '\\') i += 2;
    else if (p.startsWith('[:', i)) {
      const close = p.indexOf(':]', i + 2);
      i = close < 0 ? i + 1 : close + 2;
    } else i++;
  }
  return Math.min(i + 1, p.length);
}

const UNICODE_CLASS = /\\[pP]/g;
const COUNTED_REPEAT = /^\{(\d{1,4})(?:(,)(\d{0,4}))?\}/;

interface PatternShape {
  /** elements after RE2 expands counted repetitions (`x{3}` is three copies of x), Unicode classes weighted */
  readonly size: number;
  /** deepest group nesting */
  readonly depth: number;
  /** a `(?P<name>` used twice: current RE2 (and Go) reject it, the RE2 inside re2-wasm predates that check */
  readonly duplicateGroup?: string;
}

/**
 * An upper estimate of what RE2 will build, computed without RE2: compile time and wasm memory grow with it (a
 * 15-character `\p{L}{1000}` exhausts the wasm heap). Malformed syntax is left to RE2 to report.
 */
function shapeOf(p: string): PatternShape {
  const enclosing: number[] = [];
  const groupNames = new Set<string>();
  let duplicateGroup: string | undefined;
  let depth = 0;
  let size = 0; // of the innermost open group so far
  let last = 0; // of the last atom or group: what a following `{n,m}` repeats
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === '\\') {
      const escaped = p[i + 1];
      if (escaped === 'Q') {
        const end = p.indexOf('\\E', i + 2);
        const stop = end < 0 ? p.length : end;
        size += stop - (i + 2);
        last = 1;
        i = end < 0 ? p.length : end + 2;
        continue;
      }
      last = escaped === 'p' || escaped === 'P' ? UNICODE_CLASS_COST : 1;
      i += 2;
      if (p[i] === '{' && (escaped === 'p' || escaped === 'P' || escaped === 'x')) {
        const close = p.indexOf('}', i);
        i = close < 0 ? p.length : close + 1;
      }
      size += last;
    } else if (c === '[') {
      const end = classEnd(p, i);
      last = 1 + UNICODE_CLASS_COST * (p.slice(i, end).match(UNICODE_CLASS)?.length ?? 0);
      size += last;
      i = end;
    } else if (c === '(') {
      const named = /^\(\?P<([^>]*)>/.exec(p.slice(i, i + 260));
      if (named?.[1] !== undefined) {
        if (groupNames.has(named[1])) duplicateGroup ??= named[1];
        groupNames.add(named[1]);
      }
      enclosing.push(size);
      depth = Math.max(depth, enclosing.length);
      size = 0;
      i++;
    } else if (c === ')') {
      last = size;
      size = (enclosing.pop() ?? 0) + last;
      i++;
    } else {
      const repeat = c === '{' ? COUNTED_REPEAT.exec(p.slice(i, i + 12)) : null;
      if (repeat) {
        const low = Number(repeat[1]);
        const high = repeat[2] && repeat[3] ? Number(repeat[3]) : low;
        const copies = Math.max(low, high);
        if (copies <= RE2_MAX_REPEAT) {
          size += last * (copies - 1);
          last *= copies;
        }
        i += repeat[0].length;
      } else {
        size += 1;
        last = 1;
        i++;
      }
    }
  }
  for (const outer of enclosing) size += outer;
  return duplicateGroup === undefined ? { size, depth } : { size, depth, duplicateGroup };
}

/** RE2 quotes the offending text, up to the whole pattern: the quote is cut so a cause stays one readable line. */
const MAX_REASON_LENGTH = 100;

/** RE2's wording names the construct; say why it is there, since JS (and PCRE) accept these. */
function explain(re2Reason: string, pattern: string): string {
  const reason = re2Reason.length > MAX_REASON_LENGTH ? `${re2Reason.slice(0, MAX_REASON_LENGTH - 3)}...` : re2Reason;
  if (reason.startsWith('invalid perl operator: (?<'))
    return /\(\?<[=!]/.test(pattern)
      ? `${reason} (look-behind assertions are not supported by RE2)`
      : `${reason} (write named groups as (?P<name>...))`;
  if (reason.startsWith('invalid perl operator: (?=') || reason.startsWith('invalid perl operator: (?!'))
    return `${reason} (look-ahead assertions are not supported by RE2)`;
  if (/^invalid escape sequence: \\[1-9]/.test(reason)) return `${reason} (backreferences are not supported by RE2)`;
  return reason;
}

/**
 * Why `pattern` is not a regex Envoy's RE2 accepts, in a few words, or undefined when it is. Synchronous, never
 * throws, and bounded: the length cap and the expansion budget are checked before RE2 runs.
 */
export function re2Error(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`;
  const shape = shapeOf(pattern);
  if (shape.size > MAX_REGEX_EXPANSION) return TOO_LARGE;
  const reason = re2CompileError(pattern);
  if (reason !== undefined) return explain(reason, pattern);
  if (shape.depth > RE2_MAX_DEPTH) return `expression nests too deeply (more than ${RE2_MAX_DEPTH} levels of groups)`;
  if (shape.duplicateGroup !== undefined) return `duplicate capture group name: ${shape.duplicateGroup}`;
  return undefined;
}

/**
 * Shared by the regexes of one object. Each pattern is bounded on its own, but an object can hold thousands of
 * them; the budget bounds their sum so one admission request cannot keep the event loop busy for minutes.
 */
export class Re2Budget {
  private left = MAX_OBJECT_REGEX_EXPANSION;

  /** Spends the pattern's expansion; false once the object's regexes together pass the limit. */
  allows(pattern: string): boolean {
    // Patterns refused by the length cap or the per-pattern budget are never compiled: they cost at most that budget.
    this.left -= pattern.length > MAX_REGEX_LENGTH ? 0 : Math.min(shapeOf(pattern).size, MAX_REGEX_EXPANSION);
    return this.left >= 0;
  }
}
