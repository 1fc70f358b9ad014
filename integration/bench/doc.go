// Package bench holds the #11 benchmarks of BENCHMARKS.md, run by `make bench`:
//
//   - BenchmarkPeers: the raw-pgx ceiling, sqlsession+pgstore,
//     alexedwards/scs+pgxstore, gorilla/sessions with a Postgres store and
//     express-session+connect-pg-simple (node, testdata/expressapp), each
//     over real HTTP on loopback against the same Postgres, interleaved
//     round by round; it prints Markdown tables of the medians and the
//     targets of #11.
//   - BenchmarkReadQuery: sqlc's GetSession against the lean session read
//     and each of their differences alone.
//
// Both print their results and run once:
//
//	SQLSESSION_TEST_POSTGRES_DSN=... go test -run '^$' -bench Peers -benchtime 1x ./bench
package bench
