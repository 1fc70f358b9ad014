'use strict';

// Unit tests of seal.js (values encrypted at rest, Go's Options.ValueKeys
// format). integration/seal_node_test.go checks Go and Node read each
// other's sealed values on PostgreSQL.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');

const connectSqlSession = require('..');
const { Sealer } = require('../seal');

const KEY_A = 'value key A: 32+ bytes of test key material';
const KEY_B = 'value key B: 32+ bytes of other key material';
const idHash = Buffer.alloc(32, 7);

class FakeStore extends EventEmitter {}
const Store = connectSqlSession({ Store: FakeStore });

test('sealed values open with any configured key, and only for their key and session', () => {
  const a = new Sealer([KEY_A]);
  const salt = Sealer.saltFor(idHash);
  const v = a.sealValue({ card: '4111' }, 'pay', salt);
  assert.match(v, /^enc:v1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]+$/);
  assert.ok(!v.includes('4111'));
  assert.deepEqual(new Sealer([KEY_B, KEY_A]).openValue(v, 'pay', salt), { card: '4111' });
  assert.throws(() => new Sealer([KEY_B]).openValue(v, 'pay', salt), /not in valueKeys/);
  assert.throws(() => a.openValue(v, 'other', salt), /authentication failed/);
  assert.throws(() => a.openValue(v, 'pay', Sealer.saltFor(Buffer.alloc(32, 8))), /authentication failed/);
  const tampered = v.slice(0, -2) + (v.at(-2) === 'A' ? 'B' : 'A') + v.at(-1);
  assert.throws(() => a.openValue(tampered, 'pay', salt), /does not open/);
  assert.throws(() => new Sealer(['short']), /at least 32 bytes/);
  assert.throws(() => new Sealer([KEY_A, KEY_A]), /repeats/);
});

test('the store writes sealed values and the salt, and reads them back in plaintext', async () => {
  const calls = [];
  let stored = null;
  const pool = {
    query(text, params) {
      calls.push({ text, params });
      if (text.startsWith('INSERT')) stored = JSON.parse(params[1]);
      return Promise.resolve({ rows: stored && text.startsWith('SELECT') ? [{ data: JSON.parse(JSON.stringify(stored)) }] : [], rowCount: 1 });
    },
  };
  const store = new Store({ pool, valueKeys: [KEY_A] });
  await store.set('sid-1', { cookie: { originalMaxAge: null, path: '/' }, user: 'alice', cart: [1, 2] });
  assert.equal(stored.cookie.path, '/');
  assert.equal(typeof stored.$seal, 'string');
  assert.match(stored.user, /^enc:v1:/);
  assert.match(stored.cart, /^enc:v1:/);
  assert.ok(!JSON.stringify(stored).includes('alice'));
  const got = await store.get('sid-1');
  assert.equal(got.user, 'alice');
  assert.deepEqual(got.cart, [1, 2]);
  await assert.rejects(new Store({ pool, valueKeys: [KEY_B] }).get('sid-1'), /does not open/);
});
