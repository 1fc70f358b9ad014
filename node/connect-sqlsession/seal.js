'use strict';

// Encryption of session values at rest, in the format of sqlsession's
// Options.ValueKeys (Go, sessions/seal.go), so both read what either wrote.
//
// A sealed value is the JSON string
//   "enc:v1:<kid>:<base64url(nonce(12) | ciphertext | tag(16))>"
// of AES-256-GCM over the value's JSON text, under the key
//   HKDF-SHA256(ikm = key material, salt = the session's seal salt, info = "sqlsession value v1", 32)
// with associated data  salt + "\0" + the value's top-level key.
// <kid> is base64url(HKDF-SHA256(material, no salt, "sqlsession value key id v1", 6)).
// The seal salt is stored in plaintext under the reserved key "$seal"; a
// session without one gets base64url(SHA-256("sqlsession seal salt v1" | id_hash)[:16]).
// "cookie" and "$seal" are never sealed.

const crypto = require('crypto');

const PREFIX = 'enc:v1:';
const SEAL_KEY = '$seal';
const MIN_KEY_BYTES = 32;

function hkdf(ikm, salt, info, len) {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, len));
}

function isSealed(v) {
  return typeof v === 'string' && v.startsWith(PREFIX);
}

function plainKey(key) {
  return key !== 'cookie' && key !== SEAL_KEY;
}

class Sealer {
  // keys: the first seals, all open (rotation), as Go's ValueKeys.
  constructor(keys) {
    if (!Array.isArray(keys) || keys.length === 0) throw new TypeError('connect-sqlsession: valueKeys must be a non-empty array of strings');
    const seen = new Set();
    this.keys = keys.map((k, i) => {
      if (typeof k !== 'string' || Buffer.byteLength(k, 'utf8') < MIN_KEY_BYTES) {
        throw new TypeError(`connect-sqlsession: valueKeys[${i}] must be a string of at least ${MIN_KEY_BYTES} bytes`);
      }
      const material = Buffer.from(k, 'utf8');
      const id = hkdf(material, Buffer.alloc(0), 'sqlsession value key id v1', 6).toString('base64url');
      if (seen.has(id)) throw new TypeError(`connect-sqlsession: valueKeys[${i}] repeats an earlier key`);
      seen.add(id);
      return { id, material };
    });
  }

  // saltFor returns the salt of a session that has none yet (id hash h).
  static saltFor(idHash) {
    const sum = crypto.createHash('sha256').update('sqlsession seal salt v1').update(idHash).digest();
    return sum.subarray(0, 16).toString('base64url');
  }

  key(k, salt) {
    return hkdf(k.material, Buffer.from(salt, 'utf8'), 'sqlsession value v1', 32);
  }

  // open replaces, in the stored data (the caller's own object), every
  // sealed value by its plaintext; it throws when one does not open.
  open(data) {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
    const salt = typeof data[SEAL_KEY] === 'string' ? data[SEAL_KEY] : null;
    for (const key of Object.keys(data)) {
      if (plainKey(key) && isSealed(data[key])) data[key] = this.openValue(data[key], key, salt);
    }
    return data;
  }

  openValue(v, key, salt) {
    const fail = (why) => new Error(`connect-sqlsession: sealed value ${JSON.stringify(key)} does not open: ${why}`);
    if (salt === null) throw fail(`the session has no ${SEAL_KEY} entry`);
    const rest = v.slice(PREFIX.length);
    const i = rest.indexOf(':');
    const k = i < 0 ? null : this.keys.find((x) => x.id === rest.slice(0, i));
    if (!k) throw fail('sealed under a key id not in valueKeys');
    const raw = Buffer.from(rest.slice(i + 1), 'base64url');
    if (raw.length < 28) throw fail('malformed');
    try {
      const d = crypto.createDecipheriv('aes-256-gcm', this.key(k, salt), raw.subarray(0, 12));
      d.setAAD(Buffer.from(salt + '\0' + key, 'utf8'));
      d.setAuthTag(raw.subarray(raw.length - 16));
      const plain = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
      return JSON.parse(plain.toString('utf8'));
    } catch (err) {
      throw fail('authentication failed');
    }
  }

  sealValue(value, key, salt) {
    const k = this.keys[0];
    const nonce = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', this.key(k, salt), nonce);
    c.setAAD(Buffer.from(salt + '\0' + key, 'utf8'));
    const ct = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return PREFIX + k.id + ':' + Buffer.concat([nonce, ct, c.getAuthTag()]).toString('base64url');
  }

  // prepare gives a session about to be written its salt: data (the JSON
  // of sess) and sess get "$seal" when they have none, so the write (and
  // the snapshot taken after it) carry it. Returns the salt.
  prepare(sess, data, idHash) {
    if (typeof data[SEAL_KEY] === 'string' && data[SEAL_KEY] !== '') return data[SEAL_KEY];
    const salt = Sealer.saltFor(idHash);
    data[SEAL_KEY] = salt;
    if (sess !== null && typeof sess === 'object') sess[SEAL_KEY] = salt;
    return salt;
  }

  // seal returns a copy of obj (keys to write) with every value but
  // "cookie" and "$seal" sealed.
  seal(obj, salt) {
    const out = Object.create(null);
    for (const key of Object.keys(obj)) {
      out[key] = plainKey(key) && obj[key] !== undefined ? this.sealValue(obj[key], key, salt) : obj[key];
    }
    return out;
  }
}

module.exports = { Sealer, SEAL_KEY, isSealed };
