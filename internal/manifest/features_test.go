package manifest

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestHLSFeatures(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		top   string
		want  []string
	}{
		{"byte ranges listed once", map[string]string{
			"index.m3u8": "#EXTM3U\n#EXT-X-MAP:URI=\"all.mp4\",BYTERANGE=\"700@0\"\n" +
				strings.Repeat("#EXTINF:1,\n#EXT-X-BYTERANGE:100@700\nall.mp4\n", 1000) + "#EXT-X-ENDLIST\n",
			"all.mp4": "data",
		}, "index.m3u8", []string{"all.mp4"}},
		{"query, fragment, percent, BOM, CRLF, comments", map[string]string{
			"index.m3u8": "\xef\xbb\xbf#EXTM3U\r\n# a comment\r\n#EXTINF:1,\r\nseg%201.ts?v=3\r\n#EXTINF:1,\r\n  seg%201.ts#t=1  \r\n#EXTINF:1,\r\n./x/../seg2.ts\r\n",
			"seg 1.ts":   "a", "seg2.ts": "b",
		}, "index.m3u8", []string{"seg 1.ts", "seg2.ts"}},
		{"keys: NONE, identity, DRM keyformat skipped", map[string]string{
			"index.m3u8": "#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXT-X-KEY:METHOD=AES-128,URI=\"keys/k1.key\",KEYFORMAT=\"identity\"\n" +
				"#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://key-id\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n#EXTINF:1,\ns.ts\n",
			"keys/k1.key": "0123456789abcdef", "s.ts": "x",
		}, "index.m3u8", []string{"keys/k1.key", "s.ts"}},
		{"nested master with media, i-frames, session key and shared init", map[string]string{
			"master.m3u8": "#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"k.key\"\n" +
				"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",DEFAULT=YES,URI=\"audio/en.m3u8\"\n" +
				"#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"cc\",INSTREAM-ID=\"CC1\"\n" +
				"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=9,URI=\"video/iframe.m3u8\"\n" +
				"#EXT-X-STREAM-INF:BANDWIDTH=100,AUDIO=\"a\",CODECS=\"avc1,mp4a\"\nvideo/v.m3u8\n" +
				"#EXT-X-STREAM-INF:BANDWIDTH=100,AUDIO=\"a\"\nvideo/v.m3u8\n",
			"audio/en.m3u8":     "#EXTM3U\n#EXT-X-MAP:URI=\"../common/init.mp4\"\n#EXTINF:1,\na1.m4s\n",
			"video/iframe.m3u8": "#EXTM3U\n#EXT-X-I-FRAMES-ONLY\n#EXT-X-BYTERANGE:10@0\n#EXTINF:1,\nv1.m4s\n",
			"video/v.m3u8":      "#EXTM3U\n#EXT-X-MAP:URI=\"../common/init.mp4\"\n#EXTINF:1,\nv1.m4s\n#EXTINF:1,\nv2.m4s\n",
			"k.key":             "k", "common/init.mp4": "i", "audio/a1.m4s": "a",
			"video/v1.m4s": "1", "video/v2.m4s": "2",
		}, "master.m3u8", []string{"k.key", "audio/en.m3u8", "common/init.mp4", "audio/a1.m4s",
			"video/iframe.m3u8", "video/v1.m4s", "video/v.m3u8", "video/v2.m4s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := resolveTree(t, tc.files, tc.top)
			if err != nil {
				t.Fatal(err)
			}
			if got := rels(b.Files); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files = %q\nwant    %q", got, tc.want)
			}
		})
	}
}

func TestDASHFeatures(t *testing.T) {
	cases := []struct {
		name string
		mpd  string
		want []string
	}{
		{"inheritance and BaseURL levels", `<MPD mediaPresentationDuration="PT3S"><BaseURL>media/</BaseURL>
<Period><SegmentTemplate timescale="1000" duration="1000" startNumber="0"/>
 <AdaptationSet><BaseURL>video/</BaseURL><SegmentTemplate initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%03d$.m4s"/>
  <Representation id="hi" bandwidth="500"/>
  <Representation id="lo" bandwidth="100"><BaseURL>low/</BaseURL><SegmentTemplate media="b$Bandwidth$-$Number$-$$.m4s"/></Representation>
 </AdaptationSet></Period></MPD>`,
			[]string{"media/video/hi/init.mp4", "media/video/hi/000.m4s", "media/video/hi/001.m4s", "media/video/hi/002.m4s",
				"media/video/low/lo/init.mp4", "media/video/low/b100-0-$.m4s", "media/video/low/b100-1-$.m4s", "media/video/low/b100-2-$.m4s"}},
		{"timeline with r=-1 to the period end and to the next S@t", `<MPD mediaPresentationDuration="PT10S">
<Period duration="PT4S"><AdaptationSet><SegmentTemplate timescale="10" media="t$Time$.m4s">
 <SegmentTimeline><S t="0" d="10" r="-1"/><S t="25" d="5" r="-1"/></SegmentTimeline></SegmentTemplate>
 <Representation id="a"/></AdaptationSet></Period></MPD>`,
			[]string{"t0.m4s", "t10.m4s", "t20.m4s", "t25.m4s", "t30.m4s", "t35.m4s"}},
		{"multi-period: duration from the next start and the MPD end", `<MPD mediaPresentationDuration="PT5S">
<Period start="PT0S"><AdaptationSet><Representation id="p0"><SegmentTemplate media="$RepresentationID$_$Number$.m4s" duration="2"/></Representation></AdaptationSet></Period>
<Period start="PT3S"><AdaptationSet><Representation id="p1"><SegmentTemplate media="$RepresentationID$_$Number$.m4s" duration="2"/></Representation></AdaptationSet></Period></MPD>`,
			[]string{"p0_1.m4s", "p0_2.m4s", "p1_1.m4s"}},
		{"SegmentList inheritance and SegmentURL without media", `<MPD mediaPresentationDuration="PT2S"><Period><AdaptationSet>
<SegmentList><Initialization sourceURL="init.mp4"/></SegmentList>
<Representation id="a"><SegmentList><SegmentURL media="a1.m4s"/><SegmentURL media="a2.m4s" index="a2.sidx"/></SegmentList></Representation>
<Representation id="b"><BaseURL>b.mp4</BaseURL><SegmentList><SegmentURL mediaRange="0-9"/><SegmentURL mediaRange="10-19"/></SegmentList></Representation>
</AdaptationSet></Period></MPD>`,
			[]string{"init.mp4", "a1.m4s", "a2.sidx", "a2.m4s", "b.mp4"}},
		{"SegmentBase with Initialization and single file", `<MPD mediaPresentationDuration="PT2S"><Period><AdaptationSet>
<Representation id="v"><BaseURL>v/video.mp4?token=1</BaseURL><SegmentBase indexRange="10-20"><Initialization sourceURL="v-init.mp4"/></SegmentBase></Representation>
<Representation id="a"><BaseURL>audio.mp4</BaseURL></Representation>
</AdaptationSet></Period></MPD>`,
			[]string{"v/v-init.mp4", "v/video.mp4", "audio.mp4"}},
		{"template with Initialization element and namespaces", `<?xml version="1.0"?><!-- packager: hand-written -->
<mpd:MPD xmlns:mpd="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT1S"><mpd:Period><mpd:AdaptationSet><mpd:Representation id="r">
<mpd:SegmentTemplate media="s$Number$.m4s" duration="1"><mpd:Initialization sourceURL="i.mp4"/></mpd:SegmentTemplate>
</mpd:Representation></mpd:AdaptationSet></mpd:Period></mpd:MPD>`,
			[]string{"i.mp4", "s1.m4s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ParseDASH(strings.NewReader(tc.mpd), ParseOptions{}, func(r Ref) error {
				rel, reason := cleanRef(".", r.URI)
				if reason != "" {
					return errors.New(reason)
				}
				got = append(got, rel)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dedupe(got), tc.want) {
				t.Errorf("refs = %q\nwant   %q", got, tc.want)
			}
		})
	}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func TestMissingFilesAreAllListed(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"master.m3u8":  "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\nb/index.m3u8\n",
		"a/index.m3u8": "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1,\n1.m4s\n#EXTINF:1,\n2.m4s\n#EXTINF:1,\n2.m4s\n#EXTINF:1,\n3.m4s\n",
		"a/1.m4s":      "1",
	})
	_, err := Resolve(context.Background(), filepath.Join(dir, "master.m3u8"), Options{})
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *MissingError", err)
	}
	want := []string{"a/init.mp4", "a/2.m4s", "a/3.m4s", "b/index.m3u8"}
	if got := rels(me.Missing); !reflect.DeepEqual(got, want) {
		t.Fatalf("missing = %q, want %q", got, want)
	}
	if m := me.Missing[1]; m.From != "a/index.m3u8" || m.Line != 6 {
		t.Errorf("a/2.m4s referenced from %s:%d, want a/index.m3u8:6", m.From, m.Line)
	}
	for _, s := range []string{"4 referenced file(s) missing", "a/init.mp4 (a/index.m3u8:2 EXT-X-MAP@URI)", "b/index.m3u8"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
}
