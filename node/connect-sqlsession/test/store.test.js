'use strict';

// Unit tests without a database: a fake pool records the statements the
// store sends. The integration tests in the Go repository
// (integration/node_test.go) run the store on PostgreSQL with express.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');

const connectSqlSession = require('..');

// A stand-in for express-session's Store and Session: createSession wraps
// the loaded object into a new one that has a non-enumerable id and
// prototype methods, and copies only the keys those do not hide.
class FakeSession {
  constructor(id, data) {
    Object.defineProperty(this, 'id', { value: id });
    for (const prop in data) if (!(prop in this)) this[prop] = data[prop];
  }
  save() {}
}
class FakeStore extends EventEmitter {
  createSession(req, sess) {
    req.session = new FakeSession(req.sessionID, sess);
    return req.session;
  }
}
const Store = connectSqlSession({ Store: FakeStore });

// fakePool answers every query with rows and rowCount, or with what
// answer(text, params) returns when it is a function.
function fakePool(rows = [], rowCount = 1) {
  const calls = [];
  return {
    calls,
    query(text, params) {
      calls.push({ text, params });
      if (typeof rows === 'function') return Promise.resolve(rows(text, params));
      return Promise.resolve({ rows, rowCount });
    },
  };
}

const cookie = { originalMaxAge: null, expires: null, httpOnly: true, path: '/' };

function newStore(pool, opts = {}) {
  return new Store({ pool, ...opts });
}

test('hashId is SHA-256 of the sid as UTF-8', () => {
  const want = crypto.createHash('sha256').update('abc\u00e9', 'utf8').digest('hex');
  assert.equal(connectSqlSession.hashId('abc\u00e9').toString('hex'), want);
});

test('get filters on expires_at and returns the stored object', async () => {
  const pool = fakePool([{ data: { cookie, user: 'ann' } }]);
  const sess = await newStore(pool).get('sid1');
  assert.deepEqual(sess, { cookie, user: 'ann' });
  assert.match(pool.calls[0].text, /expires_at > now\(\)/);
  assert.deepEqual(pool.calls[0].params[0], connectSqlSession.hashId('sid1'));
});

test('get gives a session stored without cookie a browser-session cookie', async () => {
  const sess = await newStore(fakePool([{ data: { user: 'ann' } }])).get('sid1');
  assert.deepEqual(sess.cookie, cookie);
});

test('get of an unknown sid answers null through the callback', (t, done) => {
  newStore(fakePool([])).get('nope', (err, sess) => {
    assert.equal(err, null);
    assert.equal(sess, null);
    done();
  });
});

test('set of a session it did not read writes the whole session', async () => {
  const pool = fakePool();
  await newStore(pool, { userKey: 'user' }).set('sid1', { cookie, user: 'ann', n: 1 });
  const { text, params } = pool.calls[0];
  assert.match(text, /^INSERT INTO "http_sessions"/);
  assert.deepEqual(JSON.parse(params[1]), { cookie, user: 'ann', n: 1 });
  assert.equal(params[2].getTime() - params[6].getTime(), 86400e3); // browser-session cookie: now + ttl
  assert.equal(params[3], 'ann');
  assert.equal(params.length, 7); // INSERT … VALUES: the size limit is checked before, not in the statement
});

test('a whole write near maxDataBytes is measured by the server; one far under it is not', async () => {
  const measured = [];
  const pool = fakePool((text, params) => {
    if (text.startsWith('SELECT octet_length')) { measured.push(params[0]); return { rows: [{ n: 120 }], rowCount: 1 }; }
    return { rows: [], rowCount: 1 };
  });
  const store = newStore(pool, { maxDataBytes: 100 });
  await store.set('small', { cookie: {}, a: 1 });
  assert.equal(measured.length, 0);
  const err = await new Promise((resolve) => store.set('big', { cookie: {}, a: 'x'.repeat(90) }, resolve));
  assert.ok(err instanceof connectSqlSession.SizeError, String(err));
  assert.equal(measured.length, 1);
  assert.ok(!pool.calls.some((c) => c.text.startsWith('INSERT') && c.params[1].includes('xxxx')), 'the oversized session was written');
});

test('printedSizeBound counts the spaces PostgreSQL prints', () => {
  const { printedSizeBound } = connectSqlSession;
  assert.equal(printedSizeBound('{"a":1,"b":[1,2]}'), '{"a": 1, "b": [1, 2]}'.length);
  assert.equal(printedSizeBound('{"a":"x:y,z\\"}'), '{"a": "x:y,z\\"}'.length);
  assert.equal(printedSizeBound('{"é":1}'), Buffer.byteLength('{"é": 1}'));
});

test('set after get writes only changed and deleted top-level keys', async () => {
  const pool = fakePool([{ data: { cookie, a: 1, b: { x: [1, 2] }, gone: true } }]);
  const store = newStore(pool);
  const loaded = await store.get('sid1');
  const req = {};
  const sess = store.createSession(req, loaded); // what express-session does
  assert.notEqual(sess, loaded);
  sess.a = 2;
  delete sess.gone;
  sess.c = 'new';
  await store.set('sid1', sess);
  const { text, params } = pool.calls[1];
  assert.match(text, /^UPDATE "http_sessions"\s+SET data = \(data - \$4::text\[\]\) \|\| \$2::jsonb/);
  assert.match(text, /expires_at > \$8::timestamptz/);
  assert.match(text, /octet_length\(\(\(data - \$4::text\[\]\) \|\| \$2::jsonb\)::text\) <= \$9::integer/);
  assert.deepEqual(JSON.parse(params[1]), { cookie, a: 2, c: 'new' }); // b unchanged: not written
  assert.deepEqual(params[3], ['gone']);
  assert.equal(params[4], false); // no userKey: user_id untouched

  // A second save in the same request diffs against what was written.
  sess.d = 4;
  await store.set('sid1', sess);
  assert.deepEqual(JSON.parse(pool.calls[2].params[1]), { cookie, d: 4 });
  assert.deepEqual(pool.calls[2].params[3], []);
});

test('set of a session destroyed meanwhile does not re-create it', async () => {
  const pool = fakePool((text) => {
    if (text.startsWith('SELECT data')) return { rows: [{ data: { cookie, a: 1 } }], rowCount: 1 };
    return { rows: [], rowCount: 0 }; // UPDATE matches no live row, and no live row is left
  });
  const store = newStore(pool);
  const sess = await store.get('sid1');
  sess.a = 2;
  await store.set('sid1', sess);
  assert.equal(pool.calls.length, 3);
  assert.match(pool.calls[1].text, /^UPDATE/);
  assert.match(pool.calls[2].text, /^SELECT octet_length/);
});

test('userKey fills user_id when that key changes, and clears it when deleted', async () => {
  const pool = fakePool([{ data: { cookie, user: 'ann', n: 1 } }]);
  const store = newStore(pool, { userKey: 'user' });
  let sess = await store.get('s');
  sess.n = 2;
  await store.set('s', sess);
  assert.deepEqual(pool.calls[1].params.slice(4, 6), [false, null]); // unchanged: left alone

  sess = await store.get('s');
  sess.user = 42;
  await store.set('s', sess);
  assert.deepEqual(pool.calls[3].params.slice(4, 6), [true, '42']);

  sess = await store.get('s');
  delete sess.user;
  await store.set('s', sess);
  assert.deepEqual(pool.calls[5].params.slice(4, 6), [true, null]);
});

test('cookie.expires sets expires_at; ttl is for browser-session cookies', async () => {
  const pool = fakePool();
  const store = newStore(pool, { ttl: 60 });
  const expires = new Date(Date.now() + 3600e3);
  await store.set('s', { cookie: { ...cookie, originalMaxAge: 3600e3, expires } });
  assert.equal(pool.calls[0].params[2].getTime(), expires.getTime());
  await store.touch('s', { cookie });
  assert.match(pool.calls[1].text, /^UPDATE "http_sessions" SET expires_at = LEAST\(\$2::timestamptz/);
  const [, at, abs, now] = pool.calls[1].params;
  assert.equal(at.getTime() - now.getTime(), 60e3);
  assert.equal(abs, null);
});

test('schemaName and tableName are quoted identifiers', async () => {
  const pool = fakePool();
  await newStore(pool, { schemaName: 'my"schema', tableName: 'Sess' }).destroy('s');
  assert.equal(pool.calls[0].text, 'DELETE FROM "my""schema"."Sess" WHERE id_hash = $1');
});

test('options are checked', () => {
  assert.throws(() => new Store({}), /pool, conString or conObject/);
  assert.throws(() => new Store({ pool: fakePool(), ttl: 0 }), /ttl/);
  assert.throws(() => new Store({ pool: fakePool(), userKey: '' }), /userKey/);
  assert.throws(() => new Store({ pool: fakePool(), absoluteTimeout: -1 }), /absoluteTimeout/);
  assert.throws(() => connectSqlSession({}), /express-session module/);
});

test('length, all, clear and destroyUser', async () => {
  const store = newStore(fakePool([{ n: 3, data: { cookie } }], 2));
  assert.equal(await store.length(), 3);
  assert.deepEqual(await store.all(), [{ cookie }]);
  assert.equal(await store.destroyUser('ann'), 2);
  assert.equal(await store.clear(), undefined);
});

test('keys the Session object hides are neither visible nor deleted', async () => {
  const pool = fakePool([{ data: { cookie, id: 'go-value', save: 1, a: 1 } }]);
  const store = newStore(pool);
  const sess = store.createSession({ sessionID: 'sid1' }, await store.get('sid1'));
  assert.equal(sess.id, 'sid1');
  delete sess.a;
  await store.set('sid1', sess);
  assert.deepEqual(pool.calls[1].params[3], ['a']);
  assert.deepEqual(JSON.parse(pool.calls[1].params[1]), { cookie });
});

test('absoluteTimeout caps every expiry and filters every read', async () => {
  const pool = fakePool([{ data: { cookie, a: 1 } }]);
  const store = newStore(pool, { absoluteTimeout: 3600 });
  const sess = await store.get('s');
  sess.a = 2;
  await store.set('s', sess);
  await store.set('t', { cookie });
  await store.touch('s', sess);
  const [get, merge, upsert, touch] = pool.calls;
  assert.match(get.text, /created_at > now\(\) - make_interval\(secs => \$2::double precision\)/);
  assert.equal(get.params[1], 3600);
  assert.match(merge.text, /LEAST\(.*, to_timestamp\(extract\(epoch FROM created_at - TIMESTAMPTZ 'epoch'\)::double precision \+ \$7::double precision\)\)/);
  assert.equal(merge.params[6], 3600);
  assert.match(upsert.text, /LEAST\(.*, to_timestamp\(extract\(epoch FROM \$7::timestamptz - TIMESTAMPTZ 'epoch'\)::double precision \+ \$6::double precision\)\)/);
  assert.equal(upsert.params[5], 3600);
  assert.equal(touch.params[2], 3600);
});

test('a key named __proto__ is written as a key', async () => {
  const pool = fakePool([{ data: { cookie } }]);
  const store = newStore(pool);
  const sess = await store.get('s');
  Object.defineProperty(sess, '__proto__', { value: { x: 1 }, enumerable: true, configurable: true, writable: true });
  await store.set('s', sess);
  assert.deepEqual(JSON.parse(pool.calls[1].params[1]), JSON.parse('{"cookie":' + JSON.stringify(cookie) + ',"__proto__":{"x":1}}'));
});

test('set cleans \\u0000 and unpaired surrogates, in keys and values, to U+FFFD', async () => {
  const pool = fakePool();
  await newStore(pool).set('s', { cookie, ['k\u0000']: ['a\u0000b', { ['x\ud800']: 'y\udfff' }], pair: '\ud83d\ude00' });
  const text = pool.calls[0].params[1];
  assert.doesNotMatch(text, /\\u0000|\\ud[89a-f]/);
  assert.deepEqual(JSON.parse(text), { cookie, ['k\ufffd']: ['a\ufffdb', { ['x\ufffd']: 'y\ufffd' }], pair: '\ud83d\ude00' });
});

test('cleanJSON leaves an escaped backslash followed by the text u0000 alone', () => {
  for (const v of ['\\u0000', '\\\\u0000', '\\ud800', 'a\\', '\u001b']) {
    const json = JSON.stringify({ v });
    assert.equal(connectSqlSession.cleanJSON(json), json, v);
  }
  assert.equal(connectSqlSession.cleanJSON(JSON.stringify({ v: '\\\u0000' })), '{"v":"\\\\\ufffd"}');
});

test('maxDataBytes is checked, defaults to 1 MiB and reaches every write', async () => {
  for (const bad of [0, -1, 1.5, '100', 2 ** 31]) {
    assert.throws(() => newStore(fakePool(), { maxDataBytes: bad }), /maxDataBytes/, String(bad));
  }
  const pool = fakePool([{ data: { cookie } }]);
  const store = newStore(pool, { maxDataBytes: 4096 });
  assert.equal(newStore(fakePool()).maxDataBytes, 1048576);
  const sess = await store.get('s');
  sess.a = 1;
  await store.set('s', sess);
  await store.set('t', { cookie });
  assert.equal(pool.calls[1].params[8], 4096);
  assert.equal(store.maxDataBytes, 4096);
});

test('a save over maxDataBytes passes a SizeError to the callback', (t, done) => {
  const pool = fakePool((text) => {
    if (text.startsWith('SELECT data')) return { rows: [{ data: { cookie } }], rowCount: 1 };
    if (text.startsWith('SELECT octet_length')) return { rows: [{ n: 150, before: 40 }], rowCount: 1 };
    return { rows: [], rowCount: 0 }; // the merge's size check refused it
  });
  const store = newStore(pool, { maxDataBytes: 100 });
  store.get('s', (err, sess) => {
    assert.equal(err, null);
    sess.big = 'x'.repeat(100);
    store.set('s', sess, (err) => {
      assert.ok(err instanceof connectSqlSession.SizeError, String(err));
      assert.equal(err.code, 'ESESSIONTOOLARGE');
      assert.deepEqual([err.size, err.limit], [150, 100]);
      assert.match(err.message, /too large: 150 bytes of JSON, limit 100/);
      done();
    });
  });
});

test('the Store class carries SizeError', () => {
  assert.equal(Store.SizeError, connectSqlSession.SizeError);
  assert.ok(new Store.SizeError(2, 1) instanceof Error);
});
