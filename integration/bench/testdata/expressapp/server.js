// The express peer of integration/bench (make bench): express-session +
// connect-pg-simple, configured as their READMEs recommend (resave: false,
// saveUninitialized: false), on a pg pool of 8 connections, the same size as
// the Go stacks' pools.
// Environment: PG_DSN (server), PG_SCHEMA (schema; the "session" table is
// created there), SESSION_SECRET. Prints its port, then serves until stdin
// closes. Routes, the same as the Go stacks':
//   GET /new             login: session.user = "u" (a new session)
//   GET /read            reads session.user (the session is touched: express)
//   GET /write           session.n += 1
//   GET /rolling         /read with rolling: true
//   GET /rolling-every   the same (express touches on every request)
//   GET /_sql            the number of statements sent so far (counted here)
const express = require('express');
const session = require('express-session');
const pg = require('pg');
const PGStore = require('connect-pg-simple')(session);

let statements = 0;
const pool = new pg.Pool({ connectionString: process.env.PG_DSN, max: 8, application_name: process.env.PG_SCHEMA });
const query = pool.query.bind(pool);
pool.query = (...args) => { statements++; return query(...args); };

const store = new PGStore({
  pool,
  schemaName: process.env.PG_SCHEMA,
  createTableIfMissing: true,
  pruneSessionInterval: false, // like scs's pgxstore here: no background cleanup during the run
});

const options = (rolling) => session({
  secret: process.env.SESSION_SECRET,
  name: 'sid',
  store,
  resave: false,
  saveUninitialized: false,
  rolling,
  cookie: { maxAge: 24 * 3600 * 1000 },
});
const plain = options(false);
const rolling = options(true);

const app = express();
app.disable('x-powered-by');
app.disable('etag');
const read = (req, res) => res.send(String(req.session.user).slice(0, 1));
app.get('/new', plain, (req, res) => { req.session.user = 'u'; res.send('ok'); });
app.get('/read', plain, read);
app.get('/write', plain, (req, res) => { req.session.n = (req.session.n || 0) + 1; res.send('ok'); });
app.get('/rolling', rolling, read);
app.get('/rolling-every', rolling, read);
app.get('/_sql', (req, res) => res.send(String(statements)));

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(server.address().port + '\n');
});
server.keepAliveTimeout = 120 * 1000;
process.stdin.on('end', () => { server.close(); pool.end(); process.exit(0); });
process.stdin.resume();
