package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
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
	if code != 1 { // a processing_failed job is a failure to report
		t.Fatalf("status exit %d, want 1 (one job processing_failed)", code)
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

// TestStatusShowsHookDeadLetters: a delivery given up is visible.
func TestStatusShowsHookDeadLetters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ob := s.Outbox()
	now := time.Now()
	ds := []hooks.Delivery{
		{Key: "k1", Hook: "cms", Facts: hooks.Facts{Event: "ready", JobID: "0123456789abcdef", Path: "/srv/drop/a.mp4"}, Created: now, NextAt: now},
		{Key: "k2", Hook: "cms", Facts: hooks.Facts{Event: "done", JobID: "0123456789abcdef"}, Created: now, NextAt: now},
	}
	if err := ob.Enqueue(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	if err := ob.Failed(ctx, "k1", hooks.Attempt{Error: "webhook cms: HTTP 503: down"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, _, code := stRun(t, "status", "--state", path)
	if code != 0 || !strings.Contains(out, "hooks: 1 pending, 1 dead letters") ||
		!strings.Contains(out, "dead letter: hook cms, ready of job 0123456789abcdef (/srv/drop/a.mp4), 1 attempts: webhook cms: HTTP 503: down") {
		t.Fatalf("status:\n%s", out)
	}
	raw, _, _ := stRun(t, "status", "--json", "--state", path)
	var doc struct {
		Hooks struct{ Pending, Dead int } `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || doc.Hooks.Dead != 1 || doc.Hooks.Pending != 1 {
		t.Fatalf("status --json hooks %+v %v", doc.Hooks, err)
	}
}
