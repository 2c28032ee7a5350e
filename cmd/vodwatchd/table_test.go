package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rivo/uniseg"
)

func TestTableAlignsWideCharacters(t *testing.T) {
	tb := table{header: []string{"ID", "PATH", "STAGE"}}
	tb.add("a1", "/srv/drop/新闻/发布会.mp4", "done")
	tb.add("b2", "/srv/drop/clip.mp4", "queued")
	tb.add("c3", "/srv/drop/🎬 trailer.mp4", "failed")
	tb.add("d4", "/srv/drop/cafe\u0301.mp4", "done") // combining accent: one cell
	var b bytes.Buffer
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	// The STAGE column starts at the same terminal cell on every line.
	want := -1
	for _, l := range lines {
		i := strings.LastIndex(l, "  ")
		cell := uniseg.StringWidth(l[:i+2])
		if want < 0 {
			want = cell
		}
		if cell != want {
			t.Errorf("STAGE at cell %d, want %d: %q", cell, want, l)
		}
	}
	if !strings.HasSuffix(lines[0], "STAGE") || strings.HasSuffix(lines[1], " ") {
		t.Errorf("last column padded or missing:\n%s", b.String())
	}
}
