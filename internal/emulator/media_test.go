package emulator_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

const playlist = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-KEY:METHOD=AES-128,URI="keys/k.key"
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.0,
seg/0.m4s
#EXTINF:4.0,
seg/1.m4s
#EXT-X-ENDLIST
`

func TestHLSBundle(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	pr, err := vc.ParseStreamingManifest(&vod.ParseStreamingManifestRequest{
		MediaManifestContent: common.StringPtr(playlist), ManifestType: common.StringPtr("m3u8"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, s := range pr.Response.MediaSegmentSet {
		segs = append(segs, *s)
	}
	want := []string{"keys/k.key", "init.mp4", "seg/0.m4s", "seg/1.m4s"}
	if !slices.Equal(segs, want) {
		t.Fatalf("segments %q, want %q", segs, want)
	}
	ap := apply(t, vc, func(r *vod.ApplyUploadRequest) { r.MediaType = common.StringPtr("m3u8") })
	cc := cosClient(t, e, ap)
	dir := path.Dir((*ap.MediaStoragePath)[1:])
	files := map[string][]byte{}
	for i, rel := range want {
		files[rel] = randomBytes(1000+i, uint64(i))
		putObject(t, cc, dir+"/"+rel, files[rel])
	}
	// The commit needs the manifest itself.
	if _, err := vc.CommitUpload(&vod.CommitUploadRequest{VodSessionKey: ap.VodSessionKey}); codeOf(err) != "ResourceNotFound" {
		t.Fatalf("commit without manifest: %v", err)
	}
	putObject(t, cc, (*ap.MediaStoragePath)[1:], []byte(playlist))
	cm := commit(t, vc, *ap.VodSessionKey)
	r, body := fetch(t, *cm.MediaUrl, nil)
	if r.StatusCode != 200 || string(body) != playlist || r.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Fatalf("manifest: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	base := strings.TrimSuffix(*cm.MediaUrl, path.Base(*cm.MediaUrl))
	for rel, data := range files {
		r, body := fetch(t, base+rel, nil)
		if r.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("%s: %d", rel, r.StatusCode)
		}
	}
	if r, _ := fetch(t, base+"seg/0.m4s", nil); r.Header.Get("Content-Type") != "video/iso.segment" {
		t.Fatalf("m4s content type %s", r.Header.Get("Content-Type"))
	}
}

func TestParseStreamingManifestDASHAndErrors(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	mpd := `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period><AdaptationSet>
<Representation id="v"><BaseURL>video/</BaseURL><SegmentList><Initialization sourceURL="v/init.mp4"/>
<SegmentURL media="v/1.m4s"/><SegmentURL media="v/2.m4s"/></SegmentList></Representation></AdaptationSet></Period></MPD>`
	pr, err := vc.ParseStreamingManifest(&vod.ParseStreamingManifestRequest{MediaManifestContent: &mpd, ManifestType: common.StringPtr("mpd")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"video/v/init.mp4", "video/v/1.m4s", "video/v/2.m4s"}
	if got := common.StringValues(pr.Response.MediaSegmentSet); !slices.Equal(got, want) {
		t.Fatalf("segments %q, want %q (joined with their BaseURL)", got, want)
	}
	for _, tc := range []struct{ content, typ, code string }{
		{"", "m3u8", "MissingParameter"},
		{"not a playlist", "m3u8", "InvalidParameterValue.MediaManifestContent"},
		{"<html/>", "mpd", "InvalidParameterValue.MediaManifestContent"},
		{"#EXTM3U", "flv", "InvalidParameterValue.ManifestType"},
	} {
		_, err := vc.ParseStreamingManifest(&vod.ParseStreamingManifestRequest{MediaManifestContent: &tc.content, ManifestType: &tc.typ})
		if codeOf(err) != tc.code {
			t.Errorf("%q/%s: %v, want %s", tc.content, tc.typ, err, tc.code)
		}
	}
}

// TestParseStreamingManifestFFmpegDASH: the DASH that ffmpeg writes by
// default (SegmentTemplate with $Number%05d$, $Time$, $Bandwidth$,
// SegmentTimeline; and SegmentList) lists exactly the files of its bundle,
// like a player would fetch them.
func TestParseStreamingManifestFFmpegDASH(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	for _, dir := range []string{"dash_number", "dash_time", "dash_timeline", "dash_list"} {
		t.Run(dir, func(t *testing.T) {
			folder := filepath.Join("..", "manifest", "testdata", dir)
			mpd, err := os.ReadFile(filepath.Join(folder, "manifest.mpd"))
			if err != nil {
				t.Fatal(err)
			}
			pr, err := vc.ParseStreamingManifest(&vod.ParseStreamingManifestRequest{MediaManifestContent: common.StringPtr(string(mpd)), ManifestType: common.StringPtr("mpd")})
			if err != nil {
				t.Fatal(err)
			}
			got := common.StringValues(pr.Response.MediaSegmentSet)
			entries, err := os.ReadDir(folder)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, de := range entries {
				if de.Name() != "manifest.mpd" {
					want = append(want, de.Name())
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("segments %q, want the bundle's files %q", got, want)
			}
		})
	}
}

func TestDescribeSearchDelete(t *testing.T) {
	clock := newClock()
	e := emulatortest.Start(t, func(c *emulator.Config) { c.Now = clock.Now })
	vc := defaultClient(t, e)
	var ids []string
	t0 := clock.Now()
	for i, name := range []string{"news-a", "news-b", "sport-c"} {
		ap := apply(t, vc, func(r *vod.ApplyUploadRequest) {
			r.MediaName, r.SourceContext = common.StringPtr(name), common.StringPtr("ctx-"+name)
			if i == 2 {
				r.ClassId = common.Int64Ptr(12)
			}
		})
		putObject(t, cosClient(t, e, ap), (*ap.MediaStoragePath)[1:], []byte(name))
		ids = append(ids, *commit(t, vc, *ap.VodSessionKey).FileId)
		clock.Add(time.Minute)
	}
	d, err := vc.DescribeMediaInfos(&vod.DescribeMediaInfosRequest{FileIds: common.StringPtrs([]string{ids[0], "nope"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Response.MediaInfoSet) != 1 || *d.Response.MediaInfoSet[0].BasicInfo.Name != "news-a" ||
		*d.Response.MediaInfoSet[0].BasicInfo.SourceInfo.SourceContext != "ctx-news-a" || *d.Response.NotExistFileIdSet[0] != "nope" {
		t.Fatalf("describe %s", d.ToJsonString())
	}
	if _, err := vc.DescribeMediaInfos(vod.NewDescribeMediaInfosRequest()); codeOf(err) != "InvalidParameterValue.FileIdsEmpty" {
		t.Fatalf("empty FileIds: %v", err)
	}
	search := func(set func(*vod.SearchMediaRequest)) []string {
		t.Helper()
		req := vod.NewSearchMediaRequest()
		set(req)
		resp, err := vc.SearchMedia(req)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range resp.Response.MediaInfoSet {
			names = append(names, *m.BasicInfo.Name)
		}
		return names
	}
	tests := []struct {
		name string
		set  func(*vod.SearchMediaRequest)
		want []string
	}{
		{"all, newest first", func(*vod.SearchMediaRequest) {}, []string{"sport-c", "news-b", "news-a"}},
		{"by name", func(r *vod.SearchMediaRequest) { r.Names = common.StringPtrs([]string{"news-b"}) }, []string{"news-b"}},
		{"by prefix, oldest first", func(r *vod.SearchMediaRequest) {
			r.NamePrefixes = common.StringPtrs([]string{"news"})
			r.Sort = &vod.SortBy{Field: common.StringPtr("CreateTime"), Order: common.StringPtr("Asc")}
		}, []string{"news-a", "news-b"}},
		{"by file id", func(r *vod.SearchMediaRequest) { r.FileIds = common.StringPtrs([]string{ids[2]}) }, []string{"sport-c"}},
		{"by class", func(r *vod.SearchMediaRequest) { r.ClassIds = []*int64{common.Int64Ptr(12)} }, []string{"sport-c"}},
		{"by creation time", func(r *vod.SearchMediaRequest) {
			r.CreateTime = &vod.TimeRange{After: common.StringPtr(t0.Add(30 * time.Second).UTC().Format(time.RFC3339)), Before: common.StringPtr(t0.Add(90 * time.Second).UTC().Format(time.RFC3339))}
		}, []string{"news-b"}},
		{"by source type", func(r *vod.SearchMediaRequest) { r.SourceTypes = common.StringPtrs([]string{"Record"}) }, nil},
		{"limit", func(r *vod.SearchMediaRequest) { r.Limit = common.Uint64Ptr(1) }, []string{"sport-c"}},
	}
	for _, tc := range tests {
		if got := search(tc.set); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := vc.DeleteMedia(&vod.DeleteMediaRequest{FileId: &ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.DeleteMedia(&vod.DeleteMediaRequest{FileId: &ids[0]}); codeOf(err) != "ResourceNotFound.FileNotExist" {
		t.Fatalf("second delete: %v", err)
	}
	if r, _ := fetch(t, e.Scheme()+"://"+e.Addr()+"/media/x/y", nil); r.StatusCode != 404 {
		t.Fatalf("unknown media: %d", r.StatusCode)
	}
	if n := len(e.Media()); n != 2 {
		t.Fatalf("%d media after delete", n)
	}
}

// TestRestartContinuesMultipart: sessions, certificates, multipart uploads
// and media survive a restart on the same data directory.
func TestRestartContinuesMultipart(t *testing.T) {
	dir := t.TempDir()
	cfg := emulator.Config{DataDir: dir, SecretID: emulatortest.SecretID, SecretKey: emulatortest.SecretKey}
	e1, err := emulator.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	vc := defaultClient(t, e1)
	ap := apply(t, vc, nil)
	key := (*ap.MediaStoragePath)[1:]
	data := randomBytes(2<<20+10, 9)
	init, _, err := cosClient(t, e1, ap).Object.InitiateMultipartUpload(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := cosClient(t, e1, ap).Object.UploadPart(context.Background(), key, init.UploadID, 1, bytes.NewReader(data[:1<<20]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startOn(t, cfg)
	cc := cosClient(t, e2, ap) // the certificate from before the restart
	opt := &cossdk.CompleteMultipartUploadOptions{}
	opt.Parts = append(opt.Parts, cossdk.Object{PartNumber: 1, ETag: r1.Header.Get("ETag")})
	for i, p := range [][]byte{data[1<<20 : 2<<20], data[2<<20:]} {
		r, err := cc.Object.UploadPart(context.Background(), key, init.UploadID, i+2, bytes.NewReader(p), nil)
		if err != nil {
			t.Fatalf("part %d after restart: %v", i+2, err)
		}
		opt.Parts = append(opt.Parts, cossdk.Object{PartNumber: i + 2, ETag: r.Header.Get("ETag")})
	}
	if _, _, err := cc.Object.CompleteMultipartUpload(context.Background(), key, init.UploadID, opt); err != nil {
		t.Fatal(err)
	}
	vc2 := defaultClient(t, e2)
	cm := commit(t, vc2, *ap.VodSessionKey)
	if _, body := fetch(t, *cm.MediaUrl, nil); !bytes.Equal(body, data) {
		t.Fatal("media after restart differs")
	}
	e2.Close()
	e3 := startOn(t, cfg)
	if ms := e3.Media(); len(ms) != 1 || ms[0].FileID != *cm.FileId {
		t.Fatalf("media after second restart: %+v", ms)
	}
	// The repeated commit after a restart returns the same FileId.
	if again := commit(t, defaultClient(t, e3), *ap.VodSessionKey); *again.FileId != *cm.FileId {
		t.Fatalf("FileId changed: %s", *again.FileId)
	}
}

func startOn(t *testing.T, cfg emulator.Config) *emulator.Emulator {
	t.Helper()
	e, err := emulator.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestCorruptMetadata(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vod.json"), []byte("{not json"), 0o600)
	_, err := emulator.Start(t.Context(), emulator.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "vod.json") {
		t.Fatalf("err %v", err)
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	e := emulatortest.Start(t, func(c *emulator.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	if e.Scheme() != "https" {
		t.Fatalf("scheme %s", e.Scheme())
	}
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint, cpf.HttpProfile.Scheme = e.Addr(), "https"
	vc, err := vod.NewClient(common.NewCredential(e.SecretID(), e.SecretKey()), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	vc.WithHttpTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, certFile)}})
	if _, err := vc.ApplyUpload(&vod.ApplyUploadRequest{MediaType: common.StringPtr("mp4")}); err != nil {
		t.Fatalf("ApplyUpload over https: %v", err)
	}
	if _, err := emulator.Start(t.Context(), emulator.Config{DataDir: t.TempDir(), TLSCertFile: certFile}); err == nil {
		t.Fatal("certificate without key accepted")
	}
}

func selfSigned(t *testing.T) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cf, kf
}

func pool(t *testing.T, certFile string) *x509.CertPool {
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

// TestRestartKeepsGeneratedAccount: an emulator started without keys keeps
// the keys and APPID it generated in its data folder, so a session applied
// before a restart commits after it with the same client.
func TestRestartKeepsGeneratedAccount(t *testing.T) {
	dir := t.TempDir()
	e1, err := emulator.Start(t.Context(), emulator.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id, key, app := e1.SecretID(), e1.SecretKey(), e1.AppID()
	vc := defaultClient(t, e1)
	ap := apply(t, vc, nil)
	media := randomBytes(5000, 3)
	putObject(t, cosClient(t, e1, ap), (*ap.MediaStoragePath)[1:], media)
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "account.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("account file: %v %v", info, err)
	}

	e2 := startOn(t, emulator.Config{DataDir: dir})
	if e2.SecretID() != id || e2.SecretKey() != key || e2.AppID() != app {
		t.Fatal("the restarted emulator has other keys or another APPID")
	}
	vc2 := vodClient(t, e2, id, key, "")
	cm := commit(t, vc2, *ap.VodSessionKey)
	if _, body := fetch(t, *cm.MediaUrl, nil); !bytes.Equal(body, media) {
		t.Fatal("media bytes differ after the restart")
	}
	e2.Close()

	// Keys given in the configuration win and do not replace the kept ones.
	e3 := startOn(t, emulator.Config{DataDir: dir, SecretID: "AKIDgiven", SecretKey: "given"})
	if e3.SecretID() != "AKIDgiven" {
		t.Fatalf("given SecretId ignored: %s", e3.SecretID())
	}
	e3.Close()
	if e4 := startOn(t, emulator.Config{DataDir: dir}); e4.SecretID() != id {
		t.Fatal("the kept keys were replaced by given ones")
	}
}

func TestCorruptAccountFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "account.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := emulator.Start(t.Context(), emulator.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "account.json") {
		t.Fatalf("err %v, want it to name account.json", err)
	}
}
