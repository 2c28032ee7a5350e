package emulator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// session is one ApplyUpload: what may be uploaded where, until when.
type session struct {
	Key            string    `json:"key"`
	Account        string    `json:"account"` // SecretId of the permanent key that applied
	AppID          uint64    `json:"app_id"`
	SubAppID       uint64    `json:"sub_app_id"`
	Bucket         string    `json:"bucket"`
	Region         string    `json:"region"`
	MediaType      string    `json:"media_type"`
	MediaName      string    `json:"media_name"`
	CoverType      string    `json:"cover_type,omitempty"`
	Procedure      string    `json:"procedure,omitempty"`
	ExpireTime     string    `json:"expire_time,omitempty"`
	ClassID        int64     `json:"class_id"`
	SourceContext  string    `json:"source_context,omitempty"`
	SessionContext string    `json:"session_context,omitempty"`
	ExtInfo        string    `json:"ext_info,omitempty"`
	MediaKey       string    `json:"media_key"` // object key, no leading "/"
	CoverKey       string    `json:"cover_key,omitempty"`
	Prefixes       []string  `json:"prefixes"`
	TempSecretID   string    `json:"temp_secret_id"`
	TempSecretKey  string    `json:"temp_secret_key"`
	TempToken      string    `json:"temp_token"`
	CertExpires    time.Time `json:"cert_expires"`
	Expires        time.Time `json:"expires"`
	Created        time.Time `json:"created"`
	FileID         string    `json:"file_id,omitempty"` // set by the first CommitUpload
}

// MediaInfo is one committed media file.
type MediaInfo struct {
	FileID         string    `json:"file_id"`
	Name           string    `json:"name"`
	Type           string    `json:"type"` // media type (extension) as applied: mp4, m3u8...
	AppID          uint64    `json:"app_id"`
	SubAppID       uint64    `json:"sub_app_id"`
	ClassID        int64     `json:"class_id"`
	Procedure      string    `json:"procedure,omitempty"`
	SourceContext  string    `json:"source_context,omitempty"`
	SessionContext string    `json:"session_context,omitempty"`
	ExpireTime     string    `json:"expire_time,omitempty"`
	StorageRegion  string    `json:"storage_region"`
	Bucket         string    `json:"bucket"`
	MediaKey       string    `json:"media_key"`
	CoverKey       string    `json:"cover_key,omitempty"`
	MediaURL       string    `json:"-"` // filled from the current address
	CoverURL       string    `json:"-"`
	Size           int64     `json:"size"`
	Streaming      bool      `json:"streaming"` // HLS/DASH: the folder of MediaKey is served
	SessionKey     string    `json:"session_key"`
	Created        time.Time `json:"created"`
}

type storeData struct {
	Sessions map[string]*session   `json:"sessions"`
	Media    map[string]*MediaInfo `json:"media"`
	flowData                       // task flows and events (flows.go)
}

// store keeps sessions and media in a JSON snapshot plus an append-only
// journal of the changes since (one JSON line each), so that a change
// costs one small write however many records there are. Opening replays
// the journal and folds it into a new snapshot; so does Close. mu guards
// data, the indexes and the journal.
type store struct {
	path    string
	mu      sync.Mutex
	data    storeData
	temps   map[string]string // temporary SecretId -> session key
	journal *os.File
}

// journalRecord is one change: a session or media stored (again), or a
// media deleted.
type journalRecord struct {
	Session     *session   `json:"session,omitempty"`
	Media       *MediaInfo `json:"media,omitempty"`
	DeleteMedia string     `json:"delete_media,omitempty"`
	flowRecord             // task flows and events (flows.go)
}

func openStore(path string) (*store, error) {
	s := &store{path: path, data: storeData{Sessions: map[string]*session{}, Media: map[string]*MediaInfo{}}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("emulator: metadata: %w", err)
	default:
		if err := json.Unmarshal(b, &s.data); err != nil {
			return nil, fmt.Errorf("emulator: metadata %s is corrupt: %w", path, err)
		}
		if s.data.Sessions == nil {
			s.data.Sessions = map[string]*session{}
		}
		if s.data.Media == nil {
			s.data.Media = map[string]*MediaInfo{}
		}
	}
	s.data.flowData.init()
	if err := s.replay(); err != nil {
		return nil, err
	}
	s.temps = map[string]string{}
	for k, ss := range s.data.Sessions {
		s.temps[ss.TempSecretID] = k
	}
	if err := s.compactLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *store) journalPath() string { return s.path + ".journal" }

// replay applies the journal to the snapshot just read. A torn last line
// (a crash in the middle of a write) is ignored.
func (s *store) replay() error {
	f, err := os.Open(s.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("emulator: metadata journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var r journalRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if !sc.Scan() {
				break // torn last line
			}
			return fmt.Errorf("emulator: metadata journal %s:%d is corrupt: %w", s.journalPath(), line, err)
		}
		s.apply(r)
	}
	return sc.Err()
}

func (s *store) apply(r journalRecord) {
	if r.Session != nil {
		s.data.Sessions[r.Session.Key] = r.Session
	}
	if r.Media != nil {
		s.data.Media[r.Media.FileID] = r.Media
	}
	if r.DeleteMedia != "" {
		delete(s.data.Media, r.DeleteMedia)
	}
	s.data.flowData.apply(r.flowRecord)
}

// logLocked appends one change to the journal; s.mu must be held.
func (s *store) logLocked(r journalRecord) error {
	if s.journal == nil {
		return errors.New("emulator: closed")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("emulator: encode metadata: %w", err)
	}
	if _, err := s.journal.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("emulator: save metadata: %w", err)
	}
	return nil
}

// compactLocked writes a snapshot of everything and starts an empty
// journal; s.mu must be held (or s not yet shared).
func (s *store) compactLocked() error {
	b, err := json.MarshalIndent(s.data, "", " ")
	if err != nil {
		return fmt.Errorf("emulator: encode metadata: %w", err)
	}
	if err := writeFileAtomic(s.path, b); err != nil {
		return err
	}
	if s.journal != nil {
		s.journal.Close()
	}
	s.journal, err = os.OpenFile(s.journalPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("emulator: metadata journal: %w", err)
	}
	return nil
}

// flush folds the journal into the snapshot and closes it (Close).
func (s *store) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.compactLocked()
	if s.journal != nil {
		if cerr := s.journal.Close(); err == nil {
			err = cerr
		}
		s.journal = nil
	}
	return err
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vod-*.tmp")
	if err != nil {
		return fmt.Errorf("emulator: save metadata: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: save metadata: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: save metadata: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("emulator: save metadata: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("emulator: save metadata: %w", err)
	}
	return nil
}
