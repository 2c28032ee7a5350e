package emulator

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStoreJournal: changes survive a crash (no Close) through the
// journal, a torn last line is ignored, and opening folds the journal in.
func TestStoreJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vod.json")
	s, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	sess := &session{Key: "k1", TempSecretID: "tmp1", Created: time.Unix(1, 0).UTC()}
	media := &MediaInfo{FileID: "f1", Name: "a", SessionKey: "k1"}
	s.mu.Lock()
	for _, r := range []journalRecord{{Session: sess}, {Media: media}, {Media: &MediaInfo{FileID: "f2"}}, {DeleteMedia: "f2"}} {
		if err := s.logLocked(r); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Unlock()
	// A crash: no flush; and a torn write at the end.
	f, err := os.OpenFile(path+".journal", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"media":{"file_id":"f3"`)
	f.Close()

	s2, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if s2.data.Sessions["k1"] == nil || s2.temps["tmp1"] != "k1" {
		t.Fatal("session lost")
	}
	if s2.data.Media["f1"] == nil || s2.data.Media["f2"] != nil || s2.data.Media["f3"] != nil {
		t.Fatalf("media after replay: %v", s2.data.Media)
	}
	if fi, err := os.Stat(path + ".journal"); err != nil || fi.Size() != 0 {
		t.Fatalf("journal not folded into the snapshot at open: %v %v", fi, err)
	}
	if err := s2.flush(); err != nil {
		t.Fatal(err)
	}
	if err := s2.logLocked(journalRecord{DeleteMedia: "f1"}); err == nil {
		t.Fatal("a closed store accepted a change")
	}
}

func TestStoreCorruptJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vod.json")
	if err := os.WriteFile(path+".journal", []byte("not json\n{\"media\":{\"file_id\":\"x\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(path); err == nil {
		t.Fatal("a corrupt journal line in the middle was accepted")
	}
}
