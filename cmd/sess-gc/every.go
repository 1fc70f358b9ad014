package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// stamped prefixes every line written through it with an RFC 3339
// timestamp (UTC). Each Write must hold whole lines, as fmt.Fprintf and
// json.Encoder calls do.
type stamped struct{ w io.Writer }

func (s stamped) Write(p []byte) (int, error) {
	ts := time.Now().UTC().Format(time.RFC3339) + " "
	lines := strings.SplitAfter(string(p), "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(ts + l)
		}
	}
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runEvery runs now and then at every tick until ctx is done. A run that
// fails (connecting included) is logged and retried at the next tick;
// sess-gc gives up with exit 1 after c.maxFailures failures in a row, or at
// once on an error that retrying cannot fix.
func runEvery(ctx context.Context, c config, stdout, stderr io.Writer) int {
	if !c.json {
		stdout = stamped{stdout}
	}
	logw := stamped{stderr}
	var tgt target
	defer func() {
		if tgt.close != nil {
			tgt.close()
		}
	}()
	t := time.NewTicker(c.every)
	defer t.Stop()
	failures := 0
	for {
		var err error
		if tgt.store == nil {
			tgt, err = openTarget(ctx, c)
		}
		if err == nil {
			err = runOnce(ctx, c, tgt, stdout)
			tgt.migrated = nil // reported once, by the first run after connecting
		}
		if err != nil && ctx.Err() == nil {
			failures++
			if code, stop := giveUp(logw, c, err, failures); stop {
				return code
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(logw, "sess-gc: stopped")
			return exitOK
		case <-t.C:
		}
	}
}

// giveUp logs a failed run and says whether to stop, with which status.
func giveUp(logw io.Writer, c config, err error, failures int) (int, bool) {
	msg := oneLine(err)
	switch {
	case exitCode(err) == exitUsage:
		fmt.Fprintf(logw, "sess-gc: %s\n", msg)
		return exitUsage, true
	case permanent(err):
		fmt.Fprintf(logw, "sess-gc: giving up, retrying cannot fix this: %s\n", msg)
		return exitFailure, true
	case c.maxFailures > 0 && failures >= c.maxFailures:
		fmt.Fprintf(logw, "sess-gc: giving up after %d failed runs in a row (-max-failures %d): %s\n", failures, c.maxFailures, msg)
		return exitFailure, true
	}
	of := ""
	if c.maxFailures > 0 {
		of = fmt.Sprintf(" of %d", c.maxFailures)
	}
	fmt.Fprintf(logw, "sess-gc: run failed (%d%s in a row), retrying in %s: %s\n", failures, of, c.every, msg)
	return 0, false
}

// permanent reports errors that the next run would hit again: a missing
// table or database, missing privileges, failed authentication, a SQLite
// file that is read-only.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "28"), // invalid authorization (28P01 bad password)
			strings.HasPrefix(pgErr.Code, "42"), // 42501 permission denied, 42P01 undefined table
			pgErr.Code == "3D000",               // database does not exist
			pgErr.Code == "3F000":               // schema does not exist
			return true
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "readonly database")
}
