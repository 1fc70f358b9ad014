// A real express + express-session server for sqlsession's compatibility
// test. Usage: node server.js SECRET [SECRET...]; prints its port, then
// serves until stdin closes.
//   GET /new   creates a session (express signs the cookie) and answers its id
//   GET /echo  answers the id express-session verified from the cookie, or "none"
//   GET /sign?value=V  answers cookie-signature's sign(V, first secret)
const express = require('express');
const session = require('express-session');
const signature = require('cookie-signature');

const secrets = process.argv.slice(2);

// A store that knows every id: get() returns a session echoing the id it
// was asked for, so /echo shows which id express-session unsigned.
class EchoStore extends session.Store {
  get(sid, cb) { cb(null, { cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' }, echoed: sid }); }
  set(sid, sess, cb) { cb(); }
  destroy(sid, cb) { cb(); }
  touch(sid, sess, cb) { cb(); }
}

const app = express();
app.use(session({ secret: secrets, store: new EchoStore(), resave: false, saveUninitialized: false }));
app.get('/new', (req, res) => { req.session.created = true; res.send(req.sessionID); });
app.get('/echo', (req, res) => { res.send(req.session.echoed || 'none'); });
app.get('/sign', (req, res) => { res.send(signature.sign(String(req.query.value), secrets[0])); });

const server = app.listen(0, '127.0.0.1', () => { console.log(server.address().port); });
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
