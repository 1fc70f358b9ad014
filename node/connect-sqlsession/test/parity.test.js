'use strict';

// Unit tests (no database) of what the Go side also does: recordDevice
// (device.js: the address and user agent as Go records them) and
// maxSessionsPerUser (the statements and the transaction). The same
// behaviour on PostgreSQL is in postgres.test.js, against Go in the Go
// repository's integration/node_parity_test.go.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');

const connectSqlSession = require('..');
const { cleanUserAgent, normalizeIP, clientIP, deviceOf, MAX_USER_AGENT } = require('../device');

const Store = connectSqlSession({ Store: class extends EventEmitter {} });
const cookie = { originalMaxAge: null, expires: null, httpOnly: true, path: '/' };

// latin1 returns bytes as Node's HTTP parser hands a header value over.
const latin1 = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))).toString('latin1');

test('cleanUserAgent decodes the header bytes as UTF-8, as Go reads them', () => {
  assert.equal(cleanUserAgent(latin1('Mozilla/5.0 é 😀')), 'Mozilla/5.0 é 😀');
  assert.equal(cleanUserAgent('set by code: é 😀'), 'set by code: é 😀');
  assert.equal(cleanUserAgent(undefined), '');
  assert.equal(cleanUserAgent(['a', 'b']), 'a');
  assert.equal(cleanUserAgent(42), '');
});

test('cleanUserAgent replaces each run of invalid bytes with one U+FFFD (strings.ToValidUTF8)', () => {
  assert.equal(cleanUserAgent(latin1('a', [0xff, 0xfe], 'b')), 'a\ufffdb');
  assert.equal(cleanUserAgent(latin1('a', [0xe2, 0x82], 'b', [0xc0, 0xaf])), 'a\ufffdb\ufffd'); // truncated; overlong
  assert.equal(cleanUserAgent(latin1('a', [0xed, 0xa0, 0x80], 'b')), 'a\ufffdb'); // an encoded surrogate
  assert.equal(cleanUserAgent(latin1('\ufffd', [0xff])), '\ufffd\ufffd'); // a valid U+FFFD is kept apart
});

test('cleanUserAgent cuts at 256 bytes on a character boundary, then drops NULs', () => {
  const long = cleanUserAgent(latin1('a'.repeat(255) + 'é' + 'z'.repeat(10)));
  assert.equal(long, 'a'.repeat(255));
  assert.equal(cleanUserAgent('b'.repeat(300)), 'b'.repeat(MAX_USER_AGENT));
  assert.equal(cleanUserAgent('a\u0000b'), 'ab');
  assert.equal(cleanUserAgent('\u0000'.repeat(300)), ''); // cut first, as Go: never more than 256 bytes
});

test('normalizeIP prints addresses as Go\'s netip, without zone; anything else is ""', () => {
  const cases = [
    ['203.0.113.9', '203.0.113.9'],
    [' 203.0.113.9 ', '203.0.113.9'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['fe80::1%\u00ff\u00fe', 'fe80::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:0102:0304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['fe80::1%', ''],
    ['1.2.3.4%eth0', ''],
    ['01.2.3.4', ''],
    ['[::1]', ''],
    ['1.2.3.4:80', ''],
    ['not an address', ''],
    ['', ''],
    [undefined, ''],
  ];
  for (const [input, want] of cases) assert.equal(normalizeIP(input), want, String(input));
  assert.equal(normalizeIP('::ffff:1.2.3.4', true), '1.2.3.4');
});

test('clientIP takes express\'s req.ip (its trust proxy), else the peer', () => {
  const req = (ip, peer) => ({ ip, socket: { remoteAddress: peer }, headers: {} });
  assert.equal(clientIP(req('198.51.100.7', '127.0.0.1')), '198.51.100.7'); // from X-Forwarded-For
  assert.equal(clientIP(req('::ffff:198.51.100.7', '127.0.0.1')), '::ffff:198.51.100.7'); // as Go parses a forwarded one
  assert.equal(clientIP(req('not-an-ip', '127.0.0.1')), '127.0.0.1'); // as Go: falls back to the peer
  assert.equal(clientIP(req('::ffff:10.0.0.1', '::ffff:10.0.0.1')), '10.0.0.1'); // the peer, unmapped as Go reports it
  assert.equal(clientIP(req(undefined, 'fe80::9%lo')), 'fe80::9'); // no express
  assert.equal(clientIP(req(undefined, undefined)), '');
  assert.equal(deviceOf(null, new Date()), null);
  assert.equal(deviceOf({ headers: undefined }, new Date()), null);
});

// fakePool records the statements of the pool and of its clients
// (connect()); answer(text) gives each query's result.
function fakePool(answer = () => ({ rows: [], rowCount: 1 })) {
  const calls = [];
  const query = (who) => (text, params) => {
    calls.push({ who, text, params });
    return Promise.resolve(answer(text, params));
  };
  return {
    calls,
    query: query('pool'),
    connect: () => Promise.resolve({ query: query('client'), release: (err) => calls.push({ who: 'client', text: 'release', params: [err] }) }),
  };
}

// session is what express-session hands set() and touch(): data with a
// non-enumerable req.
function session(data, req) {
  const s = { ...data };
  Object.defineProperty(s, 'req', { value: req });
  return s;
}

const httpReq = { ip: '203.0.113.5', socket: { remoteAddress: '127.0.0.1' }, headers: { 'user-agent': latin1('Firefox é') } };

test('recordDevice writes last seen, ip and user agent with set and touch, in the same statement', async () => {
  const pool = fakePool();
  const store = new Store({ pool, recordDevice: true });
  await store.set('a', session({ cookie, n: 1 }, httpReq));
  await store.touch('a', session({ cookie }, httpReq));
  const [upsert, touch] = pool.calls;
  assert.match(upsert.text, /INSERT INTO "http_sessions" AS s \(id_hash, data, expires_at, created_at, user_id, last_seen_at, ip, user_agent\)/);
  assert.deepEqual(upsert.params.slice(7, 8).concat(upsert.params.slice(9)), [true, '203.0.113.5', 'Firefox é']);
  assert.equal(upsert.params[8].getTime(), upsert.params[6].getTime()); // last seen: the write's now
  assert.match(touch.text, /last_seen_at = CASE WHEN \$5::boolean THEN \$6::timestamptz ELSE last_seen_at END/);
  assert.deepEqual([touch.params[4], touch.params[6], touch.params[7]], [true, '203.0.113.5', 'Firefox é']);
  assert.equal(pool.calls.length, 2);
});

test('recordDevice without a request (a plain object) leaves the device columns', async () => {
  const pool = fakePool();
  const store = new Store({ pool, recordDevice: true });
  await store.set('a', { cookie, req: { headers: { 'user-agent': 'data, not a request' } } });
  assert.deepEqual(pool.calls[0].params.slice(7), [false, null, null, null]);
});

test('without recordDevice the statements name only the five columns', async () => {
  const pool = fakePool();
  const store = new Store({ pool });
  await store.set('a', session({ cookie }, httpReq));
  await store.touch('a', session({ cookie }, httpReq));
  for (const c of pool.calls) assert.doesNotMatch(c.text, /last_seen_at|user_agent/);
  assert.equal(pool.calls[0].params.length, 7);
  assert.equal(pool.calls[1].params.length, 4);
});

test('maxSessionsPerUser: lock the user, write, evict beyond max-1 others, in one transaction', async () => {
  const pool = fakePool();
  const store = new Store({ pool, userKey: 'user', maxSessionsPerUser: 3 });
  await store.set('a', { cookie, user: 'ann' });
  const texts = pool.calls.map((c) => c.who + ': ' + c.text.split('\n')[0]);
  assert.deepEqual(texts, [
    'client: BEGIN',
    "client: SELECT pg_advisory_xact_lock(hashtextextended('sqlsession user ' || $1::text, 0))",
    'client: INSERT INTO "http_sessions" AS s (id_hash, data, expires_at, created_at, user_id)',
    'client: DELETE FROM "http_sessions"',
    'client: COMMIT',
    'client: release',
  ]);
  assert.deepEqual(pool.calls[1].params, ['ann']);
  const evict = pool.calls[3];
  assert.deepEqual(evict.params.slice(0, 3), ['ann', connectSqlSession.hashId('a'), 2]);
});

test('maxSessionsPerUser applies only to writes that give a user a session', async () => {
  const pool = fakePool((text) => (text.startsWith('SELECT data') ? { rows: [{ data: { cookie, user: 'ann', n: 1 } }], rowCount: 1 } : { rows: [], rowCount: 1 }));
  const store = new Store({ pool, userKey: 'user', maxSessionsPerUser: 1 });
  await store.set('anon', { cookie, n: 1 }); // no user
  const sess = await store.get('s');
  sess.n = 2; // the user is unchanged
  await store.set('s', sess);
  assert.ok(pool.calls.every((c) => c.who === 'pool'), pool.calls.map((c) => c.text).join('\n'));
  sess.user = 'bob'; // another user: capped
  await store.set('s', sess);
  assert.ok(pool.calls.some((c) => c.who === 'client' && c.text.startsWith('DELETE')));
});

test('maxSessionsPerUser: a failed write rolls back and evicts nothing; a vanished session evicts nothing', async () => {
  const failing = fakePool((text) => {
    if (text.startsWith('INSERT')) throw new Error('boom');
    return { rows: [], rowCount: 1 };
  });
  const store = new Store({ pool: failing, userKey: 'user', maxSessionsPerUser: 2 });
  await assert.rejects(store.set('a', { cookie, user: 'ann' }), /boom/);
  assert.deepEqual(failing.calls.slice(-2).map((c) => c.text), ['ROLLBACK', 'release']);
  assert.ok(!failing.calls.some((c) => c.text.startsWith('DELETE')));

  const gone = fakePool((text) => (text.startsWith('SELECT data') ? { rows: [{ data: { cookie } }], rowCount: 1 } : { rows: [], rowCount: 0 }));
  const s2 = new Store({ pool: gone, userKey: 'user', maxSessionsPerUser: 2 });
  const sess = await s2.get('b');
  sess.user = 'ann';
  await s2.set('b', sess);
  assert.ok(!gone.calls.some((c) => c.text.startsWith('DELETE')));
  assert.equal(gone.calls.at(-2).text, 'COMMIT');
});

test('maxSessionsPerUser is checked', () => {
  const pool = fakePool();
  for (const bad of [-1, 1.5, '3', 2 ** 31]) {
    assert.throws(() => new Store({ pool, userKey: 'user', maxSessionsPerUser: bad }), /maxSessionsPerUser must be/, String(bad));
  }
  assert.throws(() => new Store({ pool, maxSessionsPerUser: 2 }), /needs userKey/);
  assert.throws(() => new Store({ pool: { query() {} }, userKey: 'user', maxSessionsPerUser: 2 }), /needs a pool with connect/);
  assert.throws(() => new Store({ pool: new (require('pg').Client)(), userKey: 'user', maxSessionsPerUser: 2 }), /not a pg.Client/);
  assert.equal(new Store({ pool, userKey: 'user', maxSessionsPerUser: 0 }).maxSessionsPerUser, 0);
});
