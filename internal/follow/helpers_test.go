package follow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/follow"
)

// startEmulator runs an emulator whose tasks take d and fail at failRate,
// with quick event redelivery.
func startEmulator(t *testing.T, d time.Duration, failRate float64) *emulator.Emulator {
	return emulatortest.Start(t, func(c *emulator.Config) {
		c.Tasks = emulator.TaskConfig{Duration: d, FailRate: failRate, Seed: 3, PullWait: 200 * time.Millisecond, Redeliver: 500 * time.Millisecond}
	})
}

func client(t testing.TB, e *emulator.Emulator) *vod.Client {
	t.Helper()
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = e.Addr()
	cpf.HttpProfile.Scheme = "http"
	cpf.HttpProfile.ReqTimeout = 10
	c, err := vod.NewClient(common.NewCredential(e.SecretID(), e.SecretKey()), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// upload commits a small mp4 through the official clients.
func upload(t *testing.T, e *emulator.Emulator, vc *vod.Client, procedure, sourceContext string) string {
	t.Helper()
	req := vod.NewApplyUploadRequest()
	req.MediaType = common.StringPtr("mp4")
	req.MediaName = common.StringPtr(sourceContext)
	req.SourceContext = common.StringPtr(sourceContext)
	if procedure != "" {
		req.Procedure = common.StringPtr(procedure)
	}
	ap, err := vc.ApplyUpload(req)
	if err != nil {
		t.Fatalf("ApplyUpload: %v", err)
	}
	r := ap.Response
	u, _ := url.Parse("http://" + e.Addr())
	cc := cossdk.NewClient(&cossdk.BaseURL{BucketURL: u}, &http.Client{Transport: &cossdk.AuthorizationTransport{
		SecretID: *r.TempCertificate.SecretId, SecretKey: *r.TempCertificate.SecretKey, SessionToken: *r.TempCertificate.Token,
	}})
	cc.Host = *r.StorageBucket + ".cos." + *r.StorageRegion + ".myqcloud.com"
	if _, err := cc.Object.Put(context.Background(), (*r.MediaStoragePath)[1:], bytes.NewReader([]byte("media of "+sourceContext)), nil); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	cr := vod.NewCommitUploadRequest()
	cr.VodSessionKey = r.VodSessionKey
	cm, err := vc.CommitUpload(cr)
	if err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	return *cm.Response.FileId
}

func enableUploadEvents(t *testing.T, vc *vod.Client) {
	t.Helper()
	req := vod.NewModifyEventConfigRequest()
	req.Mode = common.StringPtr("PULL")
	req.UploadMediaCompleteEventSwitch = common.StringPtr("ON")
	if _, err := vc.ModifyEventConfig(req); err != nil {
		t.Fatalf("ModifyEventConfig: %v", err)
	}
}

// memStore is a job store with the contract of the real one: terminal
// stages stay, repeated updates change nothing, every change is counted.
type memStore struct {
	mu        sync.Mutex
	jobs      map[string]*memJob
	failApply int // the next n Apply calls fail
	applied   map[string][]follow.Stage
}

type memJob struct {
	follow.Job
	stage   follow.Stage // "" = done
	update  follow.Update
	history []follow.Stage
}

func newMemStore() *memStore {
	return &memStore{jobs: map[string]*memJob{}, applied: map[string][]follow.Stage{}}
}

func (s *memStore) add(j follow.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[j.ID] = &memJob{Job: j}
}

func (s *memStore) Following(context.Context) ([]follow.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []follow.Job
	for _, j := range s.jobs {
		if j.Procedure != "" && (j.stage == "" || j.stage == follow.Processing) {
			out = append(out, j.Job)
		}
	}
	return out, nil
}

func (s *memStore) Match(_ context.Context, fileID, sc string) ([]follow.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []follow.Job
	for _, j := range s.jobs {
		if (fileID != "" && j.FileID == fileID) || (sc != "" && j.SourceContext == sc) {
			out = append(out, j.Job)
		}
	}
	return out, nil
}

func (s *memStore) Apply(_ context.Context, id string, u follow.Update) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failApply > 0 {
		s.failApply--
		return errors.New("disk full (test)")
	}
	j, ok := s.jobs[id]
	if !ok {
		return fmt.Errorf("no job %s", id)
	}
	if j.stage == follow.Ready || j.stage == follow.Failed {
		return nil
	}
	if u.TaskID != "" {
		j.TaskID = u.TaskID
	}
	if j.stage != u.Stage {
		j.history = append(j.history, u.Stage)
	}
	j.stage, j.update = u.Stage, u
	return nil
}

func (s *memStore) get(id string) memJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.jobs[id]
}

// waitStage waits until job id reaches stage.
func waitStage(t *testing.T, s *memStore, id string, stage follow.Stage) memJob {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j := s.get(id)
		if j.stage == stage {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q, want %q (history %v)", id, j.stage, stage, j.history)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run starts a follower and stops it when the test ends.
func run(t *testing.T, cfg follow.Config) *follow.Follower {
	t.Helper()
	f, err := follow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return f
}

// countingPacer records the actions it paced.
type countingPacer struct {
	mu      sync.Mutex
	actions map[string]int
}

func (p *countingPacer) Wait(ctx context.Context, action string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.actions == nil {
		p.actions = map[string]int{}
	}
	p.actions[action]++
	return ctx.Err()
}

func (p *countingPacer) count(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.actions[action]
}
