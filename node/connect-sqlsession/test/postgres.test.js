'use strict';

// Tests on a real PostgreSQL. SQLSESSION_TEST_POSTGRES_DSN names a server
// where the test may create a schema; it migrates http_sessions there with
// the Go repository's migrations (db/migrations/postgres) and drops the
// schema at the end. Without the DSN the suite skips with one line, unless
// SQLSESSION_REQUIRE_POSTGRES=1 (CI), which makes that a failure.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { EventEmitter } = require('node:events');
const pg = require('pg');

const connectSqlSession = require('..');

const dsn = process.env.SQLSESSION_TEST_POSTGRES_DSN;
const migrationsDir = path.join(__dirname, '..', '..', '..', 'db', 'migrations', 'postgres');
if (!dsn && process.env.SQLSESSION_REQUIRE_POSTGRES === '1') {
  throw new Error('SQLSESSION_REQUIRE_POSTGRES=1 but SQLSESSION_TEST_POSTGRES_DSN is not set');
}
const skip = dsn ? false : 'PostgreSQL tests skipped: SQLSESSION_TEST_POSTGRES_DSN is not set';

// express-session's Store, as far as connect-sqlsession uses it.
const Store = connectSqlSession({ Store: class extends EventEmitter {} });
const cookie = { originalMaxAge: null, expires: null, httpOnly: true, path: '/' };

// upSQL returns the "-- +goose Up" part of a goose migration.
function upSQL(file) {
  const text = fs.readFileSync(file, 'utf8');
  const up = text.indexOf('-- +goose Up');
  const down = text.indexOf('-- +goose Down');
  if (up < 0) throw new Error(`${file}: no "-- +goose Up"`);
  return text.slice(up, down < 0 ? undefined : down);
}

// callback turns a callback call of the store into a promise that
// resolves to the error passed (or null), so tests see what express-session
// would hand to next().
function callback(fn) {
  return new Promise((resolve) => fn((err) => resolve(err || null)));
}

test.describe('connect-sqlsession on PostgreSQL', { skip }, () => {
  const schema = 'node_test_' + crypto.randomBytes(6).toString('hex');
  const table = `"${schema}".http_sessions`;
  let pool;

  test.before(async () => {
    pool = new pg.Pool({ connectionString: dsn, max: 3 });
    const client = await pool.connect();
    try {
      await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(`SET search_path TO "${schema}"`);
      for (const f of fs.readdirSync(migrationsDir).filter((n) => n.endsWith('.sql')).sort()) {
        await client.query(upSQL(path.join(migrationsDir, f)));
      }
    } finally {
      await client.query('RESET search_path').catch(() => {});
      client.release();
    }
  });

  test.after(async () => {
    if (!pool) return;
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  const newStore = (opts = {}) => new Store({ pool, schemaName: schema, ...opts });
  const rowOf = async (sid) => {
    const r = await pool.query(`SELECT data::text AS text, data, expires_at, octet_length(data::text) AS size FROM ${table} WHERE id_hash = $1`, [connectSqlSession.hashId(sid)]);
    return r.rows[0] || null;
  };

  test('NUL and unpaired surrogates in keys and values are stored as U+FFFD', async () => {
    const store = newStore();
    const sid = 'clean-' + crypto.randomUUID();
    // A new session: the whole write.
    await store.set(sid, { cookie, ['k\u0000']: 'a\u0000b', nested: { ['x\ud800']: ['\udc00', '\ud83d\ude00'] } });
    let row = await rowOf(sid);
    assert.ok(row, 'no row stored');
    assert.deepEqual(row.data, { cookie, ['k\ufffd']: 'a\ufffdb', nested: { ['x\ufffd']: ['\ufffd', '\ud83d\ude00'] } });

    // A read session: the merge.
    const sess = await store.get(sid);
    sess.later = 'z\ud800\u0000';
    const err = await callback((cb) => store.set(sid, sess, cb));
    assert.equal(err, null);
    row = await rowOf(sid);
    assert.equal(row.data.later, 'z\ufffd\ufffd');
    assert.equal(row.data['k\ufffd'], 'a\ufffdb');
  });

  test('userKey with a NUL fills user_id with U+FFFD', async () => {
    const store = newStore({ userKey: 'user' });
    const sid = 'user-' + crypto.randomUUID();
    await store.set(sid, { cookie, user: 'ann\u0000' });
    const r = await pool.query(`SELECT user_id FROM ${table} WHERE id_hash = $1`, [connectSqlSession.hashId(sid)]);
    assert.equal(r.rows[0].user_id, 'ann\ufffd');
  });

  test('a new session over maxDataBytes gets a SizeError and no row', async () => {
    const store = newStore({ maxDataBytes: 300 });
    const sid = 'big-new-' + crypto.randomUUID();
    const err = await callback((cb) => store.set(sid, { cookie, big: 'x'.repeat(400) }, cb));
    assert.ok(err instanceof connectSqlSession.SizeError, String(err));
    assert.equal(err.limit, 300);
    assert.ok(err.size > 400, `size ${err.size}`);
    assert.equal(await rowOf(sid), null);
  });

  test('a merge over maxDataBytes gets a SizeError and leaves the row as it was', async () => {
    const store = newStore({ maxDataBytes: 300 });
    const sid = 'big-merge-' + crypto.randomUUID();
    await store.set(sid, { cookie, a: 1 });
    const before = await rowOf(sid);
    const sess = await store.get(sid);
    sess.big = 'x'.repeat(400);
    sess.cookie = { ...cookie, expires: new Date(Date.now() + 7 * 86400e3).toISOString(), originalMaxAge: 7 * 86400e3 };
    const err = await callback((cb) => store.set(sid, sess, cb));
    assert.ok(err instanceof connectSqlSession.SizeError, String(err));
    const after = await rowOf(sid);
    assert.equal(after.text, before.text);
    assert.equal(after.expires_at.getTime(), before.expires_at.getTime());

    // Removing the big value again makes the next save fit.
    delete sess.big;
    sess.b = 2;
    assert.equal(await callback((cb) => store.set(sid, sess, cb)), null);
    assert.deepEqual((await rowOf(sid)).data, { cookie: sess.cookie, a: 1, b: 2 });
  });

  test('the limit is the jsonb text size: at the limit saves, one byte over does not', async () => {
    const sid = 'exact-' + crypto.randomUUID();
    const value = { cookie, s: 'é, "quoted": ok', n: [1, 2.5, { k: null }] };
    await newStore().set(sid, value);
    const { size } = await rowOf(sid);
    assert.equal(await callback((cb) => newStore({ maxDataBytes: size }).set(sid, value, cb)), null);
    const err = await callback((cb) => newStore({ maxDataBytes: size - 1 }).set(sid, value, cb));
    assert.ok(err instanceof connectSqlSession.SizeError, String(err));
    assert.deepEqual([err.size, err.limit], [size, size - 1]);
  });

  test('the limit refuses growth, not data stored before it was lowered', async () => {
    const sid = 'lowered-' + crypto.randomUUID();
    await newStore().set(sid, { cookie, big: 'x'.repeat(1000), n: 1 });
    const store = newStore({ maxDataBytes: 300 });
    const sess = await store.get(sid);
    sess.n = 2; // same size
    assert.equal(await callback((cb) => store.set(sid, sess, cb)), null);
    assert.equal((await rowOf(sid)).data.n, 2);
    const again = await store.get(sid);
    again.more = 'yy'; // grows
    const err = await callback((cb) => store.set(sid, again, cb));
    assert.ok(err instanceof connectSqlSession.SizeError, String(err));
    assert.equal((await rowOf(sid)).data.more, undefined);
  });

  test('the default limit is 1 MiB', async () => {
    const sid = 'mib-' + crypto.randomUUID();
    const err = await callback((cb) => newStore().set(sid, { cookie, big: 'x'.repeat(1024 * 1024) }, cb));
    assert.ok(err instanceof connectSqlSession.SizeError, String(err));
    assert.equal(err.limit, 1048576);
    assert.equal(await rowOf(sid), null);
  });

  test('two requests that each fit cannot together grow a row past the limit', async () => {
    const store = newStore({ maxDataBytes: 400 });
    const sid = 'race-' + crypto.randomUUID();
    await store.set(sid, { cookie });
    const one = await store.get(sid);
    const two = await store.get(sid);
    one.a = 'a'.repeat(150);
    two.b = 'b'.repeat(150);
    const errs = await Promise.all([one, two].map((s) => callback((cb) => store.set(sid, s, cb))));
    assert.equal(errs.filter((e) => e === null).length, 1, String(errs));
    assert.equal(errs.filter((e) => e instanceof connectSqlSession.SizeError).length, 1, String(errs));
    const row = await rowOf(sid);
    assert.ok(row.size <= 400, `row grew to ${row.size} bytes`);
  });

  test('absoluteTimeout caps expires_at at exactly created_at + the timeout on every write', async () => {
    const store = newStore({ absoluteTimeout: 3600 });
    const sid = 'abs-' + crypto.randomUUID();
    const week = { ...cookie, originalMaxAge: 7 * 86400e3, expires: new Date(Date.now() + 7 * 86400e3).toISOString() };
    const capped = async () => (await pool.query(`SELECT expires_at = created_at + interval '1 hour' AS ok FROM ${table} WHERE id_hash = $1`, [connectSqlSession.hashId(sid)])).rows[0].ok;
    await store.set(sid, { cookie: week });
    assert.equal(await capped(), true, 'insert');
    await pool.query(`UPDATE ${table} SET created_at = created_at - interval '10 minutes' WHERE id_hash = $1`, [connectSqlSession.hashId(sid)]);
    const sess = await store.get(sid);
    sess.a = 1;
    await store.set(sid, sess);
    assert.equal(await capped(), true, 'merge');
    await pool.query(`UPDATE ${table} SET created_at = created_at - interval '10 minutes' WHERE id_hash = $1`, [connectSqlSession.hashId(sid)]);
    await store.touch(sid, sess);
    assert.equal(await capped(), true, 'touch');
    await pool.query(`UPDATE ${table} SET created_at = created_at - interval '10 minutes' WHERE id_hash = $1`, [connectSqlSession.hashId(sid)]);
    await store.set(sid, { cookie: week }); // a whole write over the live row keeps created_at
    assert.equal(await capped(), true, 'upsert');
  });

  // ---- recordDevice and maxSessionsPerUser (as Go's RecordDevice and MaxSessionsPerUser) ----

  // withReq is what express-session hands the store: data with a
  // non-enumerable req.
  const withReq = (data, req) => Object.defineProperty({ ...data }, 'req', { value: req });
  const deviceOf = async (sid) => (await pool.query(`SELECT last_seen_at, ip, user_agent FROM ${table} WHERE id_hash = $1`, [connectSqlSession.hashId(sid)])).rows[0];
  const usersRows = async (user) => (await pool.query(`SELECT encode(id_hash, 'hex') AS h FROM ${table} WHERE user_id = $1 ORDER BY h`, [user])).rows.map((r) => r.h);
  const hex = (sid) => connectSqlSession.hashId(sid).toString('hex');

  test('recordDevice stores last seen, ip and user agent with every write and touch', async () => {
    const store = newStore({ recordDevice: true });
    const sid = 'dev-' + crypto.randomUUID();
    const req = { ip: '2001:DB8::7', socket: { remoteAddress: '127.0.0.1' }, headers: { 'user-agent': Buffer.from('Firefox é \xff', 'latin1').toString('latin1') } };
    await store.set(sid, withReq({ cookie, a: 1 }, req));
    let d = await deviceOf(sid);
    assert.equal(d.ip, '2001:db8::7');
    assert.equal(d.user_agent, 'Firefox \ufffd \ufffd'); // latin1 é is not UTF-8: as Go reads those bytes
    assert.ok(d.last_seen_at instanceof Date);

    await pool.query(`UPDATE ${table} SET last_seen_at = last_seen_at - interval '1 hour' WHERE id_hash = $1`, [connectSqlSession.hashId(sid)]);
    const before = (await deviceOf(sid)).last_seen_at;
    const other = { ip: undefined, socket: { remoteAddress: '::ffff:192.0.2.1' }, headers: {} };
    await store.touch(sid, withReq({ cookie }, other));
    d = await deviceOf(sid);
    assert.deepEqual([d.ip, d.user_agent], ['192.0.2.1', null]); // no user agent: NULL, as Go's ''
    assert.ok(d.last_seen_at > before, 'touch did not move last_seen_at');

    const sess = await store.get(sid);
    Object.defineProperty(sess, 'req', { value: req });
    sess.a = 2;
    await store.set(sid, sess);
    assert.equal((await deviceOf(sid)).ip, '2001:db8::7');

    // A plain object (no request) leaves the device as it was.
    await store.set(sid, { cookie, a: 3 });
    assert.equal((await deviceOf(sid)).ip, '2001:db8::7');
    assert.equal((await rowOf(sid)).data.a, 3);
  });

  test('without recordDevice the device columns are never written', async () => {
    const sid = 'nodev-' + crypto.randomUUID();
    const req = { ip: '192.0.2.9', socket: {}, headers: { 'user-agent': 'x' } };
    await newStore().set(sid, withReq({ cookie }, req));
    await newStore().touch(sid, withReq({ cookie }, req));
    assert.deepEqual(await deviceOf(sid), { last_seen_at: null, ip: null, user_agent: null });
  });

  test('maxSessionsPerUser deletes the user\'s oldest sessions beyond it, never the one written', async () => {
    const user = 'cap-' + crypto.randomUUID();
    const store = newStore({ userKey: 'user', maxSessionsPerUser: 2 });
    const sids = [0, 1, 2].map((i) => `cap-${i}-${crypto.randomUUID()}`);
    const other = newStore({ userKey: 'user' });
    for (const [i, sid] of sids.entries()) {
      await other.set(sid, { cookie, user }); // no cap: three sessions
      await pool.query(`UPDATE ${table} SET created_at = now() - make_interval(mins => $2) WHERE id_hash = $1`, [connectSqlSession.hashId(sid), 10 - i]);
    }
    const anon = 'anon-' + crypto.randomUUID();
    await store.set(anon, { cookie, n: 1 }); // no user: nothing capped
    assert.equal((await usersRows(user)).length, 3);

    // The anonymous session logs in: it stays, with the newest other one.
    const sess = await store.get(anon);
    sess.user = user;
    await store.set(anon, sess);
    assert.deepEqual(await usersRows(user), [hex(anon), hex(sids[2])].sort());

    // The oldest session is written again: it survives, the other goes.
    await pool.query(`UPDATE ${table} SET created_at = now() - interval '1 day' WHERE id_hash = $1`, [connectSqlSession.hashId(anon)]);
    const s2 = await store.get(sids[2]);
    s2.user = user + '-x'; // another user
    await store.set(sids[2], s2);
    const s3 = await store.get(sids[2]);
    s3.user = user;
    await store.set(sids[2], s3);
    assert.deepEqual(await usersRows(user), [hex(anon), hex(sids[2])].sort());
    await store.set('new-' + sids[0], { cookie, user }); // a new session: the oldest (anon) goes
    assert.deepEqual(await usersRows(user), [hex('new-' + sids[0]), hex(sids[2])].sort());
  });

  test('maxSessionsPerUser holds under 12 concurrent logins of one user', async () => {
    const user = 'race-' + crypto.randomUUID();
    const store = newStore({ userKey: 'user', maxSessionsPerUser: 3 });
    const sids = Array.from({ length: 12 }, (_, i) => `login-${i}-${crypto.randomUUID()}`);
    await Promise.all(sids.map((sid) => store.set(sid, { cookie, user })));
    assert.equal((await usersRows(user)).length, 3);
  });

  test('maxSessionsPerUser takes the Go side\'s lock: a Go transaction holding it makes Node\'s login wait', async () => {
    const user = 'lock-' + crypto.randomUUID();
    const store = newStore({ userKey: 'user', maxSessionsPerUser: 1 });
    const go = await pool.connect();
    try {
      await go.query('BEGIN');
      // Go's LockUser (db/queries/postgres/sessions.sql), verbatim.
      await go.query(`SELECT pg_advisory_xact_lock(hashtextextended('sqlsession user ' || $1::text, 0))`, [user]);
      const sid = 'locked-' + crypto.randomUUID();
      const saving = store.set(sid, { cookie, user });
      for (let i = 0; ; i++) { // wait until Node's transaction waits for the lock
        const r = await go.query(`SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
            AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('sqlsession user ' || $1::text, 0)`, [user]);
        if (r.rows[0].n > 0) break;
        assert.ok(i < 2000, 'Node\'s save never waited for the Go side\'s lock');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(await rowOf(sid), null); // not written while Go holds the user
      await go.query('COMMIT');
      await saving;
      assert.ok(await rowOf(sid));
    } finally {
      await go.query('ROLLBACK').catch(() => {});
      go.release();
    }
  });

  test('a merge of a session destroyed meanwhile succeeds and does not re-create it', async () => {
    const store = newStore();
    const sid = 'gone-' + crypto.randomUUID();
    await store.set(sid, { cookie, a: 1 });
    const sess = await store.get(sid);
    await store.destroy(sid);
    sess.a = 2;
    assert.equal(await callback((cb) => store.set(sid, sess, cb)), null);
    assert.equal(await rowOf(sid), null);
  });
});
