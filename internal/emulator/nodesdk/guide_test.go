package nodesdk_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
)

// guideCase is one run of the SDK's upload guide (see testdata/guide.js).
type guideCase struct {
	Name      string         `json:"name"`
	SecretID  string         `json:"secretId"`
	SecretKey string         `json:"secretKey"`
	Token     string         `json:"token,omitempty"`
	Region    string         `json:"region"`
	Request   map[string]any `json:"request,omitempty"`
	Commit    string         `json:"commit,omitempty"`

	wantCode    string // "" for success
	wantMessage string // checked when set
	bundle      bool   // MediaFilePath is an HLS/DASH manifest
}

type guideResult struct {
	Name, FileId, MediaUrl, CoverUrl, Code, Message string
}

const (
	tmpID    = "AKIDnodeTemporary0000000000000000000"
	tmpKey   = "nodeTemporaryKey"
	tmpToken = "nodeTemporaryToken"
)

// TestVodNodeSDKUploadGuide runs vod-node-sdk 1.1.0 (tencentcloud-sdk-nodejs
// 3.x signing API calls with the legacy HmacSHA256 signature, form-encoded;
// cos-nodejs-sdk-v5 uploading every file in parts) unchanged against the
// emulator over https with a test CA, its names resolved to the emulator by
// a `node -r` preload; every media's bytes are compared at MediaUrl.
func TestVodNodeSDKUploadGuide(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the vod-node-sdk test needs node (20+) and npm")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: the vod-node-sdk test needs node (20+) and npm")
	}
	modules := installSDK(t, npm)
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := testCA(t, dir)
	accounts := filepath.Join(dir, "accounts.yaml")
	yaml := "defaults:\n  temporary:\n    - {secret_id: " + tmpID + ", secret_key: " + tmpKey + ", token: " + tmpToken +
		", expires: " + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + "}\n"
	if err := os.WriteFile(accounts, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.TLSCertFile, c.TLSKeyFile, c.AccountsFile = certFile, keyFile, accounts
	})
	sdkTest := filepath.Join(modules, "vod-node-sdk", "test")
	dash := func(name string) string {
		p, err := filepath.Abs(filepath.Join("..", "..", "manifest", "testdata", name, "manifest.mpd"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mp4, png := filepath.Join(sdkTest, "Wildlife.mp4"), filepath.Join(sdkTest, "Wildlife-cover.png")
	up := func(name string, req map[string]any) guideCase {
		if _, ok := req["MediaFilePath"]; !ok {
			req["MediaFilePath"] = mp4
		}
		return guideCase{Name: name, SecretID: e.SecretID(), SecretKey: e.SecretKey(), Region: "ap-guangzhou", Request: req}
	}
	withCode := func(c guideCase, code, msg string) guideCase { c.wantCode, c.wantMessage = code, msg; return c }
	asBundle := func(c guideCase) guideCase { c.bundle = true; return c }
	tmp := up("temporary credentials", map[string]any{"CoverFilePath": png})
	tmp.SecretID, tmp.SecretKey, tmp.Token = tmpID, tmpKey, tmpToken
	badKey := up("VodSessionKey", map[string]any{})
	badKey.Request, badKey.Commit = nil, "no-such-session"
	cases := []guideCase{
		up("simple", map[string]any{}),
		up("cover", map[string]any{"CoverFilePath": png}),
		up("procedure", map[string]any{"Procedure": "QCVB_SimpleProcessFile(1, 1)"}),
		up("sub-app", map[string]any{"SubAppId": emulator.DefaultSubAppIDs[0], "CoverFilePath": png}),
		up("storage region", map[string]any{"StorageRegion": "ap-chongqing"}),
		up("class", map[string]any{"ClassId": 12}),
		up("expiry", map[string]any{"ExpireTime": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}),
		up("source context and media name", map[string]any{"SourceContext": "from node & co=1", "SessionContext": "s", "MediaName": "test_test"}),
		asBundle(up("HLS", map[string]any{"MediaFilePath": filepath.Join(sdkTest, "hls", "prog_index.m3u8")})),
		asBundle(up("HLS master with variants", map[string]any{"MediaFilePath": filepath.Join(sdkTest, "hls", "bipbopall.m3u8")})),
		asBundle(up("DASH Number template", map[string]any{"MediaFilePath": dash("dash_number")})),
		asBundle(up("DASH Time template", map[string]any{"MediaFilePath": dash("dash_time")})),
		asBundle(up("DASH SegmentTimeline", map[string]any{"MediaFilePath": dash("dash_timeline")})),
		asBundle(up("DASH SegmentList", map[string]any{"MediaFilePath": dash("dash_list")})),
		tmp,
		withCode(up("MediaType", map[string]any{"MediaType": "test"}), "InvalidParameterValue.MediaType", "invalid media type"),
		withCode(up("CoverType", map[string]any{"CoverFilePath": png, "CoverType": "test"}), "InvalidParameterValue.CoverType", "invalid cover type"),
		withCode(up("SubAppId", map[string]any{"SubAppId": 1234}), "InvalidParameterValue.SubAppId", ""),
		withCode(badKey, "InvalidParameterValue.VodSessionKey", ""),
		withCode(up("ExpireTime", map[string]any{"ExpireTime": "next week"}), "InvalidParameter.ExpireTime", ""),
		withCode(up("ResourceNotFound", map[string]any{"Procedure": "no-such-procedure"}), "ResourceNotFound", ""),
	}
	results := runGuide(t, node, caFile, e, dir, cases)
	// The SDK really signed with the legacy signature and uploaded in parts.
	st := e.Stats()
	if st.Signatures["HmacSHA256"] == 0 || st.Signatures["TC3-HMAC-SHA256"] != 0 || st.Requests["UploadPart"] == 0 ||
		st.Requests["CompleteMultipartUpload"] == 0 || st.Requests["PutObject"] != 0 {
		t.Errorf("signatures %v, requests %v: want HmacSHA256 form requests and multipart uploads only", st.Signatures, st.Requests)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) { checkResult(t, client, c, results[i]) })
	}

	// InternalError through a fault: every ApplyUpload fails.
	e.SetFaults(emulator.FaultConfig{ErrorRate: map[string]float64{"ApplyUpload": 1}})
	fault := withCode(up("InternalError", map[string]any{}), "InternalError", "")
	checkResult(t, client, fault, runGuide(t, node, caFile, e, dir, []guideCase{fault})[0])
}

// runGuide runs testdata/guide.js on cases with the preload that routes the
// SDK to e, and returns one result per case.
func runGuide(t *testing.T, node, caFile string, e *emulator.Emulator, dir string, cases []guideCase) []guideResult {
	t.Helper()
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	casesFile := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(casesFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-r", filepath.Join(testdata, "preload.js"), filepath.Join(testdata, "guide.js"), casesFile)
	cmd.Dir = testdata
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"NODE_EXTRA_CA_CERTS=" + caFile, "VODWATCHD_EMULATOR_PORT=" + port,
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node guide.js: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.Bytes(), out)
	}
	var results []guideResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r guideResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("guide.js printed %q: %v", sc.Text(), err)
		}
		results = append(results, r)
	}
	if len(results) != len(cases) {
		t.Fatalf("guide.js answered %d of %d cases\nstderr:\n%s", len(results), len(cases), stderr.Bytes())
	}
	return results
}

func checkResult(t *testing.T, client *http.Client, c guideCase, r guideResult) {
	t.Helper()
	if r.Name != c.Name {
		t.Fatalf("result for %q, want %q", r.Name, c.Name)
	}
	if c.wantCode != "" {
		if r.Code != c.wantCode || (c.wantMessage != "" && r.Message != c.wantMessage) {
			t.Fatalf("got %q %q, want %q %q", r.Code, r.Message, c.wantCode, c.wantMessage)
		}
		return
	}
	if r.Code != "" {
		t.Fatalf("upload failed: %s: %s", r.Code, r.Message)
	}
	if r.FileId == "" || !strings.HasPrefix(r.MediaUrl, "https://127.0.0.1:") {
		t.Fatalf("FileId %q MediaUrl %q", r.FileId, r.MediaUrl)
	}
	media := c.Request["MediaFilePath"].(string)
	sameBytes(t, client, r.MediaUrl, media)
	if cover, ok := c.Request["CoverFilePath"].(string); ok {
		sameBytes(t, client, r.CoverUrl, cover)
	} else if r.CoverUrl != "" {
		t.Errorf("CoverUrl %q without a cover", r.CoverUrl)
	}
	if !c.bundle {
		return
	}
	b, err := manifest.Resolve(context.Background(), media, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Files) == 0 {
		t.Fatal("bundle without files")
	}
	base := strings.TrimSuffix(r.MediaUrl, path.Base(r.MediaUrl))
	for _, f := range b.Files {
		sameBytes(t, client, base+f.Rel, f.Path)
	}
}

// sameBytes fetches url and compares it with the file's bytes.
func sameBytes(t *testing.T, client *http.Client, url, file string) {
	t.Helper()
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("GET %s: HTTP %d, %d bytes; want the %d bytes of %s", url, resp.StatusCode, len(got), len(want), file)
	}
}
