'use strict';

// store.update without a database: a scripted pool answers the swap and
// current statements, and records what was sent.
const test = require('node:test');
const assert = require('node:assert/strict');

const connectSqlSession = require('..');

class FakeStore {}
const Store = connectSqlSession({ Store: FakeStore });

// scriptedPool answers each query with the next of answers.
function scriptedPool(answers) {
  const calls = [];
  return {
    calls,
    query(text, params) {
      calls.push({ text, params });
      const a = answers.shift();
      if (!a) return Promise.reject(new Error('unexpected query ' + text));
      return Promise.resolve(a);
    },
  };
}

const swapped = { rowCount: 1, rows: [] };
const missed = { rowCount: 0, rows: [] };
const current = (value) => ({ rowCount: 1, rows: [{ value }] });
const inc = (old) => (old || 0) + 1;

test('update of an absent key swaps from NULL and resolves to the new value', async () => {
  const pool = scriptedPool([swapped]);
  const v = await new Store({ pool }).update('sid1', 'n', inc);
  assert.equal(v, 1);
  const { text, params } = pool.calls[0];
  assert.match(text, /^UPDATE "http_sessions"/);
  assert.match(text, /IS NOT DISTINCT FROM \$3::text::jsonb/);
  assert.deepEqual(params.slice(1, 4), ['n', null, '1']);
  assert.deepEqual(params[0], connectSqlSession.hashId('sid1'));
});

test('update retries from the value another writer stored', async () => {
  const pool = scriptedPool([missed, current('41'), swapped]);
  const seen = [];
  const v = await new Store({ pool }).update('sid1', 'n', (old, present) => { seen.push([old, present]); return inc(old); });
  assert.equal(v, 42);
  assert.deepEqual(seen, [[undefined, false], [41, true]]);
  assert.deepEqual(pool.calls[2].params.slice(2, 4), ['41', '42']);
});

test('update gives up with ECONFLICT after 10 attempts', async () => {
  const answers = [];
  for (let i = 0; i < 10; i++) {
    if (i >= 2) answers.push(current(String(100 + i))); // the fresh read after a pause
    answers.push(missed, current(String(i)));
  }
  const pool = scriptedPool(answers);
  let calls = 0;
  await assert.rejects(new Store({ pool }).update('sid1', 'n', (old) => { calls++; return inc(old); }), { code: 'ECONFLICT' });
  assert.equal(calls, 10);
  assert.equal(pool.calls.length, 28);
  assert.deepEqual(pool.calls[5].params.slice(2, 4), ['102', '103']); // swaps from the fresh read
});

test('update of a session that is gone rejects with ESESSIONNOTFOUND through the callback', (t, done) => {
  const pool = scriptedPool([missed, { rowCount: 0, rows: [] }]);
  new Store({ pool }).update('sid1', 'n', inc, (err, v) => {
    assert.equal(err.code, 'ESESSIONNOTFOUND');
    assert.equal(v, undefined);
    done();
  });
});

test('update refuses bad input before any query', async () => {
  const pool = scriptedPool([]);
  const store = new Store({ pool });
  await assert.rejects(store.update('sid1', 'cookie', inc), { code: 'EINVAL' });
  await assert.rejects(store.update('sid1', '', inc), { code: 'EINVAL' });
  await assert.rejects(store.update('', 'n', inc), { code: 'EINVAL' });
  await assert.rejects(store.update('sid1', 'n', null), { code: 'EINVAL' });
  await assert.rejects(new Store({ pool: scriptedPool([]) }).update('sid1', 'n', () => undefined), { code: 'EINVAL' });
  assert.equal(pool.calls.length, 0);
});

test('update with req.session sets the value and the remembered JSON, so the save does not write it', async () => {
  const pool = scriptedPool([{ rows: [{ data: { cookie: { path: '/' }, n: 1 } }] }, swapped, { rowCount: 1, rows: [] }]);
  const store = new Store({ pool });
  const sess = await store.get('sid1');
  Object.defineProperty(sess, 'id', { value: 'sid1' });
  assert.equal(await store.update(sess, 'n', inc), 2);
  assert.equal(sess.n, 2);
  assert.deepEqual(pool.calls[1].params.slice(2, 4), ['1', '2']); // the first guess is the value read
  await store.set('sid1', sess);
  assert.deepEqual(Object.keys(JSON.parse(pool.calls[2].params[1])), ['cookie']);
});

test('updates of one key of one session take turns in one store', async () => {
  let inFlight = 0;
  let most = 0;
  const pool = {
    query(text) {
      inFlight++;
      most = Math.max(most, inFlight);
      return new Promise((resolve) => setTimeout(() => { inFlight--; resolve(text.startsWith('UPDATE') ? swapped : current('1')); }, 5));
    },
  };
  const store = new Store({ pool });
  await Promise.all([store.update('sid1', 'n', inc), store.update('sid1', 'n', inc), store.update('sid1', 'n', inc)]);
  assert.equal(most, 1);
  await Promise.all([store.update('sid1', 'a', inc), store.update('sid1', 'b', inc)]);
  assert.equal(most, 2); // different keys do not wait for each other
});

test('with valueKeys, update opens the stored sealed value, seals the new one and stores a salt first', async () => {
  const keys = ['value key A: 32+ bytes of test key material'];
  const sealer = new Store({ pool: scriptedPool([]), valueKeys: keys }).sealer;
  const salt = require('../seal').Sealer.saltFor(connectSqlSession.hashId('sid1')); // the one update stores
  const sealedOld = JSON.stringify(sealer.sealValue(41, 'n', salt));
  const pool = scriptedPool([current(null), swapped, current(sealedOld), swapped]);
  const v = await new Store({ pool, valueKeys: keys }).update('sid1', 'n', inc);
  assert.equal(v, 42);
  assert.equal(pool.calls[1].params[1], '$seal'); // the salt, stored by a swap
  const saltSent = JSON.parse(pool.calls[1].params[3]);
  const swap = pool.calls[3].params;
  assert.equal(swap[2], sealedOld); // compared with what the database holds
  const stored = JSON.parse(swap[3]);
  assert.match(stored, /^enc:v1:/);
  assert.equal(sealer.openValue(stored, 'n', saltSent), 42);
});
