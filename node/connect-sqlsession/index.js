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
      const data = res.rows[0].data;
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
      if (snap) {
        const { changed, deleted } = diffTopLevel(snap, data, sess);
        const setUser = this.userKey !== null && (Object.prototype.hasOwnProperty.call(changed, this.userKey) || deleted.includes(this.userKey));
        const user = setUser ? userIdOf(data[this.userKey]) : null;
        await this.pool.query(this.queries.merge, [id, JSON.stringify(changed), expires, this.ttl, deleted, setUser, user, this.absoluteTimeout]);
        // 0 rows: the session was destroyed or expired meanwhile; it stays so.
      } else {
        const user = this.userKey !== null ? userIdOf(data[this.userKey]) : null;
        await this.pool.query(this.queries.upsert, [id, JSON.stringify(data), expires, this.ttl, user, this.userKey !== null, this.absoluteTimeout]);
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

  SqlSessionStore.prototype.update = update; // atomic values: see below

  return SqlSessionStore;
};

module.exports.hashId = hashId;
module.exports.diffTopLevel = diffTopLevel;
module.exports.snapshotOf = snapshotOf;
module.exports.DEFAULT_TTL_SECONDS = DEFAULT_TTL_SECONDS;

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
WHERE id_hash = $1 AND ${liveExpr('$5')}
  AND data -> $2::text IS NOT DISTINCT FROM $3::text::jsonb`,
    current: `SELECT (data -> $2::text)::text AS value FROM ${table} WHERE id_hash = $1 AND ${liveExpr('$3')}`,
  };
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
  let old = snap && snap.has(key) ? snap.get(key) : null; // JSON text, null: absent
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    if (attempt >= 2) { // contention from another process: wait, then read afresh
      await pause(attempt);
      const cur = await store.pool.query(store.updateQueries.current, [id, key, store.absoluteTimeout]);
      if (cur.rows.length === 0) throw updateError('ESESSIONNOTFOUND', 'the session is gone or expired');
      old = cur.rows[0].value;
    }
    const value = await fn(old === null ? undefined : JSON.parse(old), old !== null);
    const text = JSON.stringify(value);
    if (text === undefined) throw updateError('EINVAL', 'fn returned a value JSON cannot hold');
    const res = await store.pool.query(store.updateQueries.swap, [id, key, old, text, store.absoluteTimeout]);
    if (res.rowCount > 0) {
      const stored = JSON.parse(text);
      if (sess) {
        sess[key] = stored;
        if (snap) snap.set(key, JSON.stringify(stored));
      }
      return stored;
    }
    const cur = await store.pool.query(store.updateQueries.current, [id, key, store.absoluteTimeout]);
    if (cur.rows.length === 0) throw updateError('ESESSIONNOTFOUND', 'the session is gone or expired');
    old = cur.rows[0].value;
  }
  throw updateError('ECONFLICT', `the value kept changing under concurrent updates (${UPDATE_ATTEMPTS} attempts)`);
}
