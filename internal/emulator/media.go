package emulator

import (
	"errors"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// contentTypes are the media types served at MediaUrl, by extension.
var contentTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/mp4", ".mp4v": "video/mp4", ".m4s": "video/iso.segment",
	".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
	".ts": "video/mp2t", ".flv": "video/x-flv", ".mov": "video/quicktime", ".qt": "video/quicktime",
	".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
	".wmv": "video/x-ms-wmv", ".asf": "video/x-ms-asf", ".3gp": "video/3gpp",
	".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".ogg": "audio/ogg",
	".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".flac": "audio/flac",
	".wav": "audio/wav", ".amr": "audio/amr",
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff", ".heif": "image/heif",
	".vtt": "text/vtt", ".key": "application/octet-stream", ".aes": "application/octet-stream",
}

func contentTypeOf(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// serveMedia serves GET/HEAD /media/<bucket>/<key> for committed media
// (for HLS/DASH, everything under the manifest's folder).
func (e *Emulator) serveMedia(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/media/"), "/")
	if ok && e.serveOutput(w, r, bucket, key) {
		return
	}
	if !ok || key == "" || !e.served(bucket, key) {
		http.NotFound(w, r)
		return
	}
	f, info, err := e.cos.Open(bucket, key)
	if errors.Is(err, os.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", contentTypeOf(key))
	if info.ETag != "" {
		w.Header().Set("ETag", info.ETag)
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	http.ServeContent(w, r, path.Base(key), info.ModTime, f)
}

// served reports whether key of bucket belongs to committed media.
func (e *Emulator) served(bucket, key string) bool {
	if path.Clean("/"+key) != "/"+key {
		return false
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	for _, m := range e.store.data.Media {
		if m.Bucket != bucket {
			continue
		}
		if key == m.MediaKey || key == m.CoverKey {
			return true
		}
		if m.Streaming && strings.HasPrefix(key, path.Dir(m.MediaKey)+"/") {
			return true
		}
	}
	return false
}

// Media returns the committed media, oldest first, with current URLs.
func (e *Emulator) Media() []MediaInfo {
	e.store.mu.Lock()
	out := make([]MediaInfo, 0, len(e.store.data.Media))
	for _, m := range e.store.data.Media {
		out = append(out, *m)
	}
	e.store.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].FileID < out[j].FileID
	})
	for i := range out {
		e.fillURLs(&out[i])
	}
	return out
}

func (e *Emulator) fillURLs(m *MediaInfo) {
	m.MediaURL = e.mediaURL(m.Bucket, m.MediaKey)
	if m.CoverKey != "" {
		m.CoverURL = e.mediaURL(m.Bucket, m.CoverKey)
	}
}

// mediaInfoJSON is the subset of the API's MediaInfo the emulator fills.
type mediaInfoJSON struct {
	FileId    string
	BasicInfo basicInfoJSON
	MetaData  metaDataJSON
	mediaOutputs
}

type basicInfoJSON struct {
	Name, Description, CreateTime, UpdateTime, ExpireTime string
	ClassId                                               int64
	ClassName, ClassPath, CoverUrl, Type, MediaUrl        string
	SourceInfo                                            sourceInfoJSON
	StorageRegion, StoragePath                            string
	TagSet                                                []string
	Vid, Category, Status, StorageClass                   string
}

type sourceInfoJSON struct{ SourceType, SourceContext string }

type metaDataJSON struct {
	Size      int64
	Container string
}

func (e *Emulator) toJSON(m MediaInfo) mediaInfoJSON {
	e.fillURLs(&m)
	created := m.Created.UTC().Format(time.RFC3339)
	expire := m.ExpireTime
	if expire == "" {
		expire = "9999-12-31T23:59:59Z"
	}
	j := mediaInfoJSON{
		FileId: m.FileID,
		BasicInfo: basicInfoJSON{
			Name: m.Name, CreateTime: created, UpdateTime: created, ExpireTime: expire,
			ClassId: m.ClassID, ClassName: "", ClassPath: "", CoverUrl: m.CoverURL,
			Type: m.Type, MediaUrl: m.MediaURL,
			SourceInfo:    sourceInfoJSON{SourceType: "Upload", SourceContext: m.SourceContext},
			StorageRegion: m.StorageRegion, StoragePath: "/" + m.MediaKey, TagSet: []string{},
			Category: categoryOf(m.Type), Status: "Normal", StorageClass: "STANDARD",
		},
		MetaData: metaDataJSON{Size: m.Size, Container: m.Type},
	}
	e.addOutputs(&j, m)
	return j
}

func categoryOf(mediaType string) string {
	if audioTypes[mediaType] && !videoTypes[mediaType] {
		return "Audio"
	}
	return "Video"
}

// visible reports whether the caller's application owns m.
func visible(a *account, subApp uint64, m *MediaInfo) bool {
	return m.AppID == a.AppID && m.SubAppID == subApp
}

func (e *Emulator) describeMediaInfos(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeMediaInfosRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	if len(p.FileIds) == 0 {
		return nil, newAPIError("InvalidParameterValue.FileIdsEmpty", "FileIds must name at least one file.")
	}
	if len(p.FileIds) > 20 {
		return nil, newAPIError("InvalidParameterValue.FileIdsTooMany", "FileIds names %d files; at most 20 are allowed.", len(p.FileIds))
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	set, missing := []mediaInfoJSON{}, []string{}
	e.store.mu.Lock()
	var found []MediaInfo
	for _, id := range p.FileIds {
		m, ok := e.store.data.Media[deref(id)]
		if ok && visible(c.acct, sub, m) {
			found = append(found, *m)
		} else {
			missing = append(missing, deref(id))
		}
	}
	e.store.mu.Unlock()
	for _, m := range found {
		set = append(set, e.toJSON(m))
	}
	return map[string]any{"MediaInfoSet": set, "NotExistFileIdSet": missing}, nil
}

func (e *Emulator) deleteMedia(c *caller, body []byte) (any, *apiError) {
	var p vod.DeleteMediaRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	id := deref(p.FileId)
	if id == "" {
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `FileId`.")
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	m, ok := e.store.data.Media[id]
	if !ok || !visible(c.acct, sub, m) {
		return nil, newAPIError("ResourceNotFound.FileNotExist", "The file %s does not exist.", clipName(id))
	}
	delete(e.store.data.Media, id)
	if err := e.store.logLocked(journalRecord{DeleteMedia: id}); err != nil {
		return nil, newAPIError("InternalError", "The deletion could not be stored.")
	}
	return struct{}{}, nil
}
