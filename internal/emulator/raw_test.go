package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/tc3"
)

// rawReq is an API request signed by hand, with knobs to break it.
type rawReq struct {
	method    string
	action    string
	version   string
	body      string
	secretID  string
	secretKey string
	service   string
	ts        time.Time
	after     func(*http.Request) // runs after signing
}

type apiReply struct {
	Response struct {
		Error     *struct{ Code, Message string }
		RequestId string
	}
}

func (rr rawReq) do(t *testing.T, e *emulator.Emulator) (code, message string) {
	t.Helper()
	if rr.method == "" {
		rr.method = "POST"
	}
	if rr.version == "" {
		rr.version = emulator.APIVersion
	}
	if rr.secretID == "" {
		rr.secretID, rr.secretKey = e.SecretID(), e.SecretKey()
	}
	if rr.service == "" {
		rr.service = "vod"
	}
	if rr.ts.IsZero() {
		rr.ts = time.Now()
	}
	req, err := http.NewRequest(rr.method, "http://"+e.Addr()+"/", strings.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if rr.action != "-" {
		req.Header.Set("X-TC-Action", rr.action)
	}
	req.Header.Set("X-TC-Version", rr.version)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(rr.ts.Unix(), 10))
	in := tc3.Input{
		Method: rr.method, URI: "/",
		Headers:     []tc3.Header{{Name: "content-type", Value: "application/json"}, {Name: "host", Value: e.Addr()}},
		PayloadHash: tc3.HashPayload([]byte(rr.body)), Timestamp: rr.ts.Unix(), Service: rr.service,
	}
	req.Header.Set("Authorization", tc3.Sign(rr.secretID, rr.secretKey, in))
	if rr.after != nil {
		rr.after(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", rr.action, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d, want 200 for every API answer: %s", resp.StatusCode, b)
	}
	var rep apiReply
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("reply is not JSON: %s", b)
	}
	if rep.Response.RequestId == "" {
		t.Fatalf("reply without RequestId: %s", b)
	}
	if rep.Response.Error == nil {
		return "", ""
	}
	return rep.Response.Error.Code, rep.Response.Error.Message
}
