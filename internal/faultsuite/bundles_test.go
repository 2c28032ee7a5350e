package faultsuite

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

const bundleRules = `    rules:
      - name: hls
        match: "**/*.m3u8"
        bundle_timeout: 1s
      - name: dash
        match: "**/*.mpd"
        bundle_timeout: 1s
      - name: all
        match: "**/*"
`

// dashMPD is an on-demand-style MPD: a BaseURL subfolder holds the init
// segment and two numbered segments.
func dashMPD(base string) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S">
  <Period>
    <BaseURL>%s</BaseURL>
    <AdaptationSet>
      <Representation id="v" bandwidth="1000">
        <SegmentTemplate media="s$Number$.m4s" initialization="init.mp4" duration="2" timescale="1"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
`, base)
}

func hlsMediaList(segs ...string) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
	for _, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:2,\n%s\n", s)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.String()
}

// TestBundleMembershipSurvivesRestart (issue 18 item 5): HLS variants two
// folders below their master and a DASH init segment under a BaseURL
// subfolder two levels deep stay parts of their bundles across a clean
// restart: the start-up scan does not take them as media of their own.
func TestBundleMembershipSurvivesRestart(t *testing.T) {
	r := newRig(t, rigOpts{rules: bundleRules})
	recordRow(t, r, "restart: deep variants and BaseURL init stay bundle parts", 9, 2, "2 bundles, no part alone")
	r.write("show/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv/720/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=500\nv/360/index.m3u8\n"))
	for _, v := range []string{"720", "360"} {
		r.write("show/v/"+v+"/index.m3u8", []byte(hlsMediaList("a.ts", "b.ts")))
		r.write("show/v/"+v+"/a.ts", testutil.Content(v+"a", 2000))
		r.write("show/v/"+v+"/b.ts", testutil.Content(v+"b", 2000))
	}
	r.write("dash/manifest.mpd", []byte(dashMPD("media/v1/")))
	for _, f := range []string{"init.mp4", "s1.m4s", "s2.m4s"} {
		r.write("dash/media/v1/"+f, testutil.Content(f, 1500))
	}
	r.start()
	r.eventually(30*time.Second, "both bundles done", func() bool { return len(r.jobs(state.StageDone)) == 2 })
	r.stop()
	r.start()
	// A part taken alone would settle (300ms) and pass the bundle hold
	// (1s) well within this.
	r.never(3*time.Second, "a bundle part queued as a job of its own after the restart", func() bool {
		return len(r.jobs()) != 2
	})
	if n := len(r.emulator().Media()); n != 2 {
		t.Fatalf("%d media, want the 2 bundles", n)
	}
}

// TestHostileManifestsBoundedMemory (issue 18 item 6): small manifests that
// expand to gigabytes of reference text, and a playlist of many missing
// segments, are refused with an error naming the file, within a bounded
// heap, and nothing stays held once they are refused.
func TestHostileManifestsBoundedMemory(t *testing.T) {
	r := newRig(t, rigOpts{rules: bundleRules})
	recordRow(t, r, "hostile: MPD expanding to GBs, 100k missing segments", 4, 0, "refused, heap bounded")
	mpd := func(base string) []byte {
		return []byte(strings.Replace(dashMPD(base), `mediaPresentationDuration="PT4S"`, `mediaPresentationDuration="PT50H"`, 1))
	}
	var list strings.Builder
	list.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
	for i := range 100_000 {
		fmt.Fprintf(&list, "#EXTINF:1,\nsegment-%07d.ts\n", i)
	}
	list.WriteString("#EXT-X-ENDLIST\n")
	files := map[string][]byte{
		"a/long-4k.mpd":    mpd(strings.Repeat("b", 4000) + "/"),
		"b/long-20k.mpd":   mpd(strings.Repeat("b", 20000) + "/"),
		"c/components.mpd": mpd(strings.Repeat(strings.Repeat("c", 200)+"/", 18)),
		"d/missing.m3u8":   []byte(list.String()),
	}
	r.start()
	base := heapNow()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // samples the heap until the refusals are in
		defer close(sampled)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak.Store(max(peak.Load(), ms.HeapAlloc))
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	for rel, b := range files {
		r.write(rel, b)
	}
	r.eventually(90*time.Second, "every hostile manifest refused", func() bool {
		return len(r.jobs(state.StageFailed, state.StageQuarantined)) == len(files)
	})
	close(stop)
	<-sampled
	grew := int64(peak.Load()) - int64(base)
	t.Logf("peak heap growth while refusing: %d MB", grew>>20)
	if grew > 256<<20 {
		t.Errorf("the heap grew by %d MB at its peak while refusing four small manifests; bound 256 MB", grew>>20)
	}
	for _, j := range r.jobs() {
		if j.LastError == nil || !strings.Contains(j.LastError.Message, j.Key.Rel) {
			t.Errorf("%s: error %+v does not name the file", j.Key.Rel, j.LastError)
		}
		t.Logf("%s: %s %.160s", j.Key.Rel, j.LastError.Code, j.LastError.Message)
	}
	left := int64(heapNow()) - int64(base)
	t.Logf("heap held after the refusals: %+d KB", left>>10)
	if left > 24<<20 {
		t.Errorf("the daemon holds %d MB more after refusing the manifests; bound 24 MB", left>>20)
	}
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestPlaylistCycleReported (issue 18, also seen): a master and a variant
// that reference each other are not hidden as each other's parts: they
// fail with a clear "cycle" error, in the log and in the job's status.
func TestPlaylistCycleReported(t *testing.T) {
	r := newRig(t, rigOpts{rules: bundleRules})
	recordRow(t, r, "hostile: HLS master/variant cycle", 3, 0, "failed with a cycle error")
	r.write("show/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv/index.m3u8\n"))
	r.write("show/v/index.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n../master.m3u8\n#EXTINF:2,\na.ts\n"))
	r.write("show/v/a.ts", testutil.Content("a", 2000))
	r.start()
	r.eventually(20*time.Second, "a job failed with a cycle error", func() bool {
		for _, j := range r.jobs(state.StageFailed, state.StageQuarantined) {
			if j.LastError != nil && strings.Contains(j.LastError.Message, "cycle") {
				return true
			}
		}
		return false
	})
	// The failure is recorded, then logged: wait for the line.
	r.eventually(5*time.Second, "the log to mention the cycle", func() bool {
		return strings.Contains(r.logs.String(), "cycle")
	})
	if n := len(r.emulator().Media()); n != 0 {
		t.Errorf("%d media committed from a cyclic playlist", n)
	}
}

// TestCROnlyPlaylist (issue 18, also seen): a playlist with CR-only line
// ends is uploaded with its segments, never as a manifest alone.
func TestCROnlyPlaylist(t *testing.T) {
	r := newRig(t, rigOpts{rules: bundleRules})
	recordRow(t, r, "hostile: CR-only HLS playlist", 3, 1, "uploaded with its segments")
	r.write("cr/index.m3u8", []byte("#EXTM3U\r#EXT-X-TARGETDURATION:2\r#EXTINF:2,\ra.ts\r#EXTINF:2,\rb.ts\r#EXT-X-ENDLIST\r"))
	r.write("cr/a.ts", testutil.Content("a", 2000))
	r.write("cr/b.ts", testutil.Content("b", 2000))
	r.start()
	r.eventually(20*time.Second, "the bundle done", func() bool { return len(r.jobs(state.StageDone)) == 1 })
	r.never(2*time.Second, "a segment taken alone", func() bool { return len(r.jobs()) != 1 })
	j, _ := r.jobAt("cr/index.m3u8")
	if j == nil || j.Kind != state.KindBundle || j.Bytes < 4000 {
		t.Fatalf("job %+v: want the bundle with both segments", j)
	}
}

// TestOnDemandMPDAfterItsMP4 (issue 18, also seen): with bundle_wait on the
// media rule, a DASH on-demand MPD written seconds after its .mp4 claims
// it: one bundle, the .mp4 never a media of its own.
func TestOnDemandMPDAfterItsMP4(t *testing.T) {
	r := newRig(t, rigOpts{rules: `    rules:
      - name: dash
        match: "**/*.mpd"
        bundle_timeout: 5s
      - name: media
        match: "**/*.mp4"
        bundle_wait: 3s
`})
	recordRow(t, r, "DASH on-demand MPD 1.5 s after its .mp4", 2, 1, "one bundle (bundle_wait)")
	r.start()
	r.write("od/clip.mp4", testutil.Content("clip", 20<<10))
	time.Sleep(1500 * time.Millisecond) // past the settle window: alone, it would be taken
	r.write("od/clip.mpd", []byte(`<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S">
  <Period><AdaptationSet><Representation id="v" bandwidth="1000">
    <BaseURL>clip.mp4</BaseURL><SegmentBase indexRange="0-100"/>
  </Representation></AdaptationSet></Period>
</MPD>
`))
	r.eventually(20*time.Second, "the bundle done", func() bool { return len(r.jobs(state.StageDone)) == 1 })
	r.never(2*time.Second, "the .mp4 taken alone", func() bool { return len(r.jobs()) != 1 })
	if j, ok := r.jobAt("od/clip.mpd"); !ok || j.Kind != state.KindBundle {
		t.Fatalf("job %+v: want the MPD's bundle", j)
	}
}
