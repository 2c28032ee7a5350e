package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// TestStatusShowsStagesAfterDone: processing (with the task's progress),
// ready (with outputs) and processing_failed (with the service's error).
func TestStatusShowsStagesAfterDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plays := map[string]*state.Play{
		"processing": {State: state.PlayProcessing, TaskID: "t1", Progress: 40},
		"ready": {State: state.PlayReady, TaskID: "t2", Progress: 100, Outputs: &vodoutput.Outputs{
			Streams: []vodoutput.Stream{{Definition: 10, Package: "HLS", URL: "http://vod/adp.10.m3u8"}}, CoverURL: "http://vod/c.jpg"}},
		"failed": {State: state.PlayFailed, TaskID: "t3", Error: &state.JobError{Code: "SourceFileError", Message: "broken source"}},
	}
	ino := uint64(10)
	for name, p := range plays {
		ino++
		j, _, err := s.Enqueue(ctx, stKey("news/"+name+".mp4", ino), state.Attrs{Rule: "news"})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []state.Stage{state.StageApplied, state.StageCommitting, state.StageDone} {
			if _, err := s.Update(ctx, j.ID, func(n *state.Job) error {
				n.Stage = st
				if st == state.StageDone {
					n.Result.FileID, n.Play = "F-"+name, p
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	out, _, code := stRun(t, "status", "--state", path)
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	for _, want := range []string{"processing  ", "40%", "ready  ", "FileId F-ready http://vod/adp.10.m3u8 (+1 outputs)",
		"processing_failed", "FileId F-failed processing failed: SourceFileError: broken source"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	_, jobs := stStatusJSON(t, "--state", path)
	if got := stStages(jobs); got != "processing,processing_failed,ready" {
		t.Fatalf("stages %s", got)
	}
	for _, j := range jobs {
		play := j["play"].(map[string]any)
		switch j["stage"] {
		case "ready":
			if play["outputs"].(map[string]any)["cover_url"] != "http://vod/c.jpg" {
				t.Errorf("ready play %v", play)
			}
		case "processing_failed":
			if play["error"].(map[string]any)["code"] != "SourceFileError" {
				t.Errorf("failed play %v", play)
			}
		}
	}
}
