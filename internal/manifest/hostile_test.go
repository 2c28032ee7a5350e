package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSymlinks(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.ts")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		link   string // slash path in the bundle
		target string // "OUT/..." means inside the outside folder
		ref    string
		reason string // "" = allowed
	}{
		{"file to outside", "seg.ts", "OUT/secret.ts", "seg.ts", "symlink resolves outside the bundle folder"},
		{"folder to outside", "sub", "OUT", "sub/secret.ts", "symlink resolves outside the bundle folder"},
		{"relative escape", "seg.ts", "REL", "seg.ts", "outside the bundle"},
		{"dangling to outside", "seg.ts", "/nonexistent-vodwatchd/x.ts", "seg.ts", "outside the bundle"},
		{"missing under folder link to outside", "sub", "OUT", "sub/nothing.ts", "outside the bundle"},
		{"loop", "seg.ts", "seg.ts", "seg.ts", "cannot resolve"},
		{"inside is fine", "seg.ts", "real/seg.ts", "seg.ts", ""},
		{"to a folder", "seg.ts", "real", "seg.ts", "folder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"index.m3u8": hlsMedia(tc.ref), "real/seg.ts": "inside"})
			target := strings.Replace(tc.target, "OUT", outside, 1)
			if target == "REL" {
				target, _ = filepath.Rel(dir, secret)
			}
			if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(tc.link))); err != nil {
				t.Fatal(err)
			}
			b, err := Resolve(context.Background(), filepath.Join(dir, "index.m3u8"), Options{})
			if tc.reason != "" {
				wantRefError(t, err, "index.m3u8", 3, "", tc.ref, tc.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := filepath.EvalSymlinks(filepath.Join(dir, "real", "seg.ts"))
			if len(b.Files) != 1 || b.Files[0].Rel != "seg.ts" || b.Files[0].Path != want || b.Files[0].Size != 6 {
				t.Errorf("files = %+v, want seg.ts at %s (6 bytes)", b.Files, want)
			}
		})
	}
}

func TestBundleFolderBehindASymlinkIsFine(t *testing.T) {
	dir := writeTree(t, map[string]string{"b/index.m3u8": hlsMedia("s.ts"), "b/s.ts": "x"})
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(dir, "b"), link); err != nil {
		t.Fatal(err)
	}
	b, err := Resolve(context.Background(), filepath.Join(link, "index.m3u8"), Options{})
	if err != nil || len(b.Files) != 1 {
		t.Fatalf("Resolve via linked folder: %v %+v", err, b)
	}
}

func TestFIFOIsRefused(t *testing.T) {
	dir := writeTree(t, map[string]string{"index.m3u8": hlsMedia("pipe.ts")})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.ts"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := Resolve(context.Background(), filepath.Join(dir, "index.m3u8"), Options{})
	wantRefError(t, err, "index.m3u8", 3, "", "pipe.ts", "not a regular file")
}

func wantLimit(t *testing.T, err error, contains string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v (%T), want a *ParseError wrapping ErrLimit", err, err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("message %q lacks %q", err, contains)
	}
}

func TestLimits(t *testing.T) {
	chain := map[string]string{}
	for i := 0; i < 5; i++ {
		chain[fmt.Sprintf("p%d.m3u8", i)] = fmt.Sprintf("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\np%d.m3u8\n", i+1)
	}
	chain["p5.m3u8"] = hlsMedia("s.ts")
	many := "#EXTM3U\n"
	for i := 0; i < 20; i++ {
		many += fmt.Sprintf("#EXTINF:1,\ns%d.ts\n", i)
	}
	t.Run("depth", func(t *testing.T) {
		dir := writeTree(t, chain)
		_, err := Resolve(context.Background(), filepath.Join(dir, "p0.m3u8"), Options{MaxDepth: 3})
		wantRefError(t, err, "p3.m3u8", 3, "EXT-X-STREAM-INF", "p4.m3u8", "deeper than 3")
	})
	t.Run("files", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"index.m3u8": many})
		_, err := Resolve(context.Background(), filepath.Join(dir, "index.m3u8"), Options{MaxFiles: 10})
		wantLimit(t, err, "more than 10 files")
	})
	t.Run("manifest bytes", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"index.m3u8": many})
		_, err := Resolve(context.Background(), filepath.Join(dir, "index.m3u8"), Options{MaxManifestBytes: 100})
		wantLimit(t, err, "larger than 100 bytes")
	})
	t.Run("line length", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"index.m3u8": "#EXTM3U\n#EXTINF:1," + strings.Repeat("x", MaxLineBytes) + "\n"})
		_, err := Resolve(context.Background(), filepath.Join(dir, "index.m3u8"), Options{})
		wantLimit(t, err, "index.m3u8:2: line longer than")
	})
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, file, body, want string }{
		{"not hls", "index.m3u8", "seg.ts\n", "index.m3u8:1: not an HLS playlist"},
		{"empty hls", "index.m3u8", "", "empty file"},
		{"dangling stream-inf", "index.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "index.m3u8:2 EXT-X-STREAM-INF: no URI line follows"},
		{"bad attrs", "index.m3u8", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\n", "index.m3u8:2 EXT-X-MAP: unterminated quoted string"},
		{"key without uri", "index.m3u8", "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128\n", "EXT-X-KEY: METHOD=AES-128 without URI"},
		{"not xml", "m.mpd", "{}", "m.mpd:1: not a valid MPD"},
		{"wrong root", "m.mpd", "<html/>", "root element is <html>"},
		{"unknown identifier", "m.mpd", mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Foo$" duration="1"/></Representation></AdaptationSet></Period>`), "SegmentTemplate@media: unsupported template identifier $Foo$"},
		{"bad width", "m.mpd", mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Number%5x$" duration="1"/></Representation></AdaptationSet></Period>`), "format tag"},
		{"number in init", "m.mpd", mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentTemplate initialization="$Number$.mp4" media="a" duration="1"/></Representation></AdaptationSet></Period>`), "not allowed here"},
		{"no period length", "m.mpd", `<MPD><Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Number$" duration="1"/></Representation></AdaptationSet></Period></MPD>`, "Period's length is unknown"},
		{"r=-1 without end", "m.mpd", `<MPD><Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Time$"><SegmentTimeline><S d="1" r="-1"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>`, `r="-1" needs`},
		{"bad d", "m.mpd", mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Time$"><SegmentTimeline><S d="0"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period>`), "S[0]: bad @d"},
		{"bad duration", "m.mpd", `<MPD mediaPresentationDuration="2 seconds"><Period/></MPD>`, "MPD@mediaPresentationDuration: bad ISO 8601 duration"},
		{"xlink", "m.mpd", mpdWith(`<Period xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="http://x/p.xml"/>`), "Period[0]@xlink:href: remote elements"},
		{"no media", "m.mpd", mpdWith(`<Period><AdaptationSet><Representation id="a"/></AdaptationSet></Period>`), "no BaseURL, SegmentTemplate or SegmentList"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveTree(t, map[string]string{tc.file: tc.body}, tc.file)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ParseError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestHostileMPDs(t *testing.T) {
	bomb := `<?xml version="1.0"?>
<!DOCTYPE MPD [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<MPD mediaPresentationDuration="PT1S"><BaseURL>&d;</BaseURL><Period/></MPD>`
	xxe := `<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MPD mediaPresentationDuration="PT1S"><Period><AdaptationSet><Representation id="a"><BaseURL>&xxe;</BaseURL></Representation></AdaptationSet></Period></MPD>`
	undeclared := `<MPD mediaPresentationDuration="PT1S"><Period><AdaptationSet><Representation id="a"><BaseURL>&xxe;</BaseURL></Representation></AdaptationSet></Period></MPD>`
	repeat := mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Number$.m4s">
<SegmentTimeline><S t="0" d="1" r="1000000000000"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period>`)
	repeatTail := `<MPD mediaPresentationDuration="PT1000000H"><Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Time$.m4s" timescale="1000">
<SegmentTimeline><S t="0" d="1" r="-1"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>`
	numbered := `<MPD mediaPresentationDuration="P9999Y"><Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Number$.m4s" duration="1"/></Representation></AdaptationSet></Period></MPD>`
	manyS := mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Number$.m4s"><SegmentTimeline>` +
		strings.Repeat(`<S d="1"/>`, 2000) + `</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period>`)
	deep := "<MPD>" + strings.Repeat("<x>", 1000) + strings.Repeat("</x>", 1000) + "</MPD>"
	cases := []struct {
		name, mpd string
		opts      Options
		want      string
		limit     bool
	}{
		{"entity expansion bomb", bomb, Options{}, "DOCTYPE/ENTITY declarations are not allowed", false},
		{"external entity", xxe, Options{}, "DOCTYPE/ENTITY declarations are not allowed", false},
		{"undeclared entity", undeclared, Options{}, "invalid character entity &xxe;", false},
		{"absurd repeat", repeat, Options{}, "S[0]@r: MPD generates more segments than the limit", true},
		{"r=-1 over a huge period", repeatTail, Options{}, "MPD generates more segments than the limit", true},
		{"duration over a huge period", numbered, Options{}, "SegmentTemplate@media: MPD generates more segments", true},
		{"many S elements", manyS, Options{MaxFiles: 100}, "S[100]@r: MPD generates more segments than the limit", true},
		{"many elements", mpdWith(strings.Repeat("<x/>", 20000)), Options{MaxFiles: 100}, "more than 10400 XML elements", true},
		{"deep nesting", deep, Options{}, "nested deeper than", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"m.mpd": tc.mpd})
			start := time.Now()
			_, err := Resolve(context.Background(), filepath.Join(dir, "m.mpd"), tc.opts)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tc.limit && !errors.Is(err, ErrLimit) {
				t.Errorf("err = %v does not wrap ErrLimit", err)
			}
			if strings.Contains(err.Error(), "root:") {
				t.Errorf("an external entity was resolved: %v", err)
			}
		})
	}
}

func TestContextCancellation(t *testing.T) {
	dir := writeTree(t, map[string]string{"index.m3u8": hlsMedia("s.ts"), "s.ts": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Resolve(ctx, filepath.Join(dir, "index.m3u8"), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// A long DASH expansion stops at the next context check.
	mpd := `<MPD mediaPresentationDuration="PT100000S"><Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Number$.m4s" duration="1"/></Representation></AdaptationSet></Period></MPD>`
	fsys := newMemFS(map[string]string{"/b/m.mpd": mpd})
	ctx, cancel = context.WithCancel(context.Background())
	fsys.onStat = func(n int) {
		if n == 5000 {
			cancel()
		}
	}
	_, err := resolveWith(ctx, fsys, "/b/m.mpd", Options{})
	if !errors.Is(err, context.Canceled) || fsys.stats > 5000+ctxCheckEvery {
		t.Fatalf("err = %v after %d stats, want context.Canceled within %d", err, fsys.stats, ctxCheckEvery)
	}
}
