package uploader

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// failAfterComplete records checkpoints like a state store, but refuses to
// record the one that marks the multipart object done: the process "died"
// between CompleteMultipartUpload and its record.
type failAfterComplete struct{ mem memProgress }

func (f *failAfterComplete) Save(ctx context.Context, cp *Checkpoint) error {
	for _, o := range cp.Objects {
		if o.Done && o.UploadID != "" {
			return errors.New("killed before recording the completed upload")
		}
	}
	return f.mem.Save(ctx, cp)
}

// TestResumeAfterUnrecordedComplete: the multipart upload was completed at
// COS but not recorded; on resume COS says NoSuchUpload for it, and the
// uploader adopts the complete object (same size, combined CRC) instead of
// failing or sending it again.
func TestResumeAfterUnrecordedComplete(t *testing.T) {
	env := newEnv(t, nil)
	p := writeFile(t, t.TempDir(), "big.mp4", 3*mib+17)
	prog := &failAfterComplete{}
	if _, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, nil, prog); err == nil {
		t.Fatal("the first run did not stop at the unrecorded complete")
	}
	cp := prog.mem.load(t)
	cp.Cert = prog.mem.cert
	before := env.emu.Stats().COS.Requests
	res, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, cp, &prog.mem)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, env.logs)
	}
	assertServed(t, res.MediaURL, p)
	after := env.emu.Stats().COS.Requests
	for _, op := range []string{"InitiateMultipartUpload", "UploadPart", "PutObject"} {
		if after[op] != before[op] {
			t.Errorf("%s sent again on resume (%d -> %d)", op, before[op], after[op])
		}
	}
	if n := len(env.emu.Media()); n != 1 {
		t.Fatalf("%d media, want 1", n)
	}
	if !strings.Contains(env.logs.String(), "adopting the object") {
		t.Fatal("the completed object was not adopted (no log line)")
	}
}

// TestResumeAfterUploadGone: the recorded multipart upload no longer
// exists at COS (aborted elsewhere, expired): the object starts over in the
// same session instead of failing the job.
func TestResumeAfterUploadGone(t *testing.T) {
	env := newEnv(t, nil)
	p := writeFile(t, t.TempDir(), "big.mp4", 3*mib+17)
	mem := &memProgress{}
	ctx, cancel := context.WithCancel(context.Background())
	mem.hook = func(cp *Checkpoint) {
		if countParts(cp) >= 1 {
			cancel()
		}
	}
	if _, err := env.u.Upload(ctx, Request{MediaFilePath: p}, nil, mem); err == nil {
		t.Fatal("the interrupted upload succeeded")
	}
	mem.hook = nil
	cp := mem.load(t)
	cp.Cert = mem.cert
	var mp *Object
	for _, o := range cp.Objects {
		if o.UploadID != "" {
			mp = o
		}
	}
	if mp == nil {
		b, _ := json.Marshal(cp)
		t.Fatalf("no multipart upload recorded: %s", b)
	}
	mp.UploadID = "0123456789abcdef0123456789abcdef" // unknown to COS
	before := env.emu.Stats().COS.Requests["InitiateMultipartUpload"]
	res, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, cp, mem)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, env.logs)
	}
	assertServed(t, res.MediaURL, p)
	if got := env.emu.Stats().COS.Requests["InitiateMultipartUpload"]; got != before+1 {
		t.Fatalf("InitiateMultipartUpload %d -> %d, want one new upload", before, got)
	}
	if !strings.Contains(env.logs.String(), "starting the object over") {
		t.Fatal("no log line for the object started over")
	}
	if env.emu.Stats().Applies != 1 {
		t.Fatalf("%d ApplyUpload: the session should have been kept", env.emu.Stats().Applies)
	}
}
