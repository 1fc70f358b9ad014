module github.com/sqlsession/sqlsession/integration

go 1.26

require github.com/sqlsession/sqlsession v0.0.0

replace github.com/sqlsession/sqlsession => ../
