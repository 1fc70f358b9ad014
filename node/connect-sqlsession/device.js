'use strict';

// The device a session was last seen on (the recordDevice option): when,
// from which client address, with which user agent. The same columns and
// the same cleaning as sqlsession's Go side (Options.RecordDevice):
// sessions/users.go device() and sessions/cookie.go clientIP.

const net = require('net');

// MAX_USER_AGENT bounds the user agent recorded, in bytes of UTF-8, as Go's.
const MAX_USER_AGENT = 256;

// utf8Length returns the length of the valid UTF-8 sequence at buf[i], or
// 0 when the byte there does not start one: Go's utf8.DecodeRune rules (no
// overlong forms, no surrogates, nothing above U+10FFFF).
function utf8Length(buf, i) {
  const b = buf[i];
  if (b < 0x80) return 1;
  const cont = (j, lo = 0x80, hi = 0xbf) => i + j < buf.length && buf[i + j] >= lo && buf[i + j] <= hi;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const lo = b === 0xe0 ? 0xa0 : 0x80;
    const hi = b === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const lo = b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

const REPLACEMENT = Buffer.from('\ufffd', 'utf8');

// toValidUTF8 is Go's strings.ToValidUTF8(s, "\uFFFD") on bytes: each run
// of bytes that are not valid UTF-8 becomes one U+FFFD.
function toValidUTF8(buf) {
  const out = [];
  let start = 0; // start of the current valid stretch
  let i = 0;
  while (i < buf.length) {
    const n = utf8Length(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out.push(buf.subarray(start, i), REPLACEMENT);
    while (i < buf.length && utf8Length(buf, i) === 0) i++;
    start = i;
  }
  out.push(buf.subarray(start));
  return Buffer.concat(out);
}

// headerBytes returns the bytes of a header value. Node's HTTP parser
// decodes header bytes as latin1 (one character per byte); a value with a
// character above U+00FF was set by code, and is taken as UTF-8.
function headerBytes(value) {
  // eslint-disable-next-line no-control-regex
  return /^[\u0000-\u00ff]*$/.test(value) ? Buffer.from(value, 'latin1') : Buffer.from(value, 'utf8');
}

// cleanUserAgent is what Go records of a User-Agent: its bytes made valid
// UTF-8, cut to 256 bytes on a character boundary, NULs removed (text
// columns refuse them). Anything but a string is "".
function cleanUserAgent(value) {
  if (Array.isArray(value)) value = value[0];
  if (typeof value !== 'string' || value === '') return '';
  let buf = toValidUTF8(headerBytes(value));
  if (buf.length > MAX_USER_AGENT) {
    let end = MAX_USER_AGENT;
    while (end > 0 && (buf[end] & 0xc0) === 0x80) end--; // buf[end] starts a character
    buf = buf.subarray(0, end);
  }
  return buf.toString('utf8').replace(/\u0000/g, ''); // eslint-disable-line no-control-regex
}

// MAPPED is an IPv4-mapped IPv6 address as the URL parser prints it.
const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

// normalizeIP returns s as Go's netip prints a parsed address with its
// IPv6 zone removed (lower case, the longest run of zero groups shortened,
// an IPv4-mapped address as ::ffff:a.b.c.d), or "" when s is not an IP
// address. With unmap, an IPv4-mapped address is returned as IPv4: what Go
// reports for the peer of a dual-stack socket.
function normalizeIP(s, unmap = false) {
  if (typeof s !== 'string') return '';
  s = s.trim();
  if (net.isIPv4(s)) return s;
  const pct = s.indexOf('%');
  if (pct >= 0) {
    if (pct === s.length - 1) return ''; // an empty zone: not an address for netip
    s = s.slice(0, pct);
  }
  if (!net.isIPv6(s)) return '';
  let text;
  try {
    text = new URL(`http://[${s}]/`).hostname.slice(1, -1); // RFC 5952, as netip
  } catch {
    return '';
  }
  const m = MAPPED.exec(text);
  if (!m) return text;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  const v4 = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  return unmap ? v4 : '::ffff:' + v4;
}

// clientIP is the request's client address. req.ip is express's, which
// follows the app's `trust proxy` setting (`app.set('trust proxy', 1)`:
// the right-most X-Forwarded-For address, as Go's TrustProxy); when it is
// not an address, or there is no express, the peer's address is taken.
// It is always an address without zone, or "".
function clientIP(req) {
  const peer = req.socket ? req.socket.remoteAddress : undefined;
  if (typeof req.ip === 'string' && req.ip !== peer) {
    const ip = normalizeIP(req.ip);
    if (ip !== '') return ip;
  }
  return normalizeIP(peer, true);
}

// deviceOf returns what recordDevice records for a write at now by the
// request req, or null when there is no request (a set() or touch() of an
// object express-session did not make).
function deviceOf(req, now) {
  if (!req || typeof req !== 'object' || !req.headers) return null;
  return { lastSeen: now, ip: clientIP(req), userAgent: cleanUserAgent(req.headers['user-agent']) };
}

module.exports = { cleanUserAgent, normalizeIP, clientIP, deviceOf, toValidUTF8, MAX_USER_AGENT };
