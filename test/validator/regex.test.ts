import { describe, expect, it } from 'vitest';
import { MAX_OBJECT_REGEX_EXPANSION, MAX_REGEX_EXPANSION, MAX_REGEX_LENGTH, Re2Budget, re2CompileError, re2Error } from '../../src/validator/regex.js';

const TOO_LARGE =
  "too large: more than 1000 elements once repetitions are unrolled and Unicode classes counted (Envoy rejects RE2 programs above size 100 by default)";

describe('re2Error: patterns RE2 accepts', () => {
  it.each([
    '/metrics',
    '/',
    '/status.*',
    '/get',
    '',
    '(?i)abc',
    '(?P<n>x)',
    '\\d+',
    '.*Firefox.*',
    '^/api/v[0-9]+/items/[a-z0-9-]{1,64}$',
    '[[:alpha:]]+',
    '\\p{Greek}+',
    '\\Qa.b\\E',
    '[(?P<a>x)](?P<a>x)', // the first "group" is inside a class: not a duplicate name
    'a{1000}', // RE2's largest repetition count
    '(a{10}){100}', // exactly the expansion budget
    '\\p{L}{5}', // 5 Unicode classes: exactly the budget
    '[\\p{L}\\p{N}]{2}',
  ])('%j', (pattern) => {
    expect(re2Error(pattern)).toBeUndefined();
  });
});

describe('re2Error: patterns RE2 rejects, with the reason', () => {
  it.each([
    ['(?<=a)b', 'invalid perl operator: (?< (look-behind assertions are not supported by RE2)'],
    ['(?<!a)b', 'invalid perl operator: (?< (look-behind assertions are not supported by RE2)'],
    ['a(?=b)', 'invalid perl operator: (?= (look-ahead assertions are not supported by RE2)'],
    ['a(?!b)', 'invalid perl operator: (?! (look-ahead assertions are not supported by RE2)'],
    ['(?<n>x)', 'invalid perl operator: (?< (write named groups as (?P<name>...))'],
    ['(a)\\1', 'invalid escape sequence: \\1 (backreferences are not supported by RE2)'],
    ['[', 'missing ]: ['],
    ['(((a', 'missing ): (((a'],
    ['a)', 'unexpected ): a)'],
    ['a**', 'bad repetition operator: **'],
    ['x{2,1}', 'invalid repetition size: {2,1}'],
    ['a{1001}', 'invalid repetition size: {1001}'],
    // JS escapes that the package's JS-to-RE2 translation would have let through, but Envoy's RE2 rejects
    ['\\u0041', 'invalid escape sequence: \\u'],
    ['\\cA', 'invalid escape sequence: \\c'],
    ['\\Z', 'invalid escape sequence: \\Z'],
    ['(?P<a>x)(?P<a>y)', 'duplicate capture group name: a'],
  ])('%j', (pattern, reason) => {
    expect(re2Error(pattern)).toBe(reason);
  });
});

describe('re2Error: bounded work on huge patterns', () => {
  it('refuses a pattern longer than the cap before parsing it', () => {
    expect(MAX_REGEX_LENGTH).toBe(4096);
    expect(re2Error('a'.repeat(4096))).toBe(TOO_LARGE); // within the length cap, over the expansion budget
    expect(re2Error('a'.repeat(4097))).toBe('longer than 4096 characters');
    expect(re2Error('x'.repeat(1_000_000))).toBe('longer than 4096 characters');
  });

  it('refuses expansions past the budget without compiling them', () => {
    expect(MAX_REGEX_EXPANSION).toBe(1000);
    expect(re2Error('a'.repeat(1000))).toBeUndefined();
    expect(re2Error('a'.repeat(1001))).toBe(TOO_LARGE);
    expect(re2Error('(a{10}){101}')).toBe(TOO_LARGE);
    expect(re2Error('\\p{L}{6}')).toBe(TOO_LARGE);
    expect(re2Error('[\\p{L}\\p{N}]{3}')).toBe(TOO_LARGE);
    expect(re2Error('((((a{100}){100}){100}){100})')).toBe(TOO_LARGE);
    expect(re2Error('(?:\\p{L}{1000})'.repeat(250))).toBe(TOO_LARGE);
  });

  it('cuts the text RE2 quotes from a long pattern', () => {
    expect(re2Error(`${'('.repeat(1500)}a`)).toBe(`missing ): ${'('.repeat(86)}...`);
    expect(re2Error(`${'('.repeat(1500)}a${')'.repeat(1500)}`)).toBe('expression nests too deeply (more than 1000 levels of groups)');
    expect(re2Error(`${'('.repeat(1000)}a${')'.repeat(1000)}`)).toBeUndefined();
  });

  it('survives a compilation that exhausts the wasm heap and keeps working afterwards', () => {
    // 15 characters that RE2-in-wasm cannot fit in its fixed 16 MiB heap: the instance aborts and is replaced
    expect(re2CompileError('\\p{L}{1000}')).toBe(TOO_LARGE);
    expect(re2Error('/metrics')).toBeUndefined();
    expect(re2Error('(?<=a)b')).toBe('invalid perl operator: (?< (look-behind assertions are not supported by RE2)');
  });

  it('frees every compiled program (the package RE2 class leaks and dies after a few thousand)', () => {
    for (let i = 0; i < 5000; i++) expect(re2Error(`^/api/v[0-9]+/items/${i}$`)).toBeUndefined();
  });

  it('bounds the sum over the regexes of one object', () => {
    expect(MAX_OBJECT_REGEX_EXPANSION).toBe(20_000);
    const budget = new Re2Budget();
    for (let i = 0; i < 20; i++) expect(budget.allows('a{1000}')).toBe(true);
    expect(budget.allows('a')).toBe(false);
    // a pattern refused on its own costs at most one pattern's budget; one refused by length costs nothing
    const other = new Re2Budget();
    expect(other.allows('x'.repeat(5000))).toBe(true);
    for (let i = 0; i < 19; i++) expect(other.allows('(a{1000}){1000}')).toBe(true);
    expect(other.allows('a'.repeat(1000))).toBe(true);
    expect(other.allows('a')).toBe(false);
  });

  it('is synchronous: the result is a value, not a promise', () => {
    const result: string | undefined = re2Error('[');
    expect(result).toBe('missing ]: [');
  });
});
