package cos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// On-disk layout under the data dir:
//
//	objects/<bucket>/<sha256(key)>.json          object metadata (names its data files)
//	objects/<bucket>/<sha256(key)>.<rand>.data   object bytes (PutObject)
//	objects/<bucket>/<sha256(key)>.<rand>.<n>.data  part n of a completed multipart object
//	uploads/<uploadId>/upload.json               multipart upload metadata
//	uploads/<uploadId>/part-<n>.json             part metadata (names its data file)
//	uploads/<uploadId>/part-<n>.<rand>.data      part bytes
//	tmp/                                         bodies being received
//
// Metadata files are replaced atomically (temp file + rename), so a file is
// either the old or the new version; a data file is only deleted after the
// metadata naming it has been replaced.
const (
	objectsDir = "objects"
	uploadsDir = "uploads"
	tmpDir     = "tmp"
)

// objectMeta is an object's JSON sidecar.
type objectMeta struct {
	Key         string            `json:"key"`
	Data        string            `json:"data"`            // data file name, same folder (one-file objects)
	Parts       []dataPart        `json:"parts,omitempty"` // data files in order (multipart objects; Data is then "")
	Size        int64             `json:"size"`
	ETag        string            `json:"etag"`
	CRC64       uint64            `json:"crc64"`
	ContentType string            `json:"content_type"`
	ModTime     time.Time         `json:"mod_time"`
	Meta        map[string]string `json:"meta,omitempty"` // x-cos-meta-* (lower-case names)
}

func (m objectMeta) info() ObjectInfo {
	return ObjectInfo{Size: m.Size, ETag: m.ETag, CRC64: m.CRC64, ContentType: m.ContentType, ModTime: m.ModTime}
}

// files lists the object's data files in order.
func (m objectMeta) files() []dataPart {
	if len(m.Parts) > 0 {
		return m.Parts
	}
	if m.Data == "" {
		return nil
	}
	return []dataPart{{Data: m.Data, Size: m.Size}}
}

// uploadMeta is a multipart upload's JSON sidecar.
type uploadMeta struct {
	UploadID    string            `json:"upload_id"`
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Initiated   time.Time         `json:"initiated"`
	ContentType string            `json:"content_type"`
	Meta        map[string]string `json:"meta,omitempty"`
}

// partMeta is one uploaded part's JSON sidecar.
type partMeta struct {
	PartNumber   int       `json:"part_number"`
	Data         string    `json:"data"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"` // quoted hex MD5
	CRC64        uint64    `json:"crc64"`
	LastModified time.Time `json:"last_modified"`
}

var (
	uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	bucketRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$`)
)

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (s *Server) bucketDir(bucket string) string {
	return filepath.Join(s.dir, objectsDir, bucket)
}

func (s *Server) objectMetaPath(bucket, key string) string {
	return filepath.Join(s.bucketDir(bucket), keyHash(key)+".json")
}

func (s *Server) uploadDir(id string) string { return filepath.Join(s.dir, uploadsDir, id) }

func partMetaName(n int) string { return fmt.Sprintf("part-%05d.json", n) }

// writeJSONAtomic writes v to path via a temp file and a rename.
func (s *Server) writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := filepath.Join(s.dir, tmpDir, "meta-"+randomHex(8))
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("install %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func (s *Server) readObjectMeta(bucket, key string) (objectMeta, error) {
	if !bucketRE.MatchString(bucket) {
		return objectMeta{}, fs.ErrNotExist
	}
	var m objectMeta
	if err := readJSON(s.objectMetaPath(bucket, key), &m); err != nil {
		return objectMeta{}, err
	}
	if m.Key != key {
		return objectMeta{}, fmt.Errorf("object metadata for %q names key %q", key, m.Key)
	}
	return m, nil
}

func (s *Server) readUpload(id string) (uploadMeta, error) {
	if !uploadIDRE.MatchString(id) {
		return uploadMeta{}, fs.ErrNotExist
	}
	var u uploadMeta
	err := readJSON(filepath.Join(s.uploadDir(id), "upload.json"), &u)
	return u, err
}

// readParts returns the parts of an upload keyed by part number.
func (s *Server) readParts(id string) (map[int]partMeta, error) {
	names, err := filepath.Glob(filepath.Join(s.uploadDir(id), "part-*.json"))
	if err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", id, err)
	}
	parts := make(map[int]partMeta, len(names))
	for _, n := range names {
		var p partMeta
		if err := readJSON(n, &p); err != nil {
			return nil, err
		}
		parts[p.PartNumber] = p
	}
	return parts, nil
}

// dataSource is a file that becomes one of an object's data files.
type dataSource struct {
	Path string
	Size int64
}

// installObject moves srcs (renames, no copy) into place as the data of
// bucket/key, then swaps in the metadata and removes the data of the object
// it replaces. On error every source is back where it was.
func (s *Server) installObject(bucket string, m objectMeta, srcs []dataSource) error {
	dir := s.bucketDir(bucket)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create bucket dir: %w", err)
	}
	base := keyHash(m.Key) + "." + randomHex(8)
	m.Data, m.Parts = "", nil
	if len(srcs) == 1 {
		m.Data = base + ".data"
	} else {
		for i, src := range srcs {
			m.Parts = append(m.Parts, dataPart{Data: fmt.Sprintf("%s.%05d.data", base, i+1), Size: src.Size})
		}
	}
	files := m.files()
	unlock := s.locks.lock("o/" + bucket + "/" + m.Key)
	defer unlock()
	old, oldErr := s.readObjectMeta(bucket, m.Key)
	for i, src := range srcs {
		if err := os.Rename(src.Path, filepath.Join(dir, files[i].Data)); err != nil {
			moveBack(dir, files[:i], srcs)
			return fmt.Errorf("install object data: %w", err)
		}
	}
	if err := s.writeJSONAtomic(s.objectMetaPath(bucket, m.Key), m); err != nil {
		moveBack(dir, files, srcs)
		return err
	}
	if oldErr == nil {
		s.removeData(bucket, old)
	}
	return nil
}

// moveBack undoes the renames of installObject (best effort).
func moveBack(dir string, moved []dataPart, srcs []dataSource) {
	for i, p := range moved {
		_ = os.Rename(filepath.Join(dir, p.Data), srcs[i].Path)
	}
}

// removeData deletes an object version's data files, now or, when readers
// still have it open, when the last one closes. The caller holds the
// object's lock and has already replaced or removed its metadata.
func (s *Server) removeData(bucket string, m objectMeta) {
	files := m.files()
	if len(files) == 0 {
		return
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(s.bucketDir(bucket), f.Data)
	}
	s.pins.remove(paths[0], paths)
}

// Stat returns an object's info, or an error wrapping os.ErrNotExist.
func (s *Server) Stat(bucket, key string) (ObjectInfo, error) {
	m, err := s.readObjectMeta(bucket, key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	return m.info(), nil
}

// Open opens an object for reading (a multipart object reads across its
// parts' files); the caller closes the reader. A reader keeps reading the
// version it opened even if the object is overwritten or deleted meanwhile.
func (s *Server) Open(bucket, key string) (io.ReadSeekCloser, ObjectInfo, error) {
	r, m, err := s.openObject(bucket, key)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("open %s/%s: %w", bucket, key, err)
	}
	return r, m.info(), nil
}

func (s *Server) openObject(bucket, key string) (*multiReader, objectMeta, error) {
	unlock := s.locks.lock("o/" + bucket + "/" + key)
	defer unlock()
	m, err := s.readObjectMeta(bucket, key)
	if err != nil {
		return nil, objectMeta{}, err
	}
	dir := s.bucketDir(bucket)
	files := m.files()
	if len(files) == 0 {
		return newMultiReader(dir, nil, nil, nil), m, nil
	}
	var sum int64
	for _, f := range files {
		sum += f.Size
	}
	if sum != m.Size {
		return nil, objectMeta{}, fmt.Errorf("object metadata: data files hold %d bytes, size is %d", sum, m.Size)
	}
	first, err := os.Open(filepath.Join(dir, files[0].Data))
	if err != nil {
		return nil, objectMeta{}, err
	}
	release := s.pins.hold(filepath.Join(dir, files[0].Data))
	return newMultiReader(dir, files, first, release), m, nil
}

func (s *Server) deleteObjectFiles(bucket, key string) error {
	unlock := s.locks.lock("o/" + bucket + "/" + key)
	defer unlock()
	m, err := s.readObjectMeta(bucket, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(s.objectMetaPath(bucket, key)); err != nil {
		return fmt.Errorf("delete object metadata: %w", err)
	}
	s.removeData(bucket, m)
	return nil
}

// keyLocks hands out one mutex per name, dropping it when nobody holds it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (l *keyLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	k := l.m[name]
	if k == nil {
		k = &keyLock{}
		l.m[name] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
}
