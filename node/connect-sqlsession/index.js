'use strict';

// connect-sqlsession: an express-session Store on sqlsession's http_sessions
// table (PostgreSQL), so an express app and Go services using
// github.com/sqlsession/sqlsession read and write the same sessions.
//
// Row layout (db/migrations/postgres in the Go repository):
//   id_hash    bytea        SHA-256 of the session id (the raw id is never stored)
//   data       jsonb        the session JSON, including its `cookie` object
//   expires_at timestamptz  after this the row is dead; every read filters on it
//   created_at timestamptz  set on insert
//   user_id    text         filled from the session key named by `userKey`
//   last_seen_at, ip, user_agent   with `recordDevice` only (migration 00003)
// The store writes only these columns, so columns added by later migrations
// (with defaults or generated) keep working.

const crypto = require('crypto');
const pg = require('pg');
const { Sealer, SEAL_KEY } = require('./seal');
const { deviceOf } = require('./device');

const DEFAULT_TTL_SECONDS = 24 * 60 * 60; // as connect-pg-simple and sqlsession's DefaultTTL
// As sqlsession's DefaultMaxDataBytes: 1 MiB of the JSON text PostgreSQL
// prints for the jsonb column (octet_length(data::text)).
const DEFAULT_MAX_DATA_BYTES = 1024 * 1024;
const MAX_INT32 = 2147483647; // the SQL integer the limit is passed as

// SizeError is the error set() passes on when the session would be larger
// than maxDataBytes; nothing of that save is written.
class SizeError extends Error {
  constructor(size, limit) {
    super(`connect-sqlsession: session data too large: ${size} bytes of JSON, limit ${limit}`);
    this.name = 'SizeError';
    this.code = 'ESESSIONTOOLARGE';
    this.size = size;
    this.limit = limit;
  }
}

// hashId returns SHA-256(sid) as the Buffer pg sends as bytea.
function hashId(sid) {
  return crypto.createHash('sha256').update(String(sid), 'utf8').digest();
}

// quoteIdent quotes a SQL identifier.
function quoteIdent(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

// What jsonb refuses in JSON.stringify's output: the escape of U+0000, and
// the escapes of unpaired surrogates (JSON.stringify writes a pair as the
// character itself, so every surrogate escape it writes is unpaired; its
// escapes are lowercase). (\\*) takes the backslashes before the escape:
// an odd run ends in an escaped backslash, so the text is not an escape.
const UNSTORABLE_ESCAPE = /(\\*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

// cleanJSON replaces, in the output of JSON.stringify, every \u0000 and
// unpaired surrogate, in keys and values alike, with U+FFFD: what Go's
// sqlsession does with such text in a User-Agent, and what Node's own
// UTF-8 encoder (and Go's encoding/json) do with unpaired surrogates.
function cleanJSON(text) {
  if (!text.includes('\\u')) return text;
  return text.replace(UNSTORABLE_ESCAPE, (m, bs) => (bs.length % 2 === 0 ? bs + '\ufffd' : m));
}

// toPlain turns a session (express-session's Session object or any object)
// into the JSON object that is stored: own enumerable keys, toJSON applied
// (the Cookie), undefined values dropped, text jsonb cannot hold cleaned.
function toPlain(sess) {
  return JSON.parse(cleanJSON(JSON.stringify(sess)));
}

// snapshotOf records the JSON text of each top-level key of data.
function snapshotOf(data) {
  const snap = new Map();
  for (const key of Object.keys(data)) snap.set(key, JSON.stringify(data[key]));
  return snap;
}

// diffTopLevel compares data (the JSON of sess) with the snapshot taken
// when the session was read: changed holds every top-level key whose JSON
// differs (and `cookie`, always), deleted every key that is gone. A stored
// key that sess hides (express-session's Session skips keys such as `id`,
// `req` or its method names) was never visible to the app and is kept.
function diffTopLevel(snap, data, sess = data) {
  const changed = Object.create(null); // a key named __proto__ stays a key
  const deleted = [];
  for (const key of Object.keys(data)) {
    if (key === 'cookie' || snap.get(key) !== JSON.stringify(data[key])) changed[key] = data[key];
  }
  for (const key of snap.keys()) {
    if (Object.prototype.hasOwnProperty.call(data, key)) continue;
    const hidden = key in sess && !Object.prototype.propertyIsEnumerable.call(sess, key);
    if (!hidden) deleted.push(key);
  }
  return { changed, deleted };
}

// userIdOf turns the value under userKey into user_id: a non-empty string,
// or a finite number as its decimal text; anything else is no user (NULL).
function userIdOf(value) {
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

// expiryOf returns the cookie's absolute expiry, or now + ttl seconds for a
// browser-session cookie.
function expiryOf(sess, now, ttl) {
  const e = sess && sess.cookie && sess.cookie.expires;
  const d = e ? new Date(e) : null;
  return d && !Number.isNaN(d.getTime()) ? d : new Date(now.getTime() + ttl * 1000);
}

// A cookie for sessions that were stored without one (express-session
// needs one to inflate a session): a browser-session cookie.
function defaultCookie() {
  return { originalMaxAge: null, expires: null, httpOnly: true, path: '/' };
}

// liveExpr is the SQL that a row is live at ${now}: not expired, and not
// older than the absoluteTimeout in seconds (${abs}; NULL when unset).
// Reads pass now(), writes the process's clock as a parameter.
function liveExpr(now, abs) {
  return `expires_at > ${now} AND (${abs}::double precision IS NULL OR created_at > ${now} - make_interval(secs => ${abs}::double precision))`;
}

// capExpr limits an expiry to created + absoluteTimeout (LEAST ignores the
// NULL of an unset timeout). It adds seconds through the epoch rather than
// with timestamptz + interval: that operator is STABLE, and Citus refuses
// a STABLE function over a column in an UPDATE's SET; these are IMMUTABLE.
function capExpr(expiry, created, abs) {
  return `LEAST(${expiry}, to_timestamp(extract(epoch FROM ${created} - TIMESTAMPTZ 'epoch')::double precision + ${abs}::double precision))`;
}

// mergedExpr is the data a merge keeps: the row without the deleted keys,
// overlaid with the changed ones.
function mergedExpr(changed, deleted) {
  return `(data - ${deleted}::text[]) || ${changed}::jsonb`;
}

// ---- recordDevice: the SQL (device.js computes the values) ----

// DEVICE_COLUMNS are the columns recordDevice writes (migration 00003),
// with the SQL of their parameter: a device's last seen, ip, user agent
// at $n, $n+1, $n+2 (an empty text is stored as NULL, as Go's stores do).
const DEVICE_COLUMNS = [
  ['last_seen_at', (n) => `$${n}::timestamptz`],
  ['ip', (n) => `NULLIF($${n + 1}::text, '')`],
  ['user_agent', (n) => `NULLIF($${n + 2}::text, '')`],
];

// deviceSQL returns the fragments the store's writes add to record the
// device, or empty ones without recordDevice (the statements then name
// only the five columns they always did). Parameters: $n says whether
// this write has a device (a request), $n+1.. are its values. As in Go's
// MergeSession/TouchSession, a write without a device leaves the columns.
function deviceSQL(on) {
  const each = (f) => (on ? DEVICE_COLUMNS.map(f).join('') : '');
  return {
    // For an UPDATE's SET list.
    set: (n) => each(([col, v]) => `,\n    ${col} = CASE WHEN $${n}::boolean THEN ${v(n + 1)} ELSE ${col} END`),
    // For the upsert: its INSERT's columns and values (from $n on) ...
    columns: on ? ', ' + DEVICE_COLUMNS.map(([col]) => col).join(', ') : '',
    values: (n) => each(([, v]) => `, ${v(n)}`),
    // ... and its ON CONFLICT SET ($n: has a device; a dead row, expired at
    // ${now}, is a new session and takes the new values in any case).
    replace: (n, now) => each(([col]) => `,\n    ${col} = CASE WHEN $${n}::boolean OR s.expires_at <= ${now}::timestamptz THEN EXCLUDED.${col} ELSE s.${col} END`),
  };
}

// deviceArgs returns the parameters deviceSQL's fragments take: whether
// there is a device, then its values. Nothing without recordDevice.
function deviceArgs(on, device) {
  if (!on) return [];
  if (!device) return [false, null, null, null];
  return [true, device.lastSeen, device.ip, device.userAgent];
}

// requestOf returns the request express-session's Session carries (a
// non-enumerable `req`), or null: a plain object's `req` key is data.
function requestOf(sess) {
  if (sess === null || typeof sess !== 'object' || !('req' in sess)) return null;
  return Object.prototype.propertyIsEnumerable.call(sess, 'req') ? null : sess.req;
}

// ---- maxSessionsPerUser: the per-user cap ----

// capQueries are the statements of the per-user cap, as Go's pgstore
// (LockUser, EvictUserSessions): the same advisory lock key, so Go's and
// Node's logins of one user queue behind each other.
function capQueries(table) {
  return {
    // $1 user_id.
    lockUser: `SELECT pg_advisory_xact_lock(hashtextextended('sqlsession user ' || $1::text, 0))`,
    // Deletes the user's sessions beyond the $3 newest live others, never
    // $2 (the session being written). $1 user_id, $2 keep, $3 keep_others,
    // $4 now.
    evictUser: `DELETE FROM ${table}
WHERE user_id = $1::text AND id_hash <> $2::bytea
  AND id_hash NOT IN (
    SELECT newest.id_hash FROM ${table} AS newest
    WHERE newest.user_id = $1::text AND newest.id_hash <> $2::bytea
      AND newest.expires_at > $4::timestamptz
    ORDER BY newest.created_at DESC, newest.id_hash
    LIMIT $3::integer)`,
  };
}

// maxSessionsPerUserOf checks the maxSessionsPerUser option: 0 (or unset)
// for no cap, else a whole number up to 2^31-1 that needs userKey (the cap
// counts sessions by user_id) and a pool with connect() (a transaction).
function maxSessionsPerUserOf(v, userKey, pool) {
  if (v === undefined || v === null || v === 0) return 0;
  if (!Number.isInteger(v) || v < 0 || v > MAX_INT32) {
    throw new TypeError(`connect-sqlsession: maxSessionsPerUser must be a whole number from 0 (no cap) to ${MAX_INT32}`);
  }
  if (!userKey) throw new TypeError('connect-sqlsession: maxSessionsPerUser needs userKey: the cap counts sessions by user_id');
  // A pg.Client (it has connectionParameters, a Pool has not) has a
  // connect() that opens the connection, not one that lends a client.
  if (typeof pool.connect !== 'function' || 'connectionParameters' in pool) {
    throw new TypeError('connect-sqlsession: maxSessionsPerUser needs a pool with connect() (a pg.Pool, not a pg.Client): the cap runs in a transaction');
  }
  return v;
}

// inTransaction runs fn(client) in a transaction on a client of pool.
async function inTransaction(pool, fn) {
  const client = await pool.connect();
  let broken;
  try {
    await client.query('BEGIN');
    const v = await fn(client);
    await client.query('COMMIT');
    return v;
  } catch (err) {
    await client.query('ROLLBACK').catch((e) => { broken = e; });
    throw err;
  } finally {
    client.release(broken); // a client that cannot roll back is discarded
  }
}

// ---- end of the per-user cap helpers ----

// buildQueries returns the store's statements on table. Writes take the
// time as a parameter (no now() beside column references, which a
// distributed Postgres such as Citus refuses in an UPDATE), and check the
// size limit in the same statement as the write, as Go's pgstore does.
function buildQueries(table, device = false) {
  const dev = deviceSQL(device);
  return {
    get: `SELECT data FROM ${table} WHERE id_hash = $1 AND ${liveExpr('now()', '$2')}`,
    // Merge: only the keys this request changed; never resurrects a row that
    // is gone or expired (revoked elsewhere, e.g. Go's DestroyUser), and
    // changes nothing when the merged data would take more than $9 bytes
    // and more than the row already does (the limit refuses growth, not
    // data stored before it was lowered, as Go's stores).
    // $1 id_hash, $2 changed, $3 expires_at, $4 deleted, $5 set user_id,
    // $6 user_id, $7 absoluteTimeout, $8 now, $9 maxDataBytes; with
    // recordDevice, $10 has a device, $11 last seen, $12 ip, $13 user agent.
    merge: `UPDATE ${table}
SET data = ${mergedExpr('$2', '$4')},
    expires_at = ${capExpr('$3::timestamptz', 'created_at', '$7')},
    user_id = CASE WHEN $5::boolean THEN $6::text ELSE user_id END${dev.set(10)}
WHERE id_hash = $1 AND ${liveExpr('$8::timestamptz', '$7')}
  AND (octet_length((${mergedExpr('$2', '$4')})::text) <= $9::integer
       OR octet_length((${mergedExpr('$2', '$4')})::text) <= octet_length(data::text))`,
    // The size a merge would give the live row, and the size it has; no
    // row when it is gone. $1 id_hash, $2 changed, $3 deleted, $4 now,
    // $5 absoluteTimeout.
    mergedSize: `SELECT octet_length((${mergedExpr('$2', '$3')})::text) AS n, octet_length(data::text) AS before FROM ${table}
WHERE id_hash = $1 AND ${liveExpr('$4::timestamptz', '$5')}`,
    // Whole write, for sessions this process did not read. A dead row with
    // the same hash is replaced as a new session. INSERT … VALUES, so that
    // a distributed Postgres routes it to one shard; _upsert checks the
    // size limit before. $1 id_hash, $2 data, $3 expires_at, $4 user_id,
    // $5 set user_id, $6 absoluteTimeout, $7 now; with recordDevice, $8 has
    // a device, $9 last seen, $10 ip, $11 user agent.
    upsert: `INSERT INTO ${table} AS s (id_hash, data, expires_at, created_at, user_id${dev.columns})
VALUES ($1::bytea, $2::jsonb, ${capExpr('$3::timestamptz', '$7::timestamptz', '$6')}, $7::timestamptz, $4::text${dev.values(9)})
ON CONFLICT (id_hash) DO UPDATE
SET data = EXCLUDED.data,
    expires_at = CASE WHEN s.expires_at <= $7::timestamptz THEN EXCLUDED.expires_at
                      ELSE ${capExpr('EXCLUDED.expires_at', 's.created_at', '$6')} END,
    created_at = CASE WHEN s.expires_at <= $7::timestamptz THEN EXCLUDED.created_at ELSE s.created_at END,
    user_id = CASE WHEN $5::boolean OR s.expires_at <= $7::timestamptz THEN EXCLUDED.user_id ELSE s.user_id END${dev.replace(8, '$7')}`,
    dataSize: 'SELECT octet_length($1::jsonb::text) AS n',
    // $1 id_hash, $2 expires_at, $3 absoluteTimeout, $4 now; with
    // recordDevice, $5 has a device, $6 last seen, $7 ip, $8 user agent.
    touch: `UPDATE ${table} SET expires_at = ${capExpr('$2::timestamptz', 'created_at', '$3')}${dev.set(5)}
WHERE id_hash = $1 AND ${liveExpr('$4::timestamptz', '$3')}`,
    destroy: `DELETE FROM ${table} WHERE id_hash = $1`,
    destroyUser: `DELETE FROM ${table} WHERE user_id = $1::text`,
    length: `SELECT count(*)::int AS n FROM ${table} WHERE ${liveExpr('now()', '$1')}`,
    all: `SELECT data FROM ${table} WHERE ${liveExpr('now()', '$1')} ORDER BY created_at`,
    clear: `DELETE FROM ${table}`,
  };
}

// printedSizeBound is an upper bound of the bytes PostgreSQL prints for the
// jsonb of the JSON text json (octet_length(data::text)): its UTF-8 bytes
// plus a space after every ':' and ',' outside strings, as Go's
// sessionstore.Size counts. A whole write checks the limit in JavaScript
// against it, so that the write is an INSERT … VALUES, which a distributed
// Postgres (Citus) routes to one shard; only a session near the limit pays
// a query that measures it exactly.
function printedSizeBound(json) {
  let n = Buffer.byteLength(json);
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === ':' || c === ',') {
      n++;
    }
  }
  return n;
}

// maxDataBytesOf checks the maxDataBytes option: a whole number of bytes
// from 1 to 2^31-1 (the SQL integer it is passed as); default 1 MiB.
function maxDataBytesOf(v) {
  if (v === undefined || v === null) return DEFAULT_MAX_DATA_BYTES;
  if (!Number.isInteger(v) || v < 1 || v > MAX_INT32) {
    throw new TypeError(`connect-sqlsession: maxDataBytes must be a whole number of bytes from 1 to ${MAX_INT32}`);
  }
  return v;
}

// settle calls cb(err, value) when a callback is given, else returns the
// promise.
function settle(promise, cb) {
  if (typeof cb !== 'function') return promise;
  promise.then((v) => cb(null, v), (err) => cb(err));
  return undefined;
}

/**
 * connectSqlSession(session) returns the Store class for the given
 * express-session module (as connect-pg-simple does), so this package
 * depends on pg only.
 */
module.exports = function connectSqlSession(session) {
  const Store = session && session.Store;
  if (typeof Store !== 'function') {
    throw new TypeError('connect-sqlsession: pass the express-session module: require("connect-sqlsession")(require("express-session"))');
  }

  class SqlSessionStore extends Store {
    constructor(options = {}) {
      super(options);
      if (options.pool) {
        this.pool = options.pool;
        this.ownsPool = false;
      } else if (options.conString || options.conObject) {
        this.pool = new pg.Pool(options.conObject || { connectionString: options.conString });
        this.ownsPool = true;
        const log = options.errorLog || console.error;
        this.pool.on('error', (err) => log('connect-sqlsession: idle client error:', err.message));
      } else {
        throw new TypeError('connect-sqlsession: one of the options pool, conString or conObject is required');
      }
      const ttl = options.ttl === undefined ? DEFAULT_TTL_SECONDS : Number(options.ttl);
      if (!(ttl > 0)) throw new TypeError('connect-sqlsession: ttl must be a positive number of seconds');
      this.ttl = ttl;
      const abs = options.absoluteTimeout === undefined || options.absoluteTimeout === null ? null : Number(options.absoluteTimeout);
      if (abs !== null && !(abs > 0)) throw new TypeError('connect-sqlsession: absoluteTimeout must be a positive number of seconds');
      this.absoluteTimeout = abs;
      if (options.userKey !== undefined && (typeof options.userKey !== 'string' || options.userKey === '')) {
        throw new TypeError('connect-sqlsession: userKey must be a non-empty string');
      }
      this.userKey = options.userKey || null;
      this.maxDataBytes = maxDataBytesOf(options.maxDataBytes);
      this.recordDevice = Boolean(options.recordDevice);
      this.maxSessionsPerUser = maxSessionsPerUserOf(options.maxSessionsPerUser, this.userKey, this.pool);
      const table = (options.schemaName ? quoteIdent(options.schemaName) + '.' : '') + quoteIdent(options.tableName || 'http_sessions');
      this.queries = { ...buildQueries(table, this.recordDevice), ...capQueries(table) };
      // valueKeys: encrypt values at rest as Go's Options.ValueKeys (seal.js).
      this.sealer = options.valueKeys === undefined ? null : new Sealer(options.valueKeys);
      this.updateQueries = buildUpdateQueries(table); // store.update (atomic values)
      // The JSON of each top-level key as read, per session object: set()
      // writes only what differs. Weak: a request's session is forgotten
      // with the request.
      this.snapshots = new WeakMap();
    }

    // createSession is express-session's hook that wraps the object get()
    // returned into req.session; the snapshot follows it.
    createSession(req, sess) {
      const snap = this.snapshots.get(sess);
      const s = super.createSession(req, sess);
      if (snap) this.snapshots.set(s, snap);
      return s;
    }

    get(sid, cb) {
      return settle(this._get(sid), cb);
    }

    async _get(sid) {
      const res = await this.pool.query(this.queries.get, [hashId(sid), this.absoluteTimeout]);
      if (res.rows.length === 0) return null;
      const data = this.sealer ? this.sealer.open(res.rows[0].data) : res.rows[0].data;
      if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
      const snap = snapshotOf(data);
      if (!data.cookie || typeof data.cookie !== 'object') data.cookie = defaultCookie();
      this.snapshots.set(data, snap);
      return data;
    }

    set(sid, sess, cb) {
      return settle(this._set(sid, sess), cb);
    }

    async _set(sid, sess) {
      const data = toPlain(sess);
      const snap = this.snapshots.get(sess);
      const now = new Date();
      const id = hashId(sid);
      const salt = this.sealer ? this.sealer.prepare(sess, data, id) : null;
      const w = {
        id, data, expires: expiryOf(sess, now, this.ttl), now, device: this._device(sess, now),
        sealed: (obj) => (this.sealer ? this.sealer.seal(obj, salt) : obj), // valueKeys
      };
      if (snap) {
        const { changed, deleted } = diffTopLevel(snap, data, sess);
        const setUser = this.userKey !== null && (Object.prototype.hasOwnProperty.call(changed, this.userKey) || deleted.includes(this.userKey));
        const user = setUser ? userIdOf(data[this.userKey]) : null;
        await this._capped(user, w, (q) => this._merge(q, w, changed, deleted, setUser, user));
      } else {
        const user = this.userKey !== null ? userIdOf(data[this.userKey]) : null;
        await this._capped(user, w, (q) => this._upsert(q, w, user));
      }
      if (sess !== null && typeof sess === 'object') this.snapshots.set(sess, snapshotOf(data));
    }

    // _device is what recordDevice records with a write of sess at now:
    // from the request express-session's Session carries; null when off
    // or when there is no request (the columns are then left as they are).
    _device(sess, now) {
      return this.recordDevice ? deviceOf(requestOf(sess), now) : null;
    }

    // _capped runs write(q) on the pool, or, when the write gives user a
    // session under maxSessionsPerUser, in one transaction with the cap
    // (as Go's pgstore): the user is locked (concurrent logins, Go's and
    // Node's, queue), the write is made, then the user's sessions beyond
    // the max-1 newest others are deleted, never the one written. A write
    // that stores nothing (the session is gone) evicts nothing.
    async _capped(user, w, write) {
      if (this.maxSessionsPerUser === 0 || user === null) return write(this.pool);
      return inTransaction(this.pool, async (client) => {
        await client.query(this.queries.lockUser, [user]);
        if (await write(client)) {
          await client.query(this.queries.evictUser, [user, w.id, this.maxSessionsPerUser - 1, w.now]);
        }
      });
    }

    // _merge writes what changed since the session was read, on q (the
    // pool or a transaction's client), and says whether a row was written.
    // When it changes no row, a second query says why: the session is gone
    // (destroyed or expired meanwhile: it stays so, and the save succeeds)
    // or the merge would be too large (SizeError). A concurrent change
    // that made room in between is retried.
    async _merge(q, w, changed, deleted, setUser, user) {
      const changedJSON = JSON.stringify(w.sealed(changed));
      const args = [w.id, changedJSON, w.expires, deleted, setUser, user, this.absoluteTimeout, w.now, this.maxDataBytes, ...deviceArgs(this.recordDevice, w.device)];
      for (let attempt = 0; attempt < 3; attempt++) {
        const res = await q.query(this.queries.merge, args);
        if (res.rowCount > 0) return true;
        const size = await q.query(this.queries.mergedSize, [w.id, changedJSON, deleted, w.now, this.absoluteTimeout]);
        if (size.rows.length === 0) return false;
        const { n, before } = size.rows[0];
        if (n > this.maxDataBytes && n > before) throw new SizeError(n, this.maxDataBytes); // the limit refuses growth
      }
      throw new Error('connect-sqlsession: the save fitted the size limit but concurrent changes kept it from applying; retry');
    }

    // _upsert writes the whole session on q, after checking its size (see
    // the upsert statement), and says a row was written.
    async _upsert(q, w, user) {
      const json = JSON.stringify(w.sealed(w.data));
      if (printedSizeBound(json) > this.maxDataBytes) { // maybe too large: the server measures it exactly
        const size = (await q.query(this.queries.dataSize, [json])).rows[0].n;
        if (size > this.maxDataBytes) throw new SizeError(size, this.maxDataBytes);
      }
      await q.query(this.queries.upsert, [w.id, json, w.expires, user, this.userKey !== null, this.absoluteTimeout, w.now, ...deviceArgs(this.recordDevice, w.device)]);
      return true;
    }

    touch(sid, sess, cb) {
      const now = new Date();
      const args = [hashId(sid), expiryOf(sess, now, this.ttl), this.absoluteTimeout, now, ...deviceArgs(this.recordDevice, this._device(sess, now))];
      return settle(this.pool.query(this.queries.touch, args).then(() => undefined), cb);
    }

    destroy(sid, cb) {
      return settle(this.pool.query(this.queries.destroy, [hashId(sid)]).then(() => undefined), cb);
    }

    // destroyUser deletes every session of a user (Node's and Go's), and
    // reports how many rows went: "log out everywhere".
    destroyUser(userId, cb) {
      return settle(this.pool.query(this.queries.destroyUser, [String(userId)]).then((r) => r.rowCount), cb);
    }

    length(cb) {
      return settle(this.pool.query(this.queries.length, [this.absoluteTimeout]).then((r) => r.rows[0].n), cb);
    }

    // all returns the live sessions as an array: ids are not stored (only
    // their hashes), so they cannot be returned keyed by id.
    all(cb) {
      return settle(this.pool.query(this.queries.all, [this.absoluteTimeout]).then((r) => r.rows.map((row) => row.data)), cb);
    }

    // clear deletes every session in the table, Go's included.
    clear(cb) {
      return settle(this.pool.query(this.queries.clear).then(() => undefined), cb);
    }

    // close ends the pool when the store created it (conString/conObject).
    close() {
      return this.ownsPool ? this.pool.end() : Promise.resolve();
    }
  }

  // The error of a save over maxDataBytes, where an app has the class.
  SqlSessionStore.SizeError = SizeError;
  SqlSessionStore.prototype.update = update; // atomic values: see below

  return SqlSessionStore;
};

module.exports.hashId = hashId;
module.exports.diffTopLevel = diffTopLevel;
module.exports.snapshotOf = snapshotOf;
module.exports.DEFAULT_TTL_SECONDS = DEFAULT_TTL_SECONDS;
module.exports.DEFAULT_MAX_DATA_BYTES = DEFAULT_MAX_DATA_BYTES;
module.exports.SizeError = SizeError;
module.exports.cleanJSON = cleanJSON;
module.exports.printedSizeBound = printedSizeBound;
module.exports.clientIP = require('./device').clientIP;
module.exports.cleanUserAgent = require('./device').cleanUserAgent;

// ---- Atomic update of one value (sqlsession issue #22) ----------------
// store.update(target, key, fn[, cb]) is the twin of Go's sessions.Update:
// a compare-and-swap of one top-level key in the database, at once, so N
// concurrent increments from Node and Go add exactly N. Self-contained:
// its queries, its loop and its errors are all in this block.

const UPDATE_ATTEMPTS = 10; // as Go's sessions.MaxUpdateAttempts

// buildUpdateQueries returns the statements of update: swap stores $4
// under key $2 only when the stored value equals $3 as jsonb (NULL: the
// key is absent), on a live row; current reads the key's value as jsonb
// text (NULL when absent) when a swap changed no row.
function buildUpdateQueries(table) {
  return {
    swap: `UPDATE ${table}
SET data = data || jsonb_build_object($2::text, $4::jsonb)
WHERE id_hash = $1 AND ${liveExpr('$6::timestamptz', '$5')}
  AND data -> $2::text IS NOT DISTINCT FROM $3::text::jsonb`,
    current: `SELECT (data -> $2::text)::text AS value FROM ${table} WHERE id_hash = $1 AND ${liveExpr('now()', '$3')}`,
  };
}

// currentValue reads key's stored JSON text (null: absent) of a live session.
async function currentValue(store, id, key) {
  const cur = await store.pool.query(store.updateQueries.current, [id, key, store.absoluteTimeout]);
  if (cur.rows.length === 0) throw updateError('ESESSIONNOTFOUND', 'the session is gone or expired');
  return cur.rows[0].value;
}

// storedSalt returns the session's seal salt (valueKeys), storing one with
// a compare-and-swap of its "$seal" entry when it has none yet (another
// writer's wins).
async function storedSalt(store, id) {
  for (;;) {
    const cur = await currentValue(store, id, SEAL_KEY);
    if (cur !== null) return JSON.parse(cur);
    const fresh = JSON.stringify(Sealer.saltFor(id));
    const res = await store.pool.query(store.updateQueries.swap, [id, SEAL_KEY, null, fresh, store.absoluteTimeout, new Date()]);
    if (res.rowCount > 0) return JSON.parse(fresh);
  }
}

// updateError is an Error with a code: 'ESESSIONNOTFOUND' (gone, expired
// or never stored), 'ECONFLICT' (the value kept changing), 'EINVAL'.
function updateError(code, message) {
  const err = new Error('connect-sqlsession: update: ' + message);
  err.code = code;
  return err;
}

// update changes the value under key atomically. target is a sid, or
// express-session's req.session: then the session object and the store's
// remembered JSON get the new value too, so its save at the end of the
// request neither writes it again nor puts a stale value back, and a
// session never saved yet is saved first. fn(old, present) returns the new
// value (or a promise of it); it is called again with the stored value if
// another request changed it meanwhile, at most 10 times (from the third,
// after a random pause and a fresh read), then the error has code
// 'ECONFLICT'. Updates of one key of one session through one store take
// turns. Resolves to the new value.
function update(target, key, fn, cb) {
  return settle(queued(this, target, key, () => updateValue(this, target, key, fn)), cb);
}

// queued runs task after the store's earlier updates of the same key of
// the same session have settled: in one process they take turns instead
// of spinning on conflicts (as Go's Updates within one Manager do); the
// compare-and-swap arbitrates between processes.
const updateQueues = new WeakMap(); // store -> Map(sid + NUL + key -> tail promise)
function queued(store, target, key, task) {
  const sid = target !== null && typeof target === 'object' ? target.id : target;
  if (!updateQueues.has(store)) updateQueues.set(store, new Map());
  const queues = updateQueues.get(store);
  const name = String(sid) + '\0' + String(key);
  const run = (queues.get(name) || Promise.resolve()).then(task, task);
  const tail = run.then(() => undefined, () => undefined);
  queues.set(name, tail);
  tail.then(() => { if (queues.get(name) === tail) queues.delete(name); });
  return run;
}

// pause waits a random time of up to 2, 4, 8 ... 64 ms before the
// attempt-th swap (exponential backoff with full jitter), as Go's Update.
function pause(attempt) {
  const ceiling = Math.min(2 ** (attempt - 1), 64);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

async function updateValue(store, target, key, fn) {
  const sess = target !== null && typeof target === 'object' ? target : null;
  const sid = sess ? sess.id : target;
  if (typeof sid !== 'string' || sid === '') throw updateError('EINVAL', 'want a session id or req.session');
  if (typeof key !== 'string' || key === '' || key === 'cookie') throw updateError('EINVAL', 'key must be a non-empty string other than "cookie"');
  if (typeof fn !== 'function') throw updateError('EINVAL', 'fn must be a function');
  let snap = sess ? store.snapshots.get(sess) : undefined;
  if (sess && !snap) { // never stored: save it first, as Go's Update does
    await new Promise((resolve, reject) => sess.save((err) => (err ? reject(err) : resolve())));
    snap = store.snapshots.get(sess);
  }
  const id = hashId(sid);
  // With valueKeys the swap compares and stores sealed values, which only
  // the database holds (the session object has them opened): read them.
  const salt = store.sealer ? await storedSalt(store, id) : null;
  let old = salt ? await currentValue(store, id, key) : (snap && snap.has(key) ? snap.get(key) : null); // JSON text, null: absent
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    if (attempt >= 2) { // contention from another process: wait, then read afresh
      await pause(attempt);
      old = await currentValue(store, id, key);
    }
    const plainOld = old !== null && salt ? JSON.stringify(store.sealer.openValue(JSON.parse(old), key, salt)) : old;
    const value = await fn(plainOld === null ? undefined : JSON.parse(plainOld), old !== null);
    const raw = JSON.stringify(value);
    if (raw === undefined) throw updateError('EINVAL', 'fn returned a value JSON cannot hold');
    const plain = cleanJSON(raw); // as set does: text jsonb refuses becomes U+FFFD
    const text = salt ? JSON.stringify(store.sealer.sealValue(JSON.parse(plain), key, salt)) : plain;
    const res = await store.pool.query(store.updateQueries.swap, [id, key, old, text, store.absoluteTimeout, new Date()]);
    if (res.rowCount > 0) {
      const stored = JSON.parse(plain);
      if (sess) {
        sess[key] = stored;
        if (snap) snap.set(key, JSON.stringify(stored));
      }
      return stored;
    }
    old = await currentValue(store, id, key);
  }
  throw updateError('ECONFLICT', `the value kept changing under concurrent updates (${UPDATE_ATTEMPTS} attempts)`);
}
