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
