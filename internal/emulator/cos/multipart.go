package cos

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vodwatchd/vodwatchd/internal/crc64x"
)

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

func (s *Server) initiateUpload(rq *request) error {
	u := uploadMeta{UploadID: randomHex(16), Bucket: rq.bucket, Key: rq.key, Initiated: s.now().UTC(),
		ContentType: contentType(rq.r), Meta: userMeta(rq.r.Header)}
	dir := s.uploadDir(u.UploadID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create upload dir: %w", err)
	}
	if err := s.writeJSONAtomic(filepath.Join(dir, "upload.json"), u); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	return writeXML(rq.w, initiateResult{Bucket: rq.bucket, Key: rq.key, UploadID: u.UploadID})
}

// upload finds the upload named by ?uploadId= and checks it belongs to the
// request's bucket and key.
func (s *Server) upload(rq *request) (uploadMeta, error) {
	id := rq.r.URL.Query().Get("uploadId")
	u, err := s.readUpload(id)
	if errors.Is(err, fs.ErrNotExist) {
		return uploadMeta{}, errNoSuchUpload()
	}
	if err != nil {
		return uploadMeta{}, err
	}
	if u.Bucket != rq.bucket || u.Key != rq.key {
		return uploadMeta{}, errNoSuchUpload()
	}
	return u, nil
}

func parsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPartNumber {
		return 0, errInvalidArgument("partNumber %q must be an integer from 1 to %d.", v, MaxPartNumber)
	}
	return n, nil
}

func (s *Server) uploadPart(rq *request) error {
	if rq.r.Header.Get("x-cos-copy-source") != "" {
		return errNotImplemented("UploadPart with x-cos-copy-source (copy)")
	}
	q := rq.r.URL.Query()
	if !q.Has("uploadId") || !q.Has("partNumber") {
		return errInvalidArgument("UploadPart needs both partNumber and uploadId.")
	}
	n, err := parsePartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	u, err := s.upload(rq)
	if err != nil {
		return err
	}
	b, err := s.receiveBody(rq)
	if err != nil {
		return err
	}
	p := partMeta{PartNumber: n, Size: b.size, ETag: b.etag(), CRC64: b.crc64, LastModified: s.now().UTC()}
	if err := s.installPart(u.UploadID, p, b.path); err != nil {
		return err
	}
	s.stats.part(u.UploadID, n)
	h := rq.w.Header()
	h.Set("ETag", p.ETag)
	h.Set("x-cos-hash-crc64ecma", strconv.FormatUint(p.CRC64, 10))
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// installPart moves a received part into its upload, replacing an earlier
// copy of the same part number.
func (s *Server) installPart(id string, p partMeta, tmp string) error {
	unlock := s.locks.lock("u/" + id)
	defer unlock()
	dir := s.uploadDir(id)
	if _, err := os.Stat(filepath.Join(dir, "upload.json")); err != nil {
		_ = os.Remove(tmp)
		return errNoSuchUpload() // aborted or completed while the body was received
	}
	var old partMeta
	oldErr := readJSON(filepath.Join(dir, partMetaName(p.PartNumber)), &old)
	p.Data = fmt.Sprintf("part-%05d.%s.data", p.PartNumber, randomHex(8))
	if err := os.Rename(tmp, filepath.Join(dir, p.Data)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("install part data: %w", err)
	}
	if err := s.writeJSONAtomic(filepath.Join(dir, partMetaName(p.PartNumber)), p); err != nil {
		_ = os.Remove(filepath.Join(dir, p.Data))
		return err
	}
	if oldErr == nil && old.Data != "" {
		_ = os.Remove(filepath.Join(dir, old.Data))
	}
	return nil
}

// completePart is one <Part> of a CompleteMultipartUpload body.
type completePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

type completeBody struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

// parseCompleteXML parses a CompleteMultipartUpload request body.
func parseCompleteXML(b []byte) ([]completePart, error) {
	var body completeBody
	if err := xml.Unmarshal(b, &body); err != nil {
		return nil, errMalformedXML("The XML you provided was not well-formed: %v", err)
	}
	if len(body.Parts) == 0 {
		return nil, errMalformedXML("The XML you provided lists no parts.")
	}
	if len(body.Parts) > MaxPartNumber {
		return nil, errMalformedXML("The XML you provided lists %d parts, more than %d.", len(body.Parts), MaxPartNumber)
	}
	return body.Parts, nil
}

// readXMLBody reads at most maxXMLBytes of request body.
func readXMLBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxXMLBytes {
		return nil, errMalformedXML("The XML you provided is larger than %d bytes.", maxXMLBytes)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxXMLBytes+1))
	if err != nil {
		return nil, bodyReadError(err, int64(len(b)), r.ContentLength)
	}
	if len(b) > maxXMLBytes {
		return nil, errMalformedXML("The XML you provided is larger than %d bytes.", maxXMLBytes)
	}
	return b, nil
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

func (s *Server) completeUpload(rq *request) error {
	raw, err := readXMLBody(rq.r)
	if err != nil {
		return err
	}
	list, err := parseCompleteXML(raw)
	if err != nil {
		return err
	}
	u, err := s.upload(rq)
	if err != nil {
		return err
	}
	unlock := s.locks.lock("u/" + u.UploadID)
	defer unlock()
	m, err := s.assemble(u, list)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(s.uploadDir(u.UploadID)); err != nil {
		return fmt.Errorf("remove finished upload: %w", err)
	}
	rq.w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(m.CRC64, 10))
	return writeXML(rq.w, completeResult{Location: rq.r.Host + "/" + rq.key,
		Bucket: rq.bucket, Key: rq.key, ETag: m.ETag})
}

// checkPartList validates the client's part list against the stored parts.
func checkPartList(list []completePart, have map[int]partMeta) ([]partMeta, error) {
	out := make([]partMeta, 0, len(list))
	for i, cp := range list {
		if i > 0 && cp.PartNumber <= list[i-1].PartNumber {
			return nil, cosErr(http.StatusBadRequest, "InvalidPartOrder",
				"The list of parts was not in ascending order (part %d after %d).", cp.PartNumber, list[i-1].PartNumber)
		}
		p, ok := have[cp.PartNumber]
		if !ok || strings.Trim(cp.ETag, `" `) != strings.Trim(p.ETag, `"`) {
			return nil, cosErr(http.StatusBadRequest, "InvalidPart",
				"Part %d could not be found or its ETag does not match.", cp.PartNumber)
		}
		out = append(out, p)
	}
	for i, p := range out[:len(out)-1] {
		if p.Size < MinPartSize {
			return nil, cosErr(http.StatusBadRequest, "EntityTooSmall",
				"Part %d (list position %d) is %d bytes; every part but the last must be at least %d bytes.",
				p.PartNumber, i+1, p.Size, MinPartSize)
		}
	}
	return out, nil
}

// assemble makes the listed parts the final object. The part files are
// moved, not copied, into the object's storage and the object's CRC-64 is
// combined from the parts' CRCs (computed when each part arrived), so
// Complete costs O(parts), not O(bytes), as on COS. The caller holds the
// upload's lock.
func (s *Server) assemble(u uploadMeta, list []completePart) (objectMeta, error) {
	if _, err := os.Stat(filepath.Join(s.uploadDir(u.UploadID), "upload.json")); err != nil {
		return objectMeta{}, errNoSuchUpload()
	}
	have, err := s.readParts(u.UploadID)
	if err != nil {
		return objectMeta{}, err
	}
	parts, err := checkPartList(list, have)
	if err != nil {
		return objectMeta{}, err
	}
	srcs, size, crc, err := s.partSources(u.UploadID, parts)
	if err != nil {
		return objectMeta{}, err
	}
	m := objectMeta{Key: u.Key, Size: size, ETag: multipartETag(parts), CRC64: crc,
		ContentType: u.ContentType, ModTime: s.now().UTC(), Meta: u.Meta}
	if err := s.installObject(u.Bucket, m, srcs); err != nil {
		return objectMeta{}, err
	}
	return m, nil
}

// partSources checks that each part's data file holds the bytes its
// metadata says and returns the files in order with the object's size and
// combined CRC-64.
func (s *Server) partSources(id string, parts []partMeta) (srcs []dataSource, size int64, crc uint64, err error) {
	srcs = make([]dataSource, 0, len(parts))
	for _, p := range parts {
		path := filepath.Join(s.uploadDir(id), p.Data)
		fi, err := os.Stat(path)
		if err == nil && fi.Size() != p.Size {
			err = fmt.Errorf("part %d holds %d bytes, metadata says %d", p.PartNumber, fi.Size(), p.Size)
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("assemble part %d: %w", p.PartNumber, err)
		}
		srcs = append(srcs, dataSource{Path: path, Size: p.Size})
		size += p.Size
		crc = crc64x.Combine(crc, p.CRC64, p.Size)
	}
	return srcs, size, crc, nil
}

// multipartETag is the S3-style ETag: MD5 of the parts' binary MD5s, "-N".
func multipartETag(parts []partMeta) string {
	h := md5.New()
	for _, p := range parts {
		b, _ := hex.DecodeString(strings.Trim(p.ETag, `"`))
		h.Write(b)
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(parts))
}

func (s *Server) abortUpload(rq *request) error {
	u, err := s.upload(rq)
	if err != nil {
		return err
	}
	unlock := s.locks.lock("u/" + u.UploadID)
	defer unlock()
	if err := os.RemoveAll(s.uploadDir(u.UploadID)); err != nil {
		return fmt.Errorf("remove aborted upload: %w", err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type xmlPart struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

type listPartsResult struct {
	XMLName              xml.Name  `xml:"ListPartsResult"`
	Bucket               string    `xml:"Bucket"`
	Key                  string    `xml:"Key"`
	UploadID             string    `xml:"UploadId"`
	StorageClass         string    `xml:"StorageClass"`
	PartNumberMarker     int       `xml:"PartNumberMarker"`
	NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
	MaxParts             int       `xml:"MaxParts"`
	IsTruncated          bool      `xml:"IsTruncated"`
	Parts                []xmlPart `xml:"Part"`
}

func intParam(q map[string][]string, name string, def, max int) (int, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 0 || n > max {
		return 0, errInvalidArgument("%s %q must be an integer from 0 to %d.", name, vs[0], max)
	}
	return n, nil
}

func (s *Server) listParts(rq *request) error {
	q := rq.r.URL.Query()
	maxParts, err := intParam(q, "max-parts", 1000, 1000)
	if err != nil {
		return err
	}
	marker, err := intParam(q, "part-number-marker", 0, MaxPartNumber)
	if err != nil {
		return err
	}
	u, err := s.upload(rq)
	if err != nil {
		return err
	}
	have, err := s.readParts(u.UploadID)
	if err != nil {
		return err
	}
	nums := make([]int, 0, len(have))
	for n := range have {
		if n > marker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	res := listPartsResult{Bucket: rq.bucket, Key: rq.key, UploadID: u.UploadID, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: maxParts}
	if len(nums) > maxParts {
		nums, res.IsTruncated = nums[:maxParts], true
	}
	for _, n := range nums {
		p := have[n]
		res.Parts = append(res.Parts, xmlPart{PartNumber: n, LastModified: isoTime(p.LastModified), ETag: p.ETag, Size: p.Size})
		res.NextPartNumberMarker = n
	}
	return writeXML(rq.w, res)
}

type xmlUpload struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

type listUploadsResult struct {
	XMLName     xml.Name    `xml:"ListMultipartUploadsResult"`
	Bucket      string      `xml:"Bucket"`
	Prefix      string      `xml:"Prefix"`
	KeyMarker   string      `xml:"KeyMarker"`
	MaxUploads  int         `xml:"MaxUploads"`
	IsTruncated bool        `xml:"IsTruncated"`
	NextKey     string      `xml:"NextKeyMarker,omitempty"`
	Uploads     []xmlUpload `xml:"Upload"`
}

func (s *Server) listUploads(rq *request) error {
	q := rq.r.URL.Query()
	maxUploads, err := intParam(q, "max-uploads", 1000, 1000)
	if err != nil {
		return err
	}
	prefix, marker := q.Get("prefix"), q.Get("key-marker")
	all, err := s.uploadsOf(rq.bucket)
	if err != nil {
		return err
	}
	res := listUploadsResult{Bucket: rq.bucket, Prefix: prefix, KeyMarker: marker, MaxUploads: maxUploads}
	for _, u := range all {
		if !strings.HasPrefix(u.Key, prefix) || u.Key <= marker && marker != "" || !keyAllowed(rq.grant.Prefixes, u.Key) {
			continue
		}
		if len(res.Uploads) == maxUploads {
			res.IsTruncated = true
			break
		}
		res.Uploads = append(res.Uploads, xmlUpload{Key: u.Key, UploadID: u.UploadID, StorageClass: "STANDARD",
			Initiated: isoTime(u.Initiated)})
		res.NextKey = u.Key
	}
	return writeXML(rq.w, res)
}

// uploadsOf lists a bucket's in-progress uploads sorted by key then time.
func (s *Server) uploadsOf(bucket string) ([]uploadMeta, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, uploadsDir))
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	var out []uploadMeta
	for _, e := range entries {
		u, err := s.readUpload(e.Name())
		if err != nil || u.Bucket != bucket {
			continue // aborted concurrently, or not an upload dir
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Initiated.Before(out[j].Initiated)
	})
	return out, nil
}

func writeXML(w http.ResponseWriter, v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode XML answer: %w", err)
	}
	out := append([]byte(xml.Header), b...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}
