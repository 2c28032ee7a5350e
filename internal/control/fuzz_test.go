package control

import (
	"net/http/httptest"
	"testing"
)

// FuzzFilterQuery: any query string on the socket gives a filter or an
// error, never a panic, and only known stages get through.
func FuzzFilterQuery(f *testing.F) {
	for _, seed := range []string{"stage=failed&stage=quarantined", "root=/srv/drop&prefix=news&limit=10", "id=abcd&id=ef01", "limit=-1", "stage=%00", "limit=99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/v1/jobs", nil)
		r.URL.RawQuery = q
		flt, err := filterFromQuery(r)
		if err != nil {
			return
		}
		for _, st := range flt.Stages {
			if !st.Valid() {
				t.Fatalf("stage %q accepted", st)
			}
		}
		if flt.Limit < 0 {
			t.Fatalf("negative limit %d accepted", flt.Limit)
		}
	})
}
