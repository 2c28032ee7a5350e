package state

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// Stage is where a job is in the exactly-once stage machine.
type Stage string

// The stages, in the order a successful job passes them.
const (
	StageQueued      Stage = "queued"
	StageApplied     Stage = "applied"    // ApplyUpload answered: session recorded
	StageUploading   Stage = "uploading"  // COS writes under way: checkpoint holds upload ids and parts
	StageCommitting  Stage = "committing" // CommitUpload sent (or about to be): settle, never re-upload blindly
	StageDone        Stage = "done"
	StageFailed      Stage = "failed"      // waits for NextRetry (or for `vodwatchd retry` when NextRetry is zero)
	StageQuarantined Stage = "quarantined" // given up; the file may have been moved to QuarantinePath
)

// Stages lists every stage in stage-machine order.
var allStages = [...]Stage{StageQueued, StageApplied, StageUploading, StageCommitting, StageDone, StageFailed, StageQuarantined}

// Stages returns every stage in stage-machine order.
func Stages() []Stage { return append([]Stage(nil), allStages[:]...) }

// Valid reports whether s is one of the known stages.
func (s Stage) Valid() bool {
	for _, v := range allStages {
		if s == v {
			return true
		}
	}
	return false
}

// InFlight reports whether a remote session may be open for a job in s
// (applied, uploading, committing): such jobs are resumed after a crash and
// may own a temporary certificate in the secrets folder.
func (s Stage) InFlight() bool {
	return s == StageApplied || s == StageUploading || s == StageCommitting
}

// ParseStage returns the stage named s.
func ParseStage(s string) (Stage, error) {
	if st := Stage(s); st.Valid() {
		return st, nil
	}
	return "", fmt.Errorf("unknown stage %q (want one of %v)", s, allStages)
}

// transitions lists the legal moves out of each stage. A stage may always
// move to itself (progress, checkpoint and post-action updates).
//
// Every stage before done may move to done: a job is settled whenever its
// media is known to be in VOD (CommitUpload answered, a deduplicated copy,
// or an earlier unanswered commit found by searching VOD), whatever stage
// the job's record was left in when that became known.
//
// A queued job may move straight to uploading or committing: a session
// not worth resuming (a small file's, over in milliseconds, applied for
// again after a crash) is not recorded on its own, so the first record
// after queued can be the one before CommitUpload.
var transitions = map[Stage][]Stage{
	StageQueued:      {StageApplied, StageUploading, StageCommitting, StageDone, StageFailed, StageQuarantined},
	StageApplied:     {StageUploading, StageCommitting, StageDone, StageQueued, StageFailed, StageQuarantined},
	StageUploading:   {StageApplied, StageCommitting, StageDone, StageQueued, StageFailed, StageQuarantined},
	StageCommitting:  {StageDone, StageApplied, StageQueued, StageFailed, StageQuarantined},
	StageDone:        {},
	StageFailed:      {StageQueued, StageApplied, StageUploading, StageCommitting, StageDone, StageQuarantined},
	StageQuarantined: {StageQueued},
}

// CanMove reports whether a job may go from stage from to stage to.
func CanMove(from, to Stage) bool {
	if !to.Valid() {
		return false
	}
	if from == to {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Key is a job's identity: the same file seen again has the same Key, a
// new version (new size or mtime, or other content under the same size
// and mtime) has a new one.
//
// Root, Rel, Size, MtimeNs and Variant are the identity: they make the
// job's id (Key.ID), so any node or restart computes the same one. Dev,
// Ino and CtimeNs are only the fast path that spares a content read: a
// remount or a migration changes them, and the record then adopts the new
// ones once the content is confirmed (Store.Reconcile).
type Key struct {
	Root    string `json:"root"`     // absolute, clean watch root
	Rel     string `json:"rel"`      // slash path under Root (for a bundle: its top manifest)
	Size    int64  `json:"size"`     // bytes
	MtimeNs int64  `json:"mtime_ns"` // modification time, ns since the epoch
	// Variant tells apart versions of one path with the same size and
	// mtime: empty for the first, the new content's fileid.Content for a
	// later one with other bytes.
	Variant string `json:"variant,omitempty"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	CtimeNs int64  `json:"ctime_ns,omitempty"` // inode change time, ns since the epoch (0: unknown)
}

// NewKey is the key of the file version id at rel under root.
func NewKey(root, rel string, id fileid.ID) Key {
	k := Key{Root: root, Rel: rel, Size: id.Size, MtimeNs: id.ModTime.UnixNano(), Dev: id.Dev, Ino: id.Ino}
	if !id.Ctime.IsZero() {
		k.CtimeNs = id.Ctime.UnixNano()
	}
	return k
}

// Version is the file version the key was taken with, to compare with the
// file now (fileid.Check).
func (k Key) Version() fileid.ID {
	id := fileid.ID{Size: k.Size, ModTime: time.Unix(0, k.MtimeNs), Dev: k.Dev, Ino: k.Ino}
	if k.CtimeNs != 0 {
		id.Ctime = time.Unix(0, k.CtimeNs)
	}
	return id
}

// Validate reports why k cannot identify a job, naming the bad field.
func (k Key) Validate() error {
	switch {
	case k.Root == "" || !filepath.IsAbs(k.Root):
		return fmt.Errorf("job key: root %q is not an absolute path", k.Root)
	case filepath.Clean(k.Root) != k.Root:
		return fmt.Errorf("job key: root %q is not clean (want %q)", k.Root, filepath.Clean(k.Root))
	case k.Rel == "" || strings.HasPrefix(k.Rel, "/"):
		return fmt.Errorf("job key: rel %q is not a relative path", k.Rel)
	case path.Clean(k.Rel) != k.Rel || k.Rel == "." || k.Rel == ".." || strings.HasPrefix(k.Rel, "../"):
		return fmt.Errorf("job key: rel %q is not a clean path inside the root", k.Rel)
	case strings.ContainsRune(k.Root, 0) || strings.ContainsRune(k.Rel, 0) || strings.ContainsRune(k.Variant, 0):
		return fmt.Errorf("job key: path %q contains a NUL byte", k.Rel)
	case k.Size < 0:
		return fmt.Errorf("job key: size %d is negative", k.Size)
	}
	return nil
}

// Path is the file's absolute path under its watch root.
func (k Key) Path() string { return filepath.Join(k.Root, filepath.FromSlash(k.Rel)) }

// ID is the job's stable short id: the first 16 hex digits of the SHA-256
// of the identity (never of the device, inode or ctime).
func (k Key) ID() string {
	sum := sha256.Sum256(identityKey(k))
	return hex.EncodeToString(sum[:8])
}

// legacyID is the id schema 2 gave a job: its identity then included the
// device and inode. Jobs recorded then keep it.
func (k Key) legacyID() string {
	b := versionPrefix(k)
	b = binary.BigEndian.AppendUint64(b, k.Dev)
	b = binary.BigEndian.AppendUint64(b, k.Ino)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// sameIdentity reports whether a and b are one identity (they may differ
// in the fast-path attributes dev, ino and ctime).
func sameIdentity(a, b Key) bool {
	return a.Root == b.Root && a.Rel == b.Rel && a.Size == b.Size && a.MtimeNs == b.MtimeNs && a.Variant == b.Variant
}

// sameInode reports whether now has the fast-path attributes recorded in
// rec: the same inode and ctime, where rec knows them.
func sameInode(rec, now Key) bool {
	if rec.Ino != 0 && (rec.Dev != now.Dev || rec.Ino != now.Ino) {
		return false
	}
	return rec.CtimeNs == 0 || now.CtimeNs == 0 || rec.CtimeNs == now.CtimeNs
}

// versionPrefix is root NUL rel NUL then size and mtime big-endian: every
// version of one path with one size and mtime shares it.
func versionPrefix(k Key) []byte {
	b := make([]byte, 0, len(k.Root)+len(k.Rel)+2+16+len(k.Variant))
	b = append(b, k.Root...)
	b = append(b, 0)
	b = append(b, k.Rel...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(k.Size))
	return binary.BigEndian.AppendUint64(b, uint64(k.MtimeNs))
}

// identityKey encodes k for the identity index: versionPrefix then the
// Variant, so every version of one path shares the prefix
// pathKey(root, rel)+NUL.
func identityKey(k Key) []byte {
	return append(versionPrefix(k), k.Variant...)
}

// identityValue is the identity index's value for job id with key k: the
// id, then dev, ino and ctime big-endian, so that the fast path of
// Reconcile decodes no job.
func identityValue(id string, k Key) []byte {
	b := make([]byte, 0, len(id)+24)
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, k.Dev)
	b = binary.BigEndian.AppendUint64(b, k.Ino)
	return binary.BigEndian.AppendUint64(b, uint64(k.CtimeNs))
}

// idLen is the length of every job id (16 hex digits).
const idLen = 16

// parseIdentityValue splits an identity index value into the job id and
// the recorded fast-path attributes (schema 2 values hold the id only).
func parseIdentityValue(v []byte) (id string, k Key) {
	if len(v) != idLen+24 {
		return string(v), Key{}
	}
	k.Dev = binary.BigEndian.Uint64(v[idLen:])
	k.Ino = binary.BigEndian.Uint64(v[idLen+8:])
	k.CtimeNs = int64(binary.BigEndian.Uint64(v[idLen+16:]))
	return string(v[:idLen]), k
}

// Kind says whether a job uploads one file or an HLS/DASH bundle.
type Kind string

// The job kinds.
const (
	KindFile   Kind = "file"
	KindBundle Kind = "bundle"
)

// PostState is the post-action's progress once a job is done.
type PostState string

// Post-action states: none (keep, nothing to do), pending, done.
const (
	PostNone    PostState = ""
	PostPending PostState = "pending"
	PostDone    PostState = "done"
)

// Post records the post-action (keep/move/delete, sidecar) of a done job.
type Post struct {
	State   PostState `json:"state,omitempty"`
	Action  string    `json:"action,omitempty"`   // keep | move | delete
	MovedTo string    `json:"moved_to,omitempty"` // where the file went (move)
	Sidecar string    `json:"sidecar,omitempty"`  // sidecar JSON written, if any
	// Moves is a move's plan (rel -> destination), recorded before any
	// file moves so that a restart completes the same move; cleared once
	// the post-action is done.
	Moves     map[string]string `json:"moves,omitempty"`
	Attempts  int               `json:"attempts,omitempty"`
	LastError string            `json:"last_error,omitempty"`
}

// Result is what CommitUpload answered.
type Result struct {
	FileID    string `json:"file_id,omitempty"`
	MediaURL  string `json:"media_url,omitempty"`
	CoverURL  string `json:"cover_url,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Content is the committed media object's fileid.Content (its CRC-64
	// as COS verified it): a record whose file comes back under another
	// inode is the same file only when its content still matches.
	Content string `json:"content,omitempty"`
}

// JobError is the last error a job met (never a secret in it).
type JobError struct {
	Code      string    `json:"code,omitempty"`
	Message   string    `json:"message,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Op        string    `json:"op,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Transition is one entry of a job's bounded history.
type Transition struct {
	From Stage     `json:"from,omitempty"`
	To   Stage     `json:"to"`
	At   time.Time `json:"at"`
	Code string    `json:"code,omitempty"` // error code when To is failed/quarantined
	Note string    `json:"note,omitempty"` // e.g. "retry", "resumed after restart"
}

// MaxHistory bounds Job.History.
const MaxHistory = 20

// Job is one file or bundle to upload and everything known about it.
// It never holds a secret: the temporary certificate lives in a separate
// file (see Store.PutSecret).
type Job struct {
	ID             string          `json:"id"`
	Seq            uint64          `json:"seq"` // enqueue order, unique within a store
	Key            Key             `json:"key"`
	Kind           Kind            `json:"kind"`
	Rule           string          `json:"rule,omitempty"`
	Cover          string          `json:"cover,omitempty"` // cover's rel under Key.Root
	Stage          Stage           `json:"stage"`
	Attempts       int             `json:"attempts,omitempty"`
	NextRetry      time.Time       `json:"next_retry,omitzero"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated"`
	Started        time.Time       `json:"started,omitzero"`
	Finished       time.Time       `json:"finished,omitzero"`
	Bytes          int64           `json:"bytes,omitempty"` // total bytes to send (bundle: all files)
	BytesDone      int64           `json:"bytes_done,omitempty"`
	Checkpoint     json.RawMessage `json:"checkpoint,omitempty"` // uploader's resumable record, opaque JSON, no secrets
	SessionExpires time.Time       `json:"session_expires,omitzero"`
	SourceContext  string          `json:"source_context,omitempty"`
	MediaName      string          `json:"media_name,omitempty"`
	Priority       int             `json:"priority,omitempty"` // higher runs first
	ContentHash    string          `json:"content_hash,omitempty"`
	Result         Result          `json:"result,omitzero"`
	LastError      *JobError       `json:"last_error,omitempty"`
	QuarantinePath string          `json:"quarantine_path,omitempty"` // where a quarantined file was moved; kept by Retry
	Post           Post            `json:"post,omitzero"`
	Play           *Play           `json:"play,omitempty"` // done: on the way to playable (play.go)
	// Replaces is the job (an earlier version of the same path) whose media
	// this job's commit replaces (on_change: replace); ReplacedOld is set
	// once that media is deleted.
	Replaces    string `json:"replaces,omitempty"`
	ReplacedOld bool   `json:"replaced_old,omitempty"`
	// RenamedTo is where, under the same root, the job's file was found
	// after its upload (renamed, perhaps across a remount): the job there
	// is linked to the same media.
	RenamedTo string       `json:"renamed_to,omitempty"`
	History   []Transition `json:"history,omitempty"`
	Compacted bool         `json:"compacted,omitempty"`
}

// RenamedPath is the path of RenamedTo, or "".
func (j *Job) RenamedPath() string {
	if j.RenamedTo == "" {
		return ""
	}
	return Key{Root: j.Key.Root, Rel: j.RenamedTo}.Path()
}

// SourcePath is where the job's file is now: its quarantine path when it was
// moved there, else its place under the watch root.
func (j *Job) SourcePath() string {
	if j.QuarantinePath != "" {
		return j.QuarantinePath
	}
	return j.Key.Path()
}

// Progress is BytesDone/Bytes in [0,1] (1 when done).
func (j *Job) Progress() float64 {
	switch {
	case j.Stage == StageDone:
		return 1
	case j.Bytes <= 0:
		return 0
	case j.BytesDone >= j.Bytes:
		return 1
	}
	return float64(j.BytesDone) / float64(j.Bytes)
}

// Clone returns a deep copy of j.
func (j *Job) Clone() *Job {
	c := *j
	c.Checkpoint = append(json.RawMessage(nil), j.Checkpoint...)
	c.History = append([]Transition(nil), j.History...)
	c.Play = j.Play.clone()
	if j.LastError != nil {
		e := *j.LastError
		c.LastError = &e
	}
	return &c
}

// Attrs are the parts of a new job that are not its identity.
type Attrs struct {
	Kind          Kind // default KindFile
	Rule          string
	Cover         string
	Bytes         int64 // default Key.Size
	SourceContext string
	MediaName     string
	Priority      int
	ContentHash   string
	Replaces      string // job whose media the commit replaces (on_change: replace)
}

func (j *Job) record(from, to Stage, at time.Time, note string) {
	t := Transition{From: from, To: to, At: at, Note: note}
	if j.LastError != nil && (to == StageFailed || to == StageQuarantined) {
		t.Code = j.LastError.Code
	}
	j.History = append(j.History, t)
	if n := len(j.History); n > MaxHistory {
		j.History = append([]Transition(nil), j.History[n-MaxHistory:]...)
	}
}
