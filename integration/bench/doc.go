// Package bench compares sqlsession with its peers on the same Postgres:
// the raw-pgx ceiling, sqlsession+pgstore, alexedwards/scs+pgxstore and
// gorilla/sessions with a Postgres store. See BENCHMARKS.md.
//
//	SQLSESSION_TEST_POSTGRES_DSN=... go test -run '^$' -bench . -benchmem ./bench
package bench
