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
// The store writes only these columns, so columns added by later migrations
// (with defaults or generated) keep working.

const crypto = require('crypto');
const pg = require('pg');
const { Sealer } = require('./seal');

const DEFAULT_TTL_SECONDS = 24 * 60 * 60; // as connect-pg-simple and sqlsession's DefaultTTL

// hashId returns SHA-256(sid) as the Buffer pg sends as bytea.
function hashId(sid) {
  return crypto.createHash('sha256').update(String(sid), 'utf8').digest();
}

// quoteIdent quotes a SQL identifier.
function quoteIdent(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

// toPlain turns a session (express-session's Session object or any object)
// into the JSON object that is stored: own enumerable keys, toJSON applied
// (the Cookie), undefined values dropped.
function toPlain(sess) {
  return JSON.parse(JSON.stringify(sess));
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

// expiryOf returns the cookie's absolute expiry, or null for a
// browser-session cookie (the store then keeps the row for ttl).
function expiryOf(sess) {
  const e = sess && sess.cookie && sess.cookie.expires;
  if (!e) return null;
  const d = new Date(e);
  return Number.isNaN(d.getTime()) ? null : d;
}

// A cookie for sessions that were stored without one (express-session
// needs one to inflate a session): a browser-session cookie.
function defaultCookie() {
  return { originalMaxAge: null, expires: null, httpOnly: true, path: '/' };
}

// expiryExpr is the SQL for expires_at: the cookie's expiry ($at) when
// set, else the database's now() + ttl seconds ($ttl).
function expiryExpr(at, ttl) {
  return `COALESCE(${at}::timestamptz, now() + make_interval(secs => ${ttl}::double precision))`;
}

// liveExpr is the SQL that a row is live: not expired, and not older than
// the absoluteTimeout in seconds ($abs; NULL when unset).
function liveExpr(abs) {
  return `expires_at > now() AND (${abs}::double precision IS NULL OR created_at > now() - make_interval(secs => ${abs}::double precision))`;
}

// capExpr limits an expiry to created + absoluteTimeout (LEAST ignores the
// NULL of an unset timeout).
function capExpr(expiry, created, abs) {
  return `LEAST(${expiry}, ${created} + make_interval(secs => ${abs}::double precision))`;
}

function buildQueries(table) {
  return {
    get: `SELECT data FROM ${table} WHERE id_hash = $1 AND ${liveExpr('$2')}`,
    // Merge: only the keys this request changed; never resurrects a row that
    // is gone or expired (revoked elsewhere, e.g. Go's DestroyUser).
    merge: `UPDATE ${table}
SET data = (data - $5::text[]) || $2::jsonb,
    expires_at = ${capExpr(expiryExpr('$3', '$4'), 'created_at', '$8')},
    user_id = CASE WHEN $6::boolean THEN $7::text ELSE user_id END
WHERE id_hash = $1 AND ${liveExpr('$8')}`,
    // Whole write, for sessions this process did not read. A dead row with
    // the same hash is replaced as a new session.
    upsert: `INSERT INTO ${table} AS s (id_hash, data, expires_at, created_at, user_id)
VALUES ($1, $2::jsonb, ${capExpr(expiryExpr('$3', '$4'), 'now()', '$7')}, now(), $5::text)
ON CONFLICT (id_hash) DO UPDATE
SET data = EXCLUDED.data,
    expires_at = CASE WHEN s.expires_at <= now() THEN EXCLUDED.expires_at
                      ELSE ${capExpr('EXCLUDED.expires_at', 's.created_at', '$7')} END,
    created_at = CASE WHEN s.expires_at <= now() THEN EXCLUDED.created_at ELSE s.created_at END,
    user_id = CASE WHEN $6::boolean OR s.expires_at <= now() THEN EXCLUDED.user_id ELSE s.user_id END`,
    touch: `UPDATE ${table} SET expires_at = ${capExpr(expiryExpr('$2', '$3'), 'created_at', '$4')}
WHERE id_hash = $1 AND ${liveExpr('$4')}`,
    destroy: `DELETE FROM ${table} WHERE id_hash = $1`,
    destroyUser: `DELETE FROM ${table} WHERE user_id = $1::text`,
    length: `SELECT count(*)::int AS n FROM ${table} WHERE ${liveExpr('$1')}`,
    all: `SELECT data FROM ${table} WHERE ${liveExpr('$1')} ORDER BY created_at`,
    clear: `DELETE FROM ${table}`,
  };
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
      const table = (options.schemaName ? quoteIdent(options.schemaName) + '.' : '') + quoteIdent(options.tableName || 'http_sessions');
      this.queries = buildQueries(table);
      // valueKeys: encrypt values at rest as Go's Options.ValueKeys (seal.js).
      this.sealer = options.valueKeys === undefined ? null : new Sealer(options.valueKeys);
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
      const id = hashId(sid);
      const expires = expiryOf(sess);
      const salt = this.sealer ? this.sealer.prepare(sess, data, id) : null;
      const sealed = (obj) => (this.sealer ? this.sealer.seal(obj, salt) : obj);
      if (snap) {
        const { changed, deleted } = diffTopLevel(snap, data, sess);
        const setUser = this.userKey !== null && (Object.prototype.hasOwnProperty.call(changed, this.userKey) || deleted.includes(this.userKey));
        const user = setUser ? userIdOf(data[this.userKey]) : null;
        await this.pool.query(this.queries.merge, [id, JSON.stringify(sealed(changed)), expires, this.ttl, deleted, setUser, user, this.absoluteTimeout]);
        // 0 rows: the session was destroyed or expired meanwhile; it stays so.
      } else {
        const user = this.userKey !== null ? userIdOf(data[this.userKey]) : null;
        await this.pool.query(this.queries.upsert, [id, JSON.stringify(sealed(data)), expires, this.ttl, user, this.userKey !== null, this.absoluteTimeout]);
      }
      if (sess !== null && typeof sess === 'object') this.snapshots.set(sess, snapshotOf(data));
    }

    touch(sid, sess, cb) {
      return settle(this.pool.query(this.queries.touch, [hashId(sid), expiryOf(sess), this.ttl, this.absoluteTimeout]).then(() => undefined), cb);
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

  return SqlSessionStore;
};

module.exports.hashId = hashId;
module.exports.diffTopLevel = diffTopLevel;
module.exports.snapshotOf = snapshotOf;
module.exports.DEFAULT_TTL_SECONDS = DEFAULT_TTL_SECONDS;
