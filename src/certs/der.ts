// Minimal DER (X.690) encoder and reader: just what signer.ts needs to issue an X.509 v3 leaf and to read its CA,
// plus PEM armour. Encoders return Buffers and do no validation beyond what DER itself requires; they run once per
// injected pod, so they avoid intermediate objects.

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** The length octets of a definite-length DER encoding. */
export function encodeLength(len: number): Buffer {
  if (!Number.isInteger(len) || len < 0) throw new RangeError(`DER length must be a non-negative integer, got ${len}`);
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Tag-length-value. `tag` is the full identifier octet (class, constructed bit and number < 31). */
export function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  if (len < 0x80) {
    const out = Buffer.allocUnsafe(2 + len);
    out[0] = tag;
    out[1] = len;
    content.copy(out, 2);
    return out;
  }
  return Buffer.concat([Buffer.from([tag]), encodeLength(len), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tlv(TAG.SEQUENCE, items.length === 1 ? items[0]! : Buffer.concat(items));
}

/** SET OF: DER requires the encodings sorted as octet strings. */
export function set(...items: Buffer[]): Buffer {
  const sorted = items.length > 1 ? [...items].sort(Buffer.compare) : items;
  return tlv(TAG.SET, Buffer.concat(sorted));
}

/** Context-specific constructed tag [n] (EXPLICIT tagging, or IMPLICIT over a constructed type). */
export function explicit(n: number, content: Buffer): Buffer {
  return tlv(0xa0 | n, content);
}

/** Context-specific primitive tag [n] (IMPLICIT over a primitive type). */
export function implicit(n: number, content: Buffer): Buffer {
  return tlv(0x80 | n, content);
}

/** INTEGER from an unsigned big-endian magnitude: leading zeros stripped, a 0x00 added when the high bit is set. */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const body = magnitude.subarray(i);
  if (body.length === 0) return Buffer.from([TAG.INTEGER, 1, 0]);
  return (body[0]! & 0x80) !== 0 ? tlv(TAG.INTEGER, Buffer.concat([Buffer.from([0]), body])) : tlv(TAG.INTEGER, body);
}

export function boolean(v: boolean): Buffer {
  return Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0x00]);
}

export const NULL = Buffer.from([TAG.NULL, 0]);

export function octetString(content: Buffer): Buffer {
  return tlv(TAG.OCTET_STRING, content);
}

/** BIT STRING with `unusedBits` (0–7) padding bits at the end of the last byte. */
export function bitString(content: Buffer, unusedBits = 0): Buffer {
  if (unusedBits < 0 || unusedBits > 7 || (content.length === 0 && unusedBits !== 0)) throw new RangeError('bad BIT STRING padding');
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), content]));
}

/**
 * A named-bit BIT STRING (e.g. KeyUsage) from bit numbers (bit 0 = most significant bit of the first byte).
 * DER drops trailing zero bits (X.690 11.2.2).
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return bitString(bytes, 7 - (max & 7));
}

const oidCache = new Map<string, Buffer>();

/** OBJECT IDENTIFIER from dotted form ("2.5.29.19"); encodings are cached. */
export function oid(dotted: string): Buffer {
  const hit = oidCache.get(dotted);
  if (hit) return hit;
  const arcs = dotted.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`bad OID ${dotted}`);
    return Number(s);
  });
  if (arcs.length < 2 || arcs[0]! > 2 || (arcs[0]! < 2 && arcs[1]! > 39)) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: number): void => {
    const tmp = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) tmp.unshift(0x80 | (x & 0x7f));
    out.push(...tmp);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  const enc = tlv(TAG.OID, Buffer.from(out));
  oidCache.set(dotted, enc);
  return enc;
}

export function utf8String(s: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
}

/** IA5String (7-bit ASCII), as used by dNSName. */
export function ia5String(s: string): Buffer {
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(s)) throw new Error(`not an IA5String: ${JSON.stringify(s)}`);
  return tlv(TAG.IA5_STRING, Buffer.from(s, 'latin1'));
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;

/**
 * X.509 Time (RFC 5280 4.1.2.5): UTCTime for years 1950–2049, GeneralizedTime otherwise; always UTC, whole seconds
 * (milliseconds are truncated).
 */
export function time(d: Date): Buffer {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid date');
  const y = d.getUTCFullYear();
  const rest = pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) + pad2(d.getUTCHours()) + pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds()) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(pad2(y % 100) + rest, 'latin1'));
  if (y < 0 || y > 9999) throw new RangeError(`year ${y} not representable`);
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, '0') + rest, 'latin1'));
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
export function algorithmIdentifier(algOid: string, params?: Buffer): Buffer {
  return params ? sequence(oid(algOid), params) : sequence(oid(algOid));
}

/** PEM armour with 64-column lines. */
export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** All PEM blocks with the given label, decoded. */
export function fromPemAll(pem: string, label = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  const out: Buffer[] = [];
  for (const m of pem.matchAll(re)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Reader

export interface DerNode {
  /** identifier octet */
  readonly tag: number;
  /** offset of the identifier octet in the buffer */
  readonly start: number;
  /** offset of the first content octet */
  readonly contentStart: number;
  /** offset just past the content */
  readonly end: number;
}

/** Reads one TLV at `offset`; throws on anything that is not well-formed definite-length DER. */
export function readTlv(buf: Buffer, offset = 0, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw new Error('DER: truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag numbers not supported');
  let p = offset + 1;
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) len = first;
  else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length encoding');
    if (p + n > limit) throw new Error('DER: truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > limit) throw new Error('DER: content runs past its container');
  return { tag, start: offset, contentStart: p, end };
}

/** The children of a constructed node. */
export function children(buf: Buffer, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let p = node.contentStart; p < node.end; ) {
    const c = readTlv(buf, p, node.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const content = (buf: Buffer, n: DerNode): Buffer => buf.subarray(n.contentStart, n.end);
export const whole = (buf: Buffer, n: DerNode): Buffer => buf.subarray(n.start, n.end);

/** Decodes an OBJECT IDENTIFIER node to dotted form. */
export function readOid(buf: Buffer, n: DerNode): string {
  if (n.tag !== TAG.OID) throw new Error('DER: expected OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let v = 0;
  for (let p = n.contentStart; p < n.end; p++) {
    const b = buf[p]!;
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        arcs.push(first, v - first * 40);
      } else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/** The parts of an X.509 certificate a signer needs from its issuer. */
export interface CertificateParts {
  readonly tbs: Buffer;
  readonly serial: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  /** content octets of subjectPublicKey (the BIT STRING without its unused-bits octet) */
  readonly subjectPublicKey: Buffer;
  /** extension OID → extnValue content (the DER inside the OCTET STRING) */
  readonly extensions: ReadonlyMap<string, Buffer>;
}

/** Splits a DER certificate into the fields a signer copies (issuer name, key identifiers). */
export function parseCertificate(der: Buffer): CertificateParts {
  const cert = readTlv(der);
  if (cert.tag !== TAG.SEQUENCE || cert.end !== der.length) throw new Error('not a DER certificate');
  const [tbsNode] = children(der, cert);
  if (!tbsNode || tbsNode.tag !== TAG.SEQUENCE) throw new Error('certificate: missing TBSCertificate');
  const f = children(der, tbsNode);
  let i = 0;
  if (f[0]?.tag === 0xa0) i++; // version
  const [serial, , issuer, , subject, spki] = f.slice(i);
  if (!serial || !issuer || !subject || !spki) throw new Error('certificate: truncated TBSCertificate');
  const spkiKids = children(der, spki);
  const bits = spkiKids[1];
  if (!bits || bits.tag !== TAG.BIT_STRING) throw new Error('certificate: bad SubjectPublicKeyInfo');
  const extensions = new Map<string, Buffer>();
  for (const node of f.slice(i + 6)) {
    if (node.tag !== 0xa3) continue;
    const [exts] = children(der, node);
    if (!exts) continue;
    for (const ext of children(der, exts)) {
      const parts = children(der, ext);
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (id && value && value.tag === TAG.OCTET_STRING) extensions.set(readOid(der, id), content(der, value));
    }
  }
  return {
    tbs: whole(der, tbsNode),
    serial: content(der, serial),
    issuer: whole(der, issuer),
    subject: whole(der, subject),
    spki: whole(der, spki),
    subjectPublicKey: der.subarray(bits.contentStart + 1, bits.end),
    extensions,
  };
}
