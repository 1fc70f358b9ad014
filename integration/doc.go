// Package integration holds sqlsession's end-to-end tests: real PostgreSQL
// (SQLSESSION_TEST_POSTGRES_DSN, or testcontainers-go when a Docker engine
// answers) and SQLite, HTTP through a real server, fault injection, and
// benchmarks against peer libraries. It is its own module so that its
// test-only dependencies never reach users' go.mod.
package integration
