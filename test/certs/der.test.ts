import { describe, expect, it } from 'vitest';
import {
  bitString,
  boolean,
  children,
  encodeLength,
  explicit,
  fromPemAll,
  ia5String,
  implicit,
  namedBits,
  oid,
  parseCertificate,
  readOid,
  readTlv,
  sequence,
  set,
  time,
  tlv,
  toPem,
  unsignedInteger,
  utf8String,
} from '../../src/certs/der.js';

const hex = (b: Buffer): string => b.toString('hex');
const int = (n: number): Buffer => unsignedInteger(Buffer.from([n]));

describe('DER encoder', () => {
  it('encodes lengths in short and long form', () => {
    expect(hex(encodeLength(0))).toBe('00');
    expect(hex(encodeLength(127))).toBe('7f');
    expect(hex(encodeLength(128))).toBe('8180');
    expect(hex(encodeLength(255))).toBe('81ff');
    expect(hex(encodeLength(256))).toBe('820100');
    expect(hex(encodeLength(70000))).toBe('83011170');
    expect(hex(tlv(0x04, Buffer.alloc(200)).subarray(0, 3))).toBe('0481c8');
  });

  it('encodes INTEGERs minimally, with a sign octet when the high bit is set', () => {
    expect(hex(unsignedInteger(Buffer.from([0])))).toBe('020100');
    expect(hex(unsignedInteger(Buffer.from([127])))).toBe('02017f');
    expect(hex(unsignedInteger(Buffer.from([128])))).toBe('02020080');
    expect(hex(unsignedInteger(Buffer.from([1, 0])))).toBe('02020100');
    expect(hex(unsignedInteger(Buffer.from('00000001', 'hex')))).toBe('020101');
    expect(hex(unsignedInteger(Buffer.from('0080', 'hex')))).toBe('02020080');
    expect(hex(unsignedInteger(Buffer.from('ff', 'hex')))).toBe('020200ff');
    expect(hex(unsignedInteger(Buffer.alloc(0)))).toBe('020100');
  });

  it('encodes OIDs (known vectors)', () => {
    expect(hex(oid('2.5.29.19'))).toBe('0603551d13');
    expect(hex(oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(oid('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b');
    expect(hex(oid('1.3.6.1.5.5.7.3.1'))).toBe('06082b06010505070301');
    expect(hex(oid('2.999.3'))).toBe('0603883703');
    expect(() => oid('1.40')).toThrow();
    expect(() => oid('x.1')).toThrow();
    const enc = oid('1.2.840.113549.1.1.11');
    expect(readOid(enc, readTlv(enc))).toBe('1.2.840.113549.1.1.11');
    const big = oid('2.999.3');
    expect(readOid(big, readTlv(big))).toBe('2.999.3');
  });

  it('encodes named bit strings without trailing zero bits', () => {
    expect(hex(namedBits([0]))).toBe('03020780'); // digitalSignature
    expect(hex(namedBits([0, 2]))).toBe('030205a0'); // + keyEncipherment
    expect(hex(namedBits([0, 5, 6]))).toBe('03020186'); // digitalSignature, keyCertSign, cRLSign
    expect(hex(namedBits([8]))).toBe('0303070080'); // decipherOnly: MSB of the second octet
    expect(hex(bitString(Buffer.from([0xab])))).toBe('030200ab');
  });

  it('encodes BOOLEAN, strings, tags, SEQUENCE and sorted SET', () => {
    expect(hex(boolean(true))).toBe('0101ff');
    expect(hex(boolean(false))).toBe('010100');
    expect(hex(utf8String('é'))).toBe('0c02c3a9');
    expect(hex(ia5String('a.b'))).toBe('1603612e62');
    expect(() => ia5String('ä')).toThrow();
    expect(hex(explicit(0, int(2)))).toBe('a003020102');
    expect(hex(implicit(2, Buffer.from('ab')))).toBe('82026162');
    expect(hex(sequence())).toBe('3000');
    expect(hex(set(int(2), int(1)))).toBe('3106020101020102');
  });

  it('encodes UTCTime before 2050 and GeneralizedTime from 2050, truncating milliseconds', () => {
    expect(time(new Date('2025-03-04T05:06:07.999Z')).toString('latin1', 2)).toBe('250304050607Z');
    expect(time(new Date('2025-03-04T05:06:07Z'))[0]).toBe(0x17);
    expect(time(new Date('1950-01-01T00:00:00Z')).toString('latin1', 2)).toBe('500101000000Z');
    const g = time(new Date('2050-01-01T00:00:00Z'));
    expect(g[0]).toBe(0x18);
    expect(g.toString('latin1', 2)).toBe('20500101000000Z');
    expect(time(new Date('1949-12-31T23:59:59Z'))[0]).toBe(0x18);
    expect(() => time(new Date(NaN))).toThrow();
  });

  it('reads back what it writes and rejects malformed input', () => {
    const s = sequence(int(1), utf8String('x'.repeat(300)), sequence(boolean(true)));
    const root = readTlv(s);
    expect(root.end).toBe(s.length);
    const kids = children(s, root);
    expect(kids.map((k) => k.tag)).toEqual([0x02, 0x0c, 0x30]);
    expect(kids[1]!.end - kids[1]!.contentStart).toBe(300);
    expect(() => readTlv(Buffer.from('3005020101', 'hex'))).toThrow(/past/);
    expect(() => readTlv(Buffer.from('30', 'hex'))).toThrow(/truncated/);
    expect(() => readTlv(Buffer.from('3080', 'hex'))).toThrow();
  });

  it('round-trips PEM armour with 64-column lines', () => {
    const der = Buffer.alloc(100, 7);
    const pem = toPem('CERTIFICATE', der);
    const lines = pem.trim().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-1)).toBe('-----END CERTIFICATE-----');
    expect(lines.slice(1, -1).every((l) => l.length <= 64)).toBe(true);
    expect(fromPemAll(pem + pem)).toEqual([der, der]);
  });

  it('rejects things that are not certificates', () => {
    expect(() => parseCertificate(sequence(int(1)))).toThrow();
    expect(() => parseCertificate(Buffer.from('0400', 'hex'))).toThrow();
  });
});
