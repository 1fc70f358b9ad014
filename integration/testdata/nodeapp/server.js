// An express + express-session app on connect-sqlsession, run by
// integration/node_test.go next to a Go sqlsession app on the same table.
// Environment: PG_DSN (server), PG_SCHEMA (schema holding http_sessions),
// SESSION_SECRET, optionally ABSOLUTE_TIMEOUT (seconds), MAX_DATA_BYTES,
// VALUE_KEYS (a JSON array: valueKeys), RECORD_DEVICE=1,
// MAX_SESSIONS_PER_USER and TRUST_PROXY (express's `trust proxy` as a hop
// count). Prints its port, then serves until stdin closes. POST bodies are
// forms or JSON.
//   POST /login  user=U     regenerate, then session.user = U (userKey "user")
//   GET  /peek?k=K          JSON of session[K], or "" when unset
//   POST /set    k=K&v=V    session[K] = V (saved by express-session after the response)
//   POST /set-saved k=K&v=V session[K] = V, saved before answering: a failed
//                           save answers 500 with the error's message
//   POST /logout            destroy the session
//   POST /incr   k=K        store.update(req.session, K, n => n + 1): atomic; answers the new value
//   POST /set-gated k=K&v=V, GET /gate, POST /release   see below
const express = require('express');
const session = require('express-session');
const SqlSessionStore = require('connect-sqlsession')(session);

const store = new SqlSessionStore({
  conString: process.env.PG_DSN,
  schemaName: process.env.PG_SCHEMA,
  userKey: 'user',
  absoluteTimeout: process.env.ABSOLUTE_TIMEOUT ? Number(process.env.ABSOLUTE_TIMEOUT) : undefined,
  maxDataBytes: process.env.MAX_DATA_BYTES ? Number(process.env.MAX_DATA_BYTES) : undefined,
  valueKeys: process.env.VALUE_KEYS ? JSON.parse(process.env.VALUE_KEYS) : undefined,
  recordDevice: process.env.RECORD_DEVICE === '1',
  maxSessionsPerUser: process.env.MAX_SESSIONS_PER_USER ? Number(process.env.MAX_SESSIONS_PER_USER) : undefined,
});

const app = express();
if (process.env.TRUST_PROXY) app.set('trust proxy', Number(process.env.TRUST_PROXY));
app.use(express.urlencoded({ extended: false }));
app.use(express.json());
app.use(session({
  secret: process.env.SESSION_SECRET,
  store,
  resave: false,
  saveUninitialized: false,
}));

app.post('/login', (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = req.body.user;
    res.send('hello ' + req.body.user);
  });
});
app.get('/peek', (req, res) => {
  const v = req.session[req.query.k];
  res.send(v === undefined ? '' : JSON.stringify(v));
});
app.post('/set', (req, res) => {
  req.session[req.body.k] = req.body.v;
  res.send('ok');
});
app.post('/set-saved', (req, res, next) => {
  req.session[req.body.k] = req.body.v;
  req.session.save((err) => (err ? next(err) : res.send('ok')));
});
// A save held at a gate: /set-gated loads the session, then waits until
// POST /release before it sets k and answers (the session is saved as the
// response ends). GET /gate says whether a request is waiting.
let gate = null;
app.post('/set-gated', (req, res) => {
  new Promise((resolve) => { gate = resolve; }).then(() => {
    req.session[req.body.k] = req.body.v;
    res.send('ok');
  });
});
app.get('/gate', (req, res) => res.send(gate ? 'waiting' : 'idle'));
app.post('/release', (req, res) => {
  if (!gate) return res.status(409).send('nothing waiting');
  gate();
  gate = null;
  res.send('released');
});
app.post('/incr', (req, res, next) => {
  store.update(req.session, req.body.k, (n) => (n || 0) + 1)
    .then((n) => res.send(String(n)), (err) => (err.code === 'ECONFLICT' ? res.status(409).send(err.message) : next(err)));
});
app.post('/logout', (req, res, next) => {
  req.session.destroy((err) => (err ? next(err) : res.send('bye')));
});
app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
  console.error(err);
  if (res.headersSent) return; // express-session's own save fails after the response
  res.status(500).send(String(err && err.message));
});

const server = app.listen(0, '127.0.0.1', () => { console.log(server.address().port); });
process.stdin.on('end', () => server.close(() => store.close().then(() => process.exit(0))));
process.stdin.resume();
