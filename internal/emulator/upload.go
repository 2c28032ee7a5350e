package emulator

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator/cos"
)

// Media and cover types VOD accepts for upload (lower case).
var (
	videoTypes     = setOf([]string{"wmv", "rm", "mov", "mpeg", "mp4", "3gp", "flv", "avi", "rmvb", "ts", "asf", "mpg", "webm", "mkv", "m3u8", "mpd", "wm", "asx", "ram", "mpe", "vob", "dat", "mp4v", "m4v", "f4v", "mxf", "qt", "ogg"})
	audioTypes     = setOf([]string{"mp3", "m4a", "flac", "ogg", "wav", "ra", "aac", "amr"})
	coverTypes     = setOf([]string{"jpg", "jpeg", "png", "gif", "bmp", "tiff", "tif", "ai", "cdr", "eps", "heif"})
	streamingTypes = setOf([]string{"m3u8", "mpd"})
)

const (
	maxSourceContext  = 250
	maxSessionContext = 1000
)

type tempCertificate struct {
	SecretId    string
	SecretKey   string
	Token       string
	ExpiredTime uint64
}

type applyUploadResponse struct {
	StorageBucket    string
	StorageRegion    string
	VodSessionKey    string
	MediaStoragePath string
	CoverStoragePath string `json:",omitempty"`
	TempCertificate  tempCertificate
}

func (e *Emulator) applyUpload(c *caller, body []byte) (any, *apiError) {
	var p vod.ApplyUploadRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	s, aerr := e.newSession(c.acct, &p)
	if aerr != nil {
		return nil, aerr
	}
	e.store.mu.Lock()
	e.store.data.Sessions[s.Key] = s
	e.store.temps[s.TempSecretID] = s.Key
	err := e.store.logLocked(journalRecord{Session: s})
	e.store.mu.Unlock()
	if err != nil {
		return nil, newAPIError("InternalError", "The session could not be stored.")
	}
	e.counters.applied()
	resp := applyUploadResponse{
		StorageBucket: s.Bucket, StorageRegion: s.Region, VodSessionKey: s.Key,
		MediaStoragePath: "/" + s.MediaKey,
		TempCertificate: tempCertificate{
			SecretId: s.TempSecretID, SecretKey: s.TempSecretKey, Token: s.TempToken,
			ExpiredTime: uint64(s.CertExpires.Unix()),
		},
	}
	if s.CoverKey != "" {
		resp.CoverStoragePath = "/" + s.CoverKey
	}
	return resp, nil
}

// newSession validates an ApplyUpload request and lays out its paths.
func (e *Emulator) newSession(a *account, p *vod.ApplyUploadRequestParams) (*session, *apiError) {
	now := e.now()
	s := &session{Account: a.SecretID, AppID: a.AppID, Created: now}
	steps := []func() *apiError{
		func() (aerr *apiError) { s.MediaType, s.CoverType, aerr = checkTypes(p); return },
		func() (aerr *apiError) { s.SubAppID, aerr = checkSubApp(a, p.SubAppId); return },
		func() (aerr *apiError) { s.ExpireTime, aerr = checkExpireTime(p.ExpireTime, now); return },
		func() (aerr *apiError) { s.Region, aerr = checkRegion(a, p.StorageRegion); return },
		func() *apiError { return checkContexts(p) },
		func() (aerr *apiError) { s.Procedure, s.ClassID, aerr = checkProcedureClass(a, p); return },
	}
	for _, step := range steps {
		if aerr := step(); aerr != nil {
			return nil, aerr
		}
	}
	s.MediaName, s.SourceContext = deref(p.MediaName), deref(p.SourceContext)
	s.SessionContext, s.ExtInfo = deref(p.SessionContext), deref(p.ExtInfo)
	s.Bucket = bucketName(s.AppID, s.SubAppID, s.Region)
	if aerr := e.layOut(s, p.MediaStoragePath); aerr != nil {
		return nil, aerr
	}
	lifetime := e.cfg.CertLifetime
	if l := e.faults.certLifetime(); l > 0 {
		lifetime = l
	}
	s.Key = randomString(48, alnum)
	s.TempSecretID = "AKID" + randomString(32, alnum)
	s.TempSecretKey = randomString(32, alnum)
	s.TempToken = randomString(96, alnum)
	s.CertExpires = now.Add(lifetime)
	s.Expires = now.Add(e.cfg.SessionLifetime)
	return s, nil
}

func checkTypes(p *vod.ApplyUploadRequestParams) (string, string, *apiError) {
	if p.MediaType == nil || *p.MediaType == "" {
		return "", "", newAPIError("MissingParameter", "The request is missing the required parameter `MediaType`.")
	}
	mt := strings.ToLower(*p.MediaType)
	if !videoTypes[mt] && !audioTypes[mt] {
		return "", "", newAPIError("InvalidParameterValue.MediaType", "invalid media type")
	}
	ct := strings.ToLower(deref(p.CoverType))
	if ct != "" && !coverTypes[ct] {
		return "", "", newAPIError("InvalidParameterValue.CoverType", "invalid cover type")
	}
	return mt, ct, nil
}

func checkSubApp(a *account, id *uint64) (uint64, *apiError) {
	if id == nil || *id == 0 || *id == a.AppID {
		return 0, nil
	}
	if !a.subApps[*id] {
		return 0, newAPIError("InvalidParameterValue.SubAppId", "The sub-application %d does not exist or is not enabled.", *id)
	}
	return *id, nil
}

func checkExpireTime(v *string, now time.Time) (string, *apiError) {
	if v == nil || *v == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return "", newAPIError("InvalidParameter.ExpireTime", "ExpireTime `%s` is not an ISO 8601 date and time (like 2030-01-02T15:04:05+08:00).", clipName(*v))
	}
	if !t.After(now) {
		return "", newAPIError("InvalidParameterValue.ExpireTime", "ExpireTime %s is in the past.", *v)
	}
	return *v, nil
}

func checkRegion(a *account, v *string) (string, *apiError) {
	if v == nil || *v == "" {
		return a.defaultRegion, nil
	}
	if !a.regions[*v] {
		return "", newAPIError("InvalidParameterValue.StorageRegion", "The storage region `%s` is not enabled for this application.", clipName(*v))
	}
	return *v, nil
}

func checkContexts(p *vod.ApplyUploadRequestParams) *apiError {
	if n := utf8.RuneCountInString(deref(p.SourceContext)); n > maxSourceContext {
		return newAPIError("InvalidParameterValue.SourceContext", "SourceContext has %d characters; at most %d are allowed.", n, maxSourceContext)
	}
	if n := utf8.RuneCountInString(deref(p.SessionContext)); n > maxSessionContext {
		return newAPIError("InvalidParameterValue.SessionContextTooLong", "SessionContext has %d characters; at most %d are allowed.", n, maxSessionContext)
	}
	return nil
}

func checkProcedureClass(a *account, p *vod.ApplyUploadRequestParams) (string, int64, *apiError) {
	proc := deref(p.Procedure)
	if proc != "" && !a.hasProcedure(proc) {
		return "", 0, newAPIError("ResourceNotFound", "The procedure (task flow template) `%s` does not exist.", clipName(proc))
	}
	var class int64
	if p.ClassId != nil {
		class = *p.ClassId
	}
	if !a.classes[class] {
		return "", 0, newAPIError("ResourceNotFound", "The class %d does not exist.", class)
	}
	return proc, class, nil
}

// layOut chooses the object keys of a session and the prefixes its
// temporary certificate may write.
func (e *Emulator) layOut(s *session, requested *string) *apiError {
	dir := randomString(16, lowerHex)
	if r := deref(requested); r != "" {
		if !strings.HasPrefix(r, "/") || path.Clean(r) != r || path.Dir(r) == "/" || strings.Contains(r, "..") {
			return newAPIError("InvalidParameterValue.MediaStoragePath", "MediaStoragePath `%s` must be a clean absolute path inside a folder, like /folder/name.mp4.", clipName(r))
		}
		s.MediaKey = r[1:]
		s.Prefixes = []string{s.MediaKey}
		if streamingTypes[s.MediaType] {
			s.Prefixes = []string{path.Dir(s.MediaKey) + "/"}
		}
	} else {
		mediaDir := dir + "/" + randomString(8, lowerHex) + "/"
		s.MediaKey = mediaDir + "f0." + s.MediaType
		s.Prefixes = []string{mediaDir}
	}
	if s.CoverType != "" {
		coverDir := dir + "/" + randomString(8, lowerHex) + "/"
		s.CoverKey = coverDir + "cover." + s.CoverType
		s.Prefixes = append(s.Prefixes, coverDir)
	}
	return nil
}

// bucketName is "<name>-<appid>", one bucket per application and region.
func bucketName(appID, subAppID uint64, region string) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d/%s", appID, subAppID, region)
	return fmt.Sprintf("%08xvod-%d", h.Sum32(), appID)
}

// commitUploadResponse always has CoverUrl, empty without a cover, like
// the service (clients read it unconditionally).
type commitUploadResponse struct {
	FileId   string
	MediaUrl string
	CoverUrl string
}

func (e *Emulator) commitUpload(c *caller, body []byte) (any, *apiError) {
	var p vod.CommitUploadRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	key := deref(p.VodSessionKey)
	if key == "" {
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `VodSessionKey`.")
	}
	s, aerr := e.liveSession(c.acct, key, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	if s.FileID != "" {
		return e.repeatCommit(s)
	}
	size, aerr := e.checkUploaded(s)
	if aerr != nil {
		return nil, aerr
	}
	return e.recordCommit(key, size)
}

// liveSession returns a copy of the caller's unexpired session.
func (e *Emulator) liveSession(a *account, key string, subApp *uint64) (session, *apiError) {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	s, ok := e.store.data.Sessions[key]
	bad := newAPIError("InvalidParameterValue.VodSessionKey", "The VodSessionKey is invalid or has expired.")
	if !ok || s.Account != a.SecretID || !e.now().Before(s.Expires) {
		return session{}, bad
	}
	if sub, _ := checkSubApp(a, subApp); sub != s.SubAppID {
		return session{}, bad
	}
	return *s, nil
}

func (e *Emulator) repeatCommit(s session) (any, *apiError) {
	if e.cfg.RepeatCommit == RepeatCommitError {
		return nil, newAPIError("InvalidParameterValue.VodSessionKey", "The VodSessionKey was already committed.")
	}
	e.counters.committed()
	e.store.mu.Lock()
	m := e.store.data.Media[s.FileID]
	e.store.mu.Unlock()
	if m == nil {
		return nil, newAPIError("InvalidParameterValue.VodSessionKey", "The media of this VodSessionKey was deleted.")
	}
	return e.commitResponse(m), nil
}

// checkUploaded stats the session's objects (without holding the store lock).
func (e *Emulator) checkUploaded(s session) (int64, *apiError) {
	info, err := e.cos.Stat(s.Bucket, s.MediaKey)
	if errors.Is(err, os.ErrNotExist) {
		return 0, newAPIError("ResourceNotFound", "The media file /%s was not uploaded.", s.MediaKey)
	}
	if err != nil {
		return 0, newAPIError("InternalError", "Checking the uploaded media failed.")
	}
	if s.CoverKey != "" {
		_, err := e.cos.Stat(s.Bucket, s.CoverKey)
		if errors.Is(err, os.ErrNotExist) {
			return 0, newAPIError("ResourceNotFound", "The cover file /%s was not uploaded.", s.CoverKey)
		}
		if err != nil {
			return 0, newAPIError("InternalError", "Checking the uploaded cover failed.")
		}
	}
	return info.Size, nil
}

func (e *Emulator) recordCommit(key string, size int64) (any, *apiError) {
	e.store.mu.Lock()
	s, ok := e.store.data.Sessions[key]
	if !ok {
		e.store.mu.Unlock()
		return nil, newAPIError("InvalidParameterValue.VodSessionKey", "The VodSessionKey is invalid or has expired.")
	}
	if s.FileID != "" { // a concurrent commit won
		snapshot := *s
		e.store.mu.Unlock()
		return e.repeatCommit(snapshot)
	}
	m := &MediaInfo{
		FileID: e.newFileIDLocked(), Name: s.MediaName, Type: s.MediaType,
		AppID: s.AppID, SubAppID: s.SubAppID, ClassID: s.ClassID, Procedure: s.Procedure,
		SourceContext: s.SourceContext, SessionContext: s.SessionContext, ExpireTime: s.ExpireTime,
		StorageRegion: s.Region, Bucket: s.Bucket, MediaKey: s.MediaKey, CoverKey: s.CoverKey,
		Size: size, Streaming: streamingTypes[s.MediaType], SessionKey: s.Key, Created: e.now(),
	}
	s.FileID = m.FileID
	e.store.data.Media[m.FileID] = m
	flow := e.commitFlowLocked(m)
	err := e.store.logLocked(journalRecord{Session: s, Media: m, flowRecord: flow})
	e.store.mu.Unlock()
	if err != nil {
		return nil, newAPIError("InternalError", "The media could not be stored.")
	}
	e.startFlow(flow)
	e.counters.committed()
	return e.commitResponse(m), nil
}

func (e *Emulator) newFileIDLocked() string {
	for {
		id := "5285890" + randomString(12, "0123456789")
		if _, dup := e.store.data.Media[id]; !dup {
			return id
		}
	}
}

func (e *Emulator) commitResponse(m *MediaInfo) commitUploadResponse {
	r := commitUploadResponse{FileId: m.FileID, MediaUrl: e.mediaURL(m.Bucket, m.MediaKey)}
	if m.CoverKey != "" {
		r.CoverUrl = e.mediaURL(m.Bucket, m.CoverKey)
	}
	return r
}

// mediaURL is where a committed object is served.
func (e *Emulator) mediaURL(bucket, key string) string {
	return e.scheme + "://" + e.Addr() + "/media/" + bucket + "/" + key
}

// grants adapts the session table to cos.Authorizer.
type grants struct{ e *Emulator }

// Grant returns the temporary certificate with that SecretId.
func (g grants) Grant(secretID string) (cos.Grant, bool) {
	st := g.e.store
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.data.Sessions[st.temps[secretID]]
	if !ok {
		return cos.Grant{}, false
	}
	return cos.Grant{
		SecretID: s.TempSecretID, SecretKey: s.TempSecretKey, Token: s.TempToken,
		Bucket: s.Bucket, Region: s.Region, Prefixes: append([]string(nil), s.Prefixes...),
		Expires: s.CertExpires,
	}, true
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
