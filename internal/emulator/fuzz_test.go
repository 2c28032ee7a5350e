package emulator

import (
	"reflect"
	"strings"
	"testing"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/manifest"
)

func fuzzEmulator() *Emulator {
	cfg, _ := withDefaults(Config{DataDir: "unused", AppID: defaultAppID})
	as, _ := newAccounts(cfg, AccountsFile{})
	return &Emulator{cfg: cfg, now: time.Now, accounts: as, faults: newFaults(FaultConfig{})}
}

// FuzzApplyUploadParams feeds arbitrary bodies through the strict JSON
// decoding and the ApplyUpload validation: an answer or an API error,
// never a panic.
func FuzzApplyUploadParams(f *testing.F) {
	for _, s := range []string{
		`{"MediaType":"mp4"}`,
		`{"MediaType":"m3u8","CoverType":"jpg","SubAppId":1500000001,"ClassId":12,"Procedure":"news-transcode","ExpireTime":"2099-01-01T00:00:00Z","StorageRegion":"ap-chongqing","SourceContext":"x","SessionContext":"y","ExtInfo":"z","MediaStoragePath":"/a/b.m3u8","MediaName":"n"}`,
		`{"MediaType":5}`, `{"mediatype":"mp4"}`, `[]`, `null`, `{"MediaType":"mp4",}`, `{"SubAppId":-1}`,
		`{"ExpireTime":"2001-01-01T00:00:00Z","MediaType":"mp4"}`, `{"MediaStoragePath":"/../x","MediaType":"mp4"}`, `{"MediaStoragePath":"/a.m3u8","MediaType":"m3u8"}`, "",
	} {
		f.Add(s)
	}
	e := fuzzEmulator()
	f.Fuzz(func(t *testing.T, body string) {
		var p vod.ApplyUploadRequestParams
		if aerr := decodeParams([]byte(body), &p); aerr != nil {
			checkCode(t, aerr)
			return
		}
		s, aerr := e.newSession(e.accounts.def, &p)
		if aerr != nil {
			checkCode(t, aerr)
			return
		}
		// The certificate must cover the media key, and never the whole bucket.
		if s.Key == "" || s.Prefixes[0] == "" || !strings.HasPrefix(s.MediaKey, s.Prefixes[0]) {
			t.Fatalf("session %+v", s)
		}
	})
}

func checkCode(t *testing.T, aerr *apiError) {
	t.Helper()
	if aerr.Code == "" || aerr.Message == "" || strings.ContainsAny(aerr.Code, " \n") {
		t.Fatalf("bad error %+v", aerr)
	}
}

// FuzzManifestParsers: the ParseStreamingManifest parsers never panic and
// never return empty or repeated entries.
func FuzzManifestParsers(f *testing.F) {
	f.Add("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:1,\na.ts\na.ts\n", false)
	f.Add("\ufeff#EXTM3U\n#EXT-X-MAP:URI=\"\"\n", false)
	f.Add(`<MPD><BaseURL>b/</BaseURL><SegmentURL media="1.m4s"/><Initialization sourceURL="i.mp4"/></MPD>`, true)
	f.Add(`<MPD><x media="`, true)
	f.Add(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><MPD>&a;</MPD>`, true)
	f.Fuzz(func(t *testing.T, content string, dash bool) {
		parse := manifest.ParseHLS
		if dash {
			parse = manifest.ParseDASH
		}
		segs, err := manifestSegments(content, parse)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, s := range segs {
			if s == "" || seen[s] {
				t.Fatalf("segments %q", segs)
			}
			seen[s] = true
		}
	})
}

// FuzzFormParams feeds arbitrary form-encoded parameters through the
// decoding and mapping of legacy (signature v1) requests: an API error or a
// JSON object that the action's strict decoding accepts, never a panic.
func FuzzFormParams(f *testing.F) {
	for _, s := range []string{
		"MediaType=mp4&SubAppId=1500000001&ClassId=12",
		"Names.0=a&Names.1=b&Sort.Field=CreateTime&Limit=5",
		"Names.0=a&Names.2=b", "Names.01=a", "Sort=x", "Sort.Field.X=1", "MediaType.X=1",
		"SubAppId=-1", "ClassId=9223372036854775808", "Names.0.X=1", "a=%zz", "=&&=", "Limit=1e3",
	} {
		f.Add(s)
	}
	models := []any{(*vod.ApplyUploadRequestParams)(nil), (*vod.SearchMediaRequestParams)(nil), (*vod.DescribeMediaInfosRequestParams)(nil)}
	f.Fuzz(func(t *testing.T, raw string) {
		form, aerr := parseForm(raw)
		if aerr != nil {
			checkCode(t, aerr)
			return
		}
		for _, m := range models {
			body, aerr := formToJSON(form, m)
			if aerr != nil {
				checkCode(t, aerr)
				continue
			}
			dst := reflect.New(reflect.TypeOf(m).Elem()).Interface()
			if aerr := decodeParams(body, dst); aerr != nil {
				t.Fatalf("%q mapped to %s, which does not decode: %v", raw, body, aerr)
			}
		}
	})
}
