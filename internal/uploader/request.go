package uploader

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// Request is one upload, with every field of the VOD server-upload SDK's
// VodUploadRequest.
type Request struct {
	MediaFilePath          string // local file; .m3u8/.mpd uploads the whole HLS/DASH bundle
	MediaType              string // default: the file's extension, lower case
	MediaName              string // default: the file name without extension
	CoverFilePath          string // optional cover image
	CoverType              string // default: the cover's extension, lower case
	Procedure              string // task flow to run after upload
	ExpireTime             string // ISO 8601
	SourceContext          string // <= 250 characters, passed back in events
	SessionContext         string
	StorageRegion          string // storage region, e.g. ap-chongqing (not the API region)
	SubAppID               uint64
	ClassID                int64
	ConcurrentUploadNumber int // most parts in flight (adaptive below it); default Config.PartsInFlight

	// Expect, when set, is the media file's identity as the caller took
	// it: a file that differs (replaced, rewritten) is refused with
	// ErrFileChanged before anything is sent.
	Expect *fileid.ID
}

// Result is what CommitUpload returned.
type Result struct {
	FileID    string `json:"FileId"`
	MediaURL  string `json:"MediaUrl"`
	CoverURL  string `json:"CoverUrl,omitempty"`
	RequestID string `json:"RequestId"`
}

// maxSourceContext is the service's limit on SourceContext.
const maxSourceContext = 250

// normalize fills the derived fields and checks what can be checked locally.
func (r Request) normalize() (Request, error) {
	if r.MediaFilePath == "" {
		return r, fmt.Errorf("MediaFilePath: required")
	}
	if r.MediaType == "" {
		r.MediaType = extType(r.MediaFilePath)
		if r.MediaType == "" {
			return r, fmt.Errorf("MediaType: %s has no extension; set MediaType", r.MediaFilePath)
		}
	}
	if r.MediaName == "" {
		base := filepath.Base(r.MediaFilePath)
		r.MediaName = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if r.CoverFilePath != "" && r.CoverType == "" {
		r.CoverType = extType(r.CoverFilePath)
		if r.CoverType == "" {
			return r, fmt.Errorf("CoverType: %s has no extension; set CoverType", r.CoverFilePath)
		}
	}
	if n := utf8.RuneCountInString(r.SourceContext); n > maxSourceContext {
		return r, fmt.Errorf("SourceContext: %d characters, at most %d allowed", n, maxSourceContext)
	}
	if r.ConcurrentUploadNumber < 0 {
		return r, fmt.Errorf("ConcurrentUploadNumber: %d is negative", r.ConcurrentUploadNumber)
	}
	return r, nil
}

// extType returns a path's extension without the dot, lower case.
func extType(path string) string {
	return strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
}
