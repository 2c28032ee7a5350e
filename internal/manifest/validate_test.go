package manifest

import (
	"testing"
)

func hlsMedia(uri string) string {
	return "#EXTM3U\n#EXTINF:1,\n" + uri + "\n#EXT-X-ENDLIST\n"
}

func TestHLSBadReferences(t *testing.T) {
	cases := []struct {
		name, playlist string
		line           int
		element, ref   string
		reason         string
	}{
		{"http", hlsMedia("http://example.com/seg.ts"), 3, "", "http://example.com/seg.ts", `scheme "http:"`},
		{"https", hlsMedia("HTTPS://example.com/seg.ts"), 3, "", "HTTPS://example.com/seg.ts", "scheme"},
		{"data", hlsMedia("data:video/mp2t;base64,AAAA"), 3, "", "data:video/mp2t;base64,AAAA", `scheme "data:"`},
		{"file", hlsMedia("file:///etc/passwd"), 3, "", "file:///etc/passwd", `scheme "file:"`},
		{"network path", hlsMedia("//evil.example/seg.ts"), 3, "", "//evil.example/seg.ts", "//host"},
		{"absolute", hlsMedia("/etc/passwd"), 3, "", "/etc/passwd", "absolute path"},
		{"dotdot", hlsMedia("../outside.ts"), 3, "", "../outside.ts", "leaves the bundle folder"},
		{"dotdot after clean", hlsMedia("a/b/../../../outside.ts"), 3, "", "a/b/../../../outside.ts", "leaves the bundle folder"},
		{"percent dotdot", hlsMedia("%2e%2e/outside.ts"), 3, "", "%2e%2e/outside.ts", "leaves the bundle folder"},
		{"percent dotdot upper", hlsMedia("a/%2E%2E/%2E%2E/x.ts"), 3, "", "a/%2E%2E/%2E%2E/x.ts", "leaves the bundle folder"},
		{"percent slash", hlsMedia("..%2foutside.ts"), 3, "", "..%2foutside.ts", "percent-encoded path separator"},
		{"percent backslash", hlsMedia("..%5Coutside.ts"), 3, "", "..%5Coutside.ts", "percent-encoded path separator"},
		{"backslash", hlsMedia(`..\outside.ts`), 3, "", `..\outside.ts`, "backslash"},
		{"windows path", hlsMedia(`sub\seg.ts`), 3, "", `sub\seg.ts`, "backslash"},
		{"drive letter", hlsMedia("C:/media/seg.ts"), 3, "", "C:/media/seg.ts", "drive letter"},
		{"bad percent", hlsMedia("seg%zz.ts"), 3, "", "seg%zz.ts", "bad percent-encoding"},
		{"nul", hlsMedia("seg%00.ts"), 3, "", "seg%00.ts", "control character"},
		{"query only", hlsMedia("?x=1"), 3, "", "?x=1", "no path"},
		{"folder", hlsMedia("sub/"), 3, "", "sub/", "folder"},
		{"map", "#EXTM3U\n#EXT-X-MAP:URI=\"../init.mp4\",BYTERANGE=\"100@0\"\n#EXTINF:1,\nseg.ts\n", 2, "EXT-X-MAP@URI", "../init.mp4", "leaves the bundle folder"},
		{"key url", "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k\",IV=0x1\n#EXTINF:1,\nseg.ts\n", 2, "EXT-X-KEY@URI", "https://keys.example/k", "scheme"},
		{"session key", "#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"/k.key\"\n", 2, "EXT-X-SESSION-KEY@URI", "/k.key", "absolute"},
		{"media", "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"../a.m3u8\"\n", 2, "EXT-X-MEDIA@URI", "../a.m3u8", "leaves"},
		{"iframe", "#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"http://x/i.m3u8\"\n", 2, "EXT-X-I-FRAME-STREAM-INF@URI", "http://x/i.m3u8", "scheme"},
		{"stream inf", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n\n/v/index.m3u8\n", 4, "EXT-X-STREAM-INF", "/v/index.m3u8", "absolute"},
		{"self", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex.m3u8\n", 3, "EXT-X-STREAM-INF", "index.m3u8", "cycle"},
		{"self via dot", hlsMedia("./x/../index.m3u8"), 3, "", "./x/../index.m3u8", "cycle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveTree(t, map[string]string{"index.m3u8": tc.playlist, "seg.ts": "x", "init.mp4": "i"}, "index.m3u8")
			wantRefError(t, err, "index.m3u8", tc.line, tc.element, tc.ref, tc.reason)
		})
	}
}

func mpdWith(period string) string {
	return `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT2S">
` + period + `
</MPD>
`
}

func TestDASHBadReferences(t *testing.T) {
	cases := []struct {
		name, mpd    string
		line         int
		element, ref string
		reason       string
	}{
		{"absolute BaseURL", mpdWith(`<BaseURL>http://cdn.example/v/</BaseURL><Period><AdaptationSet>
<Representation id="v1" bandwidth="1"><SegmentTemplate media="s$Number$.m4s" duration="1"/></Representation></AdaptationSet></Period>`),
			4, "Period[0]/AdaptationSet[0]/Representation[v1]/SegmentTemplate@media (joined with BaseURL)", "http://cdn.example/v/s1.m4s", "scheme"},
		{"template dotdot", mpdWith(`<Period><AdaptationSet><Representation id="v1" bandwidth="1">
<SegmentTemplate media="../$Number%05d$.m4s" initialization="init.mp4" duration="1"/></Representation></AdaptationSet></Period>`),
			3, "Period[0]/AdaptationSet[0]/Representation[v1]/SegmentTemplate@media", "../00001.m4s", "leaves"},
		{"rep id escape", mpdWith(`<Period><AdaptationSet><Representation id="../../etc" bandwidth="1">
<SegmentTemplate initialization="$RepresentationID$/init.mp4" media="x" duration="1"/></Representation></AdaptationSet></Period>`),
			3, "Period[0]/AdaptationSet[0]/Representation[../../etc]/SegmentTemplate@initialization", "../../etc/init.mp4", "leaves"},
		{"list init absolute", mpdWith(`<Period><AdaptationSet>
<Representation id="a"><SegmentList duration="1"><Initialization sourceURL="/etc/passwd"/><SegmentURL media="s1.m4s"/></SegmentList></Representation></AdaptationSet></Period>`),
			4, "Period[0]/AdaptationSet[0]/Representation[a]/SegmentList/Initialization@sourceURL", "/etc/passwd", "absolute"},
		{"segment url", mpdWith(`<Period><AdaptationSet><Representation id="a"><SegmentList duration="1">
<SegmentURL media="s1.m4s"/><SegmentURL media="%2e%2e/s2.m4s"/></SegmentList></Representation></AdaptationSet></Period>`),
			3, "Period[0]/AdaptationSet[0]/Representation[a]/SegmentList/SegmentURL[1]@media", "%2e%2e/s2.m4s", "leaves"},
		{"timeline S", mpdWith(`<Period><AdaptationSet id="x"/><AdaptationSet><Representation id="video1" bandwidth="1">
<SegmentTemplate media="C:\$Time$.m4s"><SegmentTimeline><S t="0" d="1"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period>`),
			3, "Period[0]/AdaptationSet[1]/Representation[video1]/SegmentTemplate/SegmentTimeline/S[0]", `C:\0.m4s`, "backslash"},
		{"segment base", mpdWith(`<Period><AdaptationSet><Representation id="r">
<BaseURL>file:///srv/video.mp4</BaseURL><SegmentBase/></Representation></AdaptationSet></Period>`),
			3, "Period[0]/AdaptationSet[0]/Representation[r]/BaseURL", "file:///srv/video.mp4", "scheme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveTree(t, map[string]string{"manifest.mpd": tc.mpd, "init.mp4": "i"}, "manifest.mpd")
			wantRefError(t, err, "manifest.mpd", tc.line, tc.element, tc.ref, tc.reason)
		})
	}
}

func TestNestedPlaylistErrorNamesTheNestedPlaylist(t *testing.T) {
	_, err := resolveTree(t, map[string]string{
		"master.m3u8":  "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n",
		"v/index.m3u8": "#EXTM3U\n#EXTINF:1,\n../ok.ts\n#EXTINF:1,\n../../escape.ts\n",
		"ok.ts":        "x",
	}, "master.m3u8")
	wantRefError(t, err, "v/index.m3u8", 5, "", "../../escape.ts", "leaves the bundle folder")
}

func TestPlaylistCycles(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string]string
		manifest string
		line     int
		ref      string
		reason   string
	}{
		{"self include of nested", map[string]string{
			"master.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
			"a.m3u8":      "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
		}, "a.m3u8", 3, "a.m3u8", "playlist cycle: a.m3u8 -> a.m3u8"},
		{"two playlists", map[string]string{
			"master.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na/a.m3u8\n",
			"a/a.m3u8":    "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"g\",NAME=\"n\",URI=\"../b/b.m3u8\"\n",
			"b/b.m3u8":    "#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"../a/./a.m3u8\"\n",
		}, "b/b.m3u8", 2, "../a/./a.m3u8", "playlist cycle: a/a.m3u8 -> b/b.m3u8 -> a/a.m3u8"},
		{"back to top", map[string]string{
			"master.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na/a.m3u8\n",
			"a/a.m3u8":    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n../master.m3u8\n",
		}, "a/a.m3u8", 3, "../master.m3u8", "top manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveTree(t, tc.files, "master.m3u8")
			el := "EXT-X-STREAM-INF"
			if tc.name == "two playlists" {
				el = "EXT-X-I-FRAME-STREAM-INF@URI"
			}
			wantRefError(t, err, tc.manifest, tc.line, el, tc.ref, tc.reason)
		})
	}
}
