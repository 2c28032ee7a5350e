package follow

import (
	"context"
	"encoding/json"
	"testing"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// matchAll is a store that claims every event and accepts every update.
type matchAll struct{ applied []Update }

func (*matchAll) Following(context.Context) ([]Job, error) { return nil, nil }
func (*matchAll) Match(context.Context, string, string) ([]Job, error) {
	return []Job{{ID: "j", Procedure: "p"}}, nil
}
func (m *matchAll) Apply(_ context.Context, _ string, u Update) error {
	m.applied = append(m.applied, u)
	return nil
}

// FuzzEvent feeds arbitrary event documents (as PullEvents returns them)
// through matching and interpretation: an update with a known stage and a
// bounded progress, or nothing, never a panic.
func FuzzEvent(f *testing.F) {
	for _, s := range []string{
		`{"EventHandle":"h","EventType":"NewFileUpload","FileUploadEvent":{"FileId":"1","ProcedureTaskId":"t","MediaBasicInfo":{"SourceInfo":{"SourceContext":"sc"}}}}`,
		`{"EventHandle":"h","EventType":"ProcedureStateChanged","ProcedureStateChangeEvent":{"TaskId":"t","Status":"FINISH","ErrCode":0,"FileId":"1","MediaProcessResultSet":[{"Type":"Transcode","TranscodeTask":{"Status":"SUCCESS","Progress":100,"Output":{"Url":"http://x/v.mp4"}}},null]}}`,
		`{"EventHandle":"h","EventType":"ProcedureStateChanged","ProcedureStateChangeEvent":{"Status":"FINISH","ErrCode":30010,"Message":"bad","MediaProcessResultSet":[{"TranscodeTask":{"Status":"FAIL","ErrCodeExt":"X"}}]}}`,
		`{"EventHandle":"h","EventType":"ProcedureStateChanged","ProcedureStateChangeEvent":{"Status":"PROCESSING","MediaProcessResultSet":[{"TranscodeTask":{"Progress":-5}},{"CoverBySnapshotTask":{"Progress":1000}}]}}`,
		`{"EventHandle":"h","EventType":"FileDeleted","FileDeleteEvent":{}}`, `{}`, `null`,
	} {
		f.Add(s)
	}
	fl, err := New(Config{Mode: ModePull, Client: func(context.Context) (API, error) { return nil, nil }, Store: &matchAll{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var ev vod.EventContent
		if json.Unmarshal([]byte(doc), &ev) != nil {
			return
		}
		st := &matchAll{}
		fl.cfg.Store = st
		if _, err := fl.handle(context.Background(), &ev); err != nil {
			t.Fatalf("handle: %v", err)
		}
		for _, u := range st.applied {
			if u.Stage != Processing && u.Stage != Ready && u.Stage != Failed {
				t.Fatalf("stage %q", u.Stage)
			}
			if u.Progress < 0 || u.Progress > 100 {
				t.Fatalf("progress %d", u.Progress)
			}
			if u.Stage == Failed && u.ErrCode == "" {
				t.Fatal("a failure without a code")
			}
		}
	})
}
