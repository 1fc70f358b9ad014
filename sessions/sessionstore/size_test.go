package sessionstore_test

import (
	"testing"

	"github.com/sqlsession/sqlsession/sessions/sessionstore"
)

func TestTextSize(t *testing.T) {
	for in, want := range map[string]string{
		`{}`:                          `{}`,
		`{"a":1,"b":[1,2,{"c":null}]}`: `{"a": 1, "b": [1, 2, {"c": null}]}`,
		"{ \"a\" :\n 1 }":             `{"a": 1}`,
		`{"k,:":"v, \" : x\\"}`:       `{"k,:": "v, \" : x\\"}`,
		`[[],{}, "x"]`:                `[[], {}, "x"]`,
	} {
		if got := sessionstore.TextSize([]byte(in)); got != len(want) {
			t.Errorf("TextSize(%s) = %d, want %d (len of %s)", in, got, len(want), want)
		}
	}
}
