package uploader

import (
	"context"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// Checkpoint is the resumable state of one upload. Its JSON form holds no
// secret: the session's temporary certificate is in Cert, which is not
// marshalled: Progress.Save sees it there and keeps it apart (the daemon in
// its state store's 0600 secrets folder), and hands it back in Cert.
type Checkpoint struct {
	Version          int       `json:"version"`
	SessionKey       string    `json:"session_key,omitempty"`
	SubAppID         uint64    `json:"sub_app_id,omitempty"`
	Bucket           string    `json:"bucket,omitempty"`
	Region           string    `json:"region,omitempty"`
	MediaStoragePath string    `json:"media_storage_path,omitempty"`
	CoverStoragePath string    `json:"cover_storage_path,omitempty"`
	CertExpiry       time.Time `json:"cert_expiry,omitzero"`
	Objects          []*Object `json:"objects,omitempty"`
	// Committing is set just before CommitUpload is sent: if it is set
	// when Upload is called, the commit's outcome is unknown.
	Committing bool    `json:"committing,omitempty"`
	Result     *Result `json:"result,omitempty"`

	// Cert is the session's temporary certificate; never marshalled.
	Cert *Cert `json:"-"`
}

// checkpointVersion is the Checkpoint layout version.
const checkpointVersion = 1

// Object is the state of one COS object of the upload.
type Object struct {
	Key      string    `json:"key"`  // COS object key, no leading "/"
	Path     string    `json:"path"` // local file
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime"`
	Dev      uint64    `json:"dev,omitempty"`
	Ino      uint64    `json:"ino,omitempty"`
	Ctime    time.Time `json:"ctime,omitzero"`      // inode change time when planned (zero: unknown)
	PartSize int64     `json:"part_size,omitempty"` // multipart only
	UploadID string    `json:"upload_id,omitempty"` // multipart only
	Parts    []Part    `json:"parts,omitempty"`     // finished parts, any order
	Done     bool      `json:"done,omitempty"`
	ETag     string    `json:"etag,omitempty"`
	CRC64    uint64    `json:"crc64,omitempty,string"`
}

// Part is one finished part of a multipart upload.
type Part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	CRC64  uint64 `json:"crc64,string"`
	Size   int64  `json:"size"`
}

// Cert is a session's temporary COS certificate. It is a secret.
type Cert struct {
	SecretID  string    `json:"secret_id"`
	SecretKey string    `json:"secret_key"`
	Token     string    `json:"token"`
	Expires   time.Time `json:"expires"`
}

// String hides the secret parts, so that a Cert printed by mistake leaks
// nothing.
func (c *Cert) String() string { return "Cert{***}" }

// Progress receives the checkpoint before each remote side effect and after
// each result. Calls are serialised; cp must not be retained or modified
// after Save returns (marshal it). A Save error stops the upload.
type Progress interface {
	Save(ctx context.Context, cp *Checkpoint) error
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(ctx context.Context, cp *Checkpoint) error

// Save calls f.
func (f ProgressFunc) Save(ctx context.Context, cp *Checkpoint) error { return f(ctx, cp) }

type noProgress struct{}

func (noProgress) Save(context.Context, *Checkpoint) error { return nil }

// Version is the file version the object was planned from, to compare
// with the file now (fileid.Check) before the commit.
func (o *Object) Version() fileid.ID {
	return fileid.ID{Size: o.Size, ModTime: o.ModTime, Dev: o.Dev, Ino: o.Ino, Ctime: o.Ctime}
}

// BytesDone returns how many bytes of the checkpoint's objects are stored.
func (cp *Checkpoint) BytesDone() int64 {
	var n int64
	for _, o := range cp.Objects {
		if o.Done {
			n += o.Size
			continue
		}
		for _, p := range o.Parts {
			n += p.Size
		}
	}
	return n
}
