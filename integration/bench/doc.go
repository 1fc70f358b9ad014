// Package bench holds the HTTP benchmarks of BENCHMARKS.md: those of #11,
// run by `make bench`, and the scale curve of #21:
//
//   - BenchmarkPeers: the raw-pgx ceiling, sqlsession+pgstore,
//     alexedwards/scs+pgxstore, gorilla/sessions with a Postgres store and
//     express-session+connect-pg-simple (node, testdata/expressapp), and
//     raw pgx sending sqlsession's own statements, each over real HTTP on
//     loopback against the same Postgres, interleaved round by round; it
//     prints Markdown tables of the medians, the targets of #21, and
//     sqlsession's distance to the ceiling split between its statements
//     and its Go side.
//   - BenchmarkReadQuery: sqlc's GetSession against the lean session read
//     and each of their differences alone.
//   - BenchmarkStatementCPU: the Postgres server CPU of each of
//     sqlsession's login, read and write statements against the
//     ceiling's, one statement at a time.
//   - BenchmarkScaleCurve (`make bench-scale`): sqlsession + pgstore's
//     read, write and new session over real HTTP on tables of 10k, 1M and
//     10M sessions seeded server-side, interleaved size by size: how the
//     cost grows with the table.
//
// Each prints its results and runs once:
//
//	SQLSESSION_TEST_POSTGRES_DSN=... go test -run '^$' -bench Peers -benchtime 1x ./bench
package bench
