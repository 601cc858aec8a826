package webhook

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzGenericFast holds the fast way through the generic format to the
// encoding/json way: the same events, or the same error.
func FuzzGenericFast(f *testing.F) {
	seed(f, []string{"generic", "alertmanager"},
		`{"summary":"s","severity":2.0,"labels":{"a":1e400}}`,
		`[{"labels":{"a":null}},{"summary":"x","status":"ack"}]`,
		`{"summary":"\ud800","labels":{"\u0000":"\xff"}}`,
		`{"Summary":"upper","summary":"lower"}`,
		`{"ſummary":"long s","labels":{"a":"b","a":"c"}}`,
		`{"summary":"a","summary":null,"dedup_key":7}`,
		`[ {"summary" : "spaced" , "labels" : { "k" : true , "n" : -1.5e3 } } , {"summary":"\u00e9"} ]`,
		`{"summary":"s","labels":{" ":"blank"},"extra":{"nested":[1,{"x":"]"}]}}`,
		`{"summary":"s","labels":{"a":{"b":1}}}`,
		`{"summary":"s","labels":"nope"}`,
		`[{"summary":"s"},]`,
		`{"summary":"s"} trailing`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		fastJSON = true
		fast, ferr := ParseGeneric(body)
		fastJSON = false
		slow, serr := ParseGeneric(body)
		fastJSON = true
		if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
			t.Fatalf("%q: fast error %v, encoding/json error %v", body, ferr, serr)
		}
		if d := cmp.Diff(slow, fast); d != "" {
			t.Fatalf("%q: events (-encoding/json +fast):\n%s", body, d)
		}
	})
}
