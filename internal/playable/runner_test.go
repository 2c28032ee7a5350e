package playable

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/follow"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// receiver accepts correctly signed webhooks and records their events.
type receiver struct {
	mu     sync.Mutex
	events []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte("runner-secret"))
	m.Write([]byte(r.Header.Get("X-Vodwatchd-Timestamp") + "." + string(body)))
	if !hmac.Equal([]byte("sha256="+hex.EncodeToString(m.Sum(nil))), []byte(r.Header.Get("X-Vodwatchd-Signature"))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, r.Header.Get("X-Vodwatchd-Event"))
	rc.mu.Unlock()
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.events...)
}

func vodClient(t *testing.T, e *emulator.Emulator) *vod.Client {
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint, cpf.HttpProfile.Scheme, cpf.HttpProfile.ReqTimeout = e.Addr(), "http", 15
	c, err := vod.NewClient(common.NewCredential(e.SecretID(), e.SecretKey()), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func uploadMedia(t *testing.T, e *emulator.Emulator, vc *vod.Client, sourceContext string) string {
	t.Helper()
	req := vod.NewApplyUploadRequest()
	req.MediaType, req.SourceContext, req.Procedure = common.StringPtr("mp4"), common.StringPtr(sourceContext), common.StringPtr("news-transcode")
	ap, err := vc.ApplyUpload(req)
	if err != nil {
		t.Fatal(err)
	}
	r := ap.Response
	u, _ := url.Parse("http://" + e.Addr())
	cc := cossdk.NewClient(&cossdk.BaseURL{BucketURL: u}, &http.Client{Transport: &cossdk.AuthorizationTransport{
		SecretID: *r.TempCertificate.SecretId, SecretKey: *r.TempCertificate.SecretKey, SessionToken: *r.TempCertificate.Token}})
	cc.Host = *r.StorageBucket + ".cos." + *r.StorageRegion + ".myqcloud.com"
	if _, err := cc.Object.Put(context.Background(), (*r.MediaStoragePath)[1:], bytes.NewReader([]byte("m")), nil); err != nil {
		t.Fatal(err)
	}
	cr := vod.NewCommitUploadRequest()
	cr.VodSessionKey = r.VodSessionKey
	cm, err := vc.CommitUpload(cr)
	if err != nil {
		t.Fatal(err)
	}
	return *cm.Response.FileId
}

func TestRunnerBringsJobsToReadyAndDeliversHooksInBothModes(t *testing.T) {
	for _, mode := range []string{config.FollowPoll, config.FollowPull} {
		t.Run(mode, func(t *testing.T) {
			e := emulatortest.Start(t, func(c *emulator.Config) {
				c.Tasks = emulator.TaskConfig{Duration: 200 * time.Millisecond, PullWait: 200 * time.Millisecond, Redeliver: time.Second}
			})
			vc := vodClient(t, e)
			rc := &receiver{}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			dir := t.TempDir()
			root := filepath.Join(dir, "drop")
			os.MkdirAll(root, 0o755)
			t.Setenv("RUNNER_SECRET", "runner-secret")
			text := fmt.Sprintf("state: %s/state.db\nfollow: {mode: %s, interval: 1s}\nhook_delivery: {backoff: 50ms, max_backoff: 100ms}\nwatch:\n  - path: %s\n    hooks: [{name: cms, on: [done, ready], url: %q, secret: \"env:RUNNER_SECRET\"}]\n    rules:\n      - {name: news, match: \"**\", procedure: news-transcode, after: {action: keep, when: ready}}\n", dir, mode, root, srv.URL)
			os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(text), 0o600)
			cfg, err := config.Load(filepath.Join(dir, "c.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			st, err := state.Open(cfg.State, state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var readyMu sync.Mutex
			var ready []string
			r, err := NewRunner(RunnerOptions{Config: cfg, Store: st, Client: func(context.Context) (follow.API, error) { return vc, nil },
				Ready: func(id string) { readyMu.Lock(); ready = append(ready, id); readyMu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			if mode == config.FollowPull {
				req := vod.NewModifyEventConfigRequest()
				req.Mode = common.StringPtr("PULL")
				vc.ModifyEventConfig(req)
			}
			// A job committed (as the daemon records it) whose media is processing.
			j, _, _ := st.Enqueue(ctx, state.Key{Root: root, Rel: "a.mp4", Size: 1, MtimeNs: 1, Ino: 1}, state.Attrs{Rule: "news"})
			for _, s := range []state.Stage{state.StageApplied, state.StageCommitting} {
				st.Update(ctx, j.ID, func(n *state.Job) error { n.Stage = s; return nil })
			}
			fileID := uploadMedia(t, e, vc, "vodwatchd:"+j.ID)
			if _, err := st.Update(ctx, j.ID, func(n *state.Job) error {
				n.Stage, n.Result.FileID = state.StageDone, fileID
				n.Play, n.Post = &state.Play{State: state.PlayProcessing}, state.Post{State: state.PostWaiting, Action: "keep"}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			r.Committed()
			deadline := time.Now().Add(15 * time.Second)
			for {
				got, _ := st.Get(ctx, j.ID)
				if got.DisplayStage() == "ready" && len(rc.got()) == 2 {
					if got.Play.Outputs == nil || len(got.Play.Outputs.Transcodes) != 1 || got.Post.State != state.PostPending {
						t.Fatalf("ready job %+v post %+v", got.Play, got.Post)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s, hooks %v", got.DisplayStage(), rc.got())
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if ev := rc.got(); ev[0] != "done" || ev[1] != "ready" {
				t.Fatalf("hook events %v", ev)
			}
			readyMu.Lock()
			defer readyMu.Unlock()
			if len(ready) != 1 {
				t.Fatalf("Ready called %d times", len(ready))
			}
		})
	}
}
