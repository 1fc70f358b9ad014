package sessions

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// errResponseReplaced is what the handler's writes return after a failed
// save made the ErrorHandler answer instead.
var errResponseReplaced = errors.New("sessions: the session could not be saved; the error handler answered this request")

// responseWriter saves the session and sets its cookie just before the
// response starts: at the first WriteHeader, Write or Flush.
type responseWriter struct {
	http.ResponseWriter
	m *Manager
	r *http.Request
	s *Session

	committed bool // the session was committed and the headers may go out
	replaced  bool // the commit failed and the ErrorHandler answered
	hijacked  bool
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) commit() {
	if w.committed {
		return
	}
	w.committed = true
	if err := w.s.commit(w.m.opts.Now(), w.ResponseWriter.Header()); err != nil {
		w.replaced = true
		h := w.ResponseWriter.Header()
		for k := range h {
			if k != "Vary" {
				delete(h, k) // the handler's headers belong to the response that is not sent
			}
		}
		w.m.fail(w.ResponseWriter, w.r, err)
	}
}

// WriteHeader commits the session, then writes the header. An
// informational response (1xx other than 101 Switching Protocols, such as
// 103 Early Hints) is passed through without committing: the final
// response, which follows it, carries the cookie.
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.commit()
	if w.replaced {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write commits the session, then writes b.
func (w *responseWriter) Write(b []byte) (int, error) {
	w.commit()
	if w.replaced {
		return 0, errResponseReplaced
	}
	return w.ResponseWriter.Write(b)
}

// FlushError commits the session, then flushes (http.ResponseController
// calls it).
func (w *responseWriter) FlushError() error {
	w.commit()
	if w.replaced {
		return errResponseReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Hijack saves the session (no cookie can follow: the handler writes the
// response itself), then hands over the connection.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.committed {
		w.committed = true
		if err := w.s.commitLate(); err != nil {
			w.m.opts.Logger.ErrorContext(w.r.Context(), "sqlsession: save before hijack failed", "err", err)
		}
	}
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

// finish runs when the handler returns.
func (w *responseWriter) finish() {
	switch {
	case w.hijacked || w.replaced:
	case !w.committed:
		w.commit() // the handler wrote nothing: net/http sends 200 after us
	default:
		if err := w.s.commitLate(); err != nil {
			w.m.opts.Logger.ErrorContext(w.r.Context(), "sqlsession: saving changes made after the response started failed", "err", err, "path", w.r.URL.Path)
		}
	}
}
