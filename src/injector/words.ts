// Parsing of the annotation values users write by hand: boolean words and resource quantities.

const TRUE_WORDS = new Set(['enabled', 'yes', 'true']);
const FALSE_WORDS = new Set(['disabled', 'no', 'false']);
export const BOOL_WORDS_TEXT = 'enabled, yes, true, disabled, no or false';

/** enabled|yes|true → true, disabled|no|false → false (case-insensitive, surrounding spaces ignored), else undefined. */
export function parseBoolWord(v: string): boolean | undefined {
  const w = v.trim().toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return undefined;
}

// Kubernetes resource.Quantity: a signless decimal number with an optional binary, decimal or exponent suffix.
const QUANTITY = /^(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

export function isQuantity(v: string): boolean {
  return QUANTITY.test(v.trim()) && v.trim().length <= 64;
}
