// Package routers shows sqlsession with chi, echo and gin; docs/ROUTERS.md
// shows these files, and their tests run them.
// It lives in the integration module so that the routers never become
// dependencies of the library's module.
package routers
