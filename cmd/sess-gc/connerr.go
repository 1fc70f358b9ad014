package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// connectFailure is a failed connection attempt, worded for sess-gc's one
// line: where, as whom, and why, each said once. It unwraps to the driver's
// error, so permanent() still sees its SQLSTATE.
type connectFailure struct {
	msg string
	err error
}

func (e *connectFailure) Error() string { return e.msg }
func (e *connectFailure) Unwrap() error { return e.err }

// connectError words a failed Postgres connection: pgconn's message names
// the host three times and says "connect" twice ("connect to postgres
// h:p: failed to connect to `user=u database=d`: h:p (h): dial error: dial
// tcp h:p: connect: connection refused"). This one reads "cannot connect
// to postgres at h:p (user u, database d): connection refused".
func connectError(cfg *pgconn.Config, err error) error {
	where := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	if strings.HasPrefix(cfg.Host, "/") {
		where = fmt.Sprintf("%s (port %d)", cfg.Host, cfg.Port)
	}
	var reasons []string
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && !strings.Contains(ce.Error(), "hostname resolving error") {
		where, reasons = attempts(ce, where)
	}
	if len(reasons) == 0 {
		reasons = []string{reason(err)}
	}
	msg := fmt.Sprintf("cannot connect to postgres at %s (user %s, database %s): %s",
		where, cfg.User, cfg.Database, strings.Join(reasons, "; "))
	return &connectFailure{msg: msg, err: err}
}

// attempts lists the distinct reasons of a ConnectError's attempts (pgconn
// tries every address of a host, and with sslmode=prefer each twice), each
// prefixed with its address when they were not all to one address.
func attempts(ce *pgconn.ConnectError, where string) (string, []string) {
	inner := errors.Unwrap(ce)
	var each []error
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		each = j.Unwrap()
	} else if inner != nil {
		each = []error{inner}
	}
	addrs := map[string]bool{}
	type try struct{ addr, why string }
	var tries []try
	for _, e := range each {
		addr, _, _ := strings.Cut(e.Error(), " ")
		addrs[addr] = true
		tries = append(tries, try{addr, reason(e)})
	}
	if len(addrs) == 1 {
		for a := range addrs {
			where = a
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range tries {
		r := t.why
		if len(addrs) > 1 {
			r = t.addr + ": " + r
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return where, out
}

// reason is the root cause of one failed attempt, without the layers that
// repeat the address: the server's message and SQLSTATE, the system call's
// error ("connection refused"), or a timeout.
func reason(err error) string {
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &pgErr):
		return fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out (-timeout, or connect_timeout in the DSN)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %q: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &opErr):
		if opErr.Timeout() {
			return "timed out (-timeout, or connect_timeout in the DSN)"
		}
		root := error(opErr)
		for u := errors.Unwrap(root); u != nil; u = errors.Unwrap(root) {
			root = u
		}
		return root.Error()
	}
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "): "); ok && strings.Contains(msg, " (") {
		return rest // an attempt's "addr (host): what: why"
	}
	return msg
}

// dsnError words a DSN that pgx cannot parse: pgconn says "cannot parse
// `dsn`: failed to parse as keyword/value (invalid keyword/value)"; this
// says "bad DSN `dsn`: failed to parse as keyword/value (invalid
// keyword/value)". The DSN is shown with its password masked, as pgconn
// does.
func dsnError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return usageError{"bad postgres DSN " + strings.TrimPrefix(pe.Error(), "cannot parse ")}
	}
	return usageError{"bad postgres DSN: " + err.Error()}
}
