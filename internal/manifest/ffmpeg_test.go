package manifest

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestFFmpegLargerBundles packages 60 s of video on the fly (120 HLS
// segments with byte ranges into 4 variants; 120 DASH segments per
// Representation with SegmentTimeline) and checks that Resolve finds exactly
// the files ffmpeg wrote. (ffmpeg writes an empty master playlist unless
// the variants have a bitrate, hence -b:v.)
func TestFFmpegLargerBundles(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed (.ci/run installs it)")
	}
	src := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=4:duration=60",
		"-filter_complex", "[0:v]split=4[a][b][c][d]", "-map", "[a]", "-map", "[b]", "-map", "[c]", "-map", "[d]",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "2", "-keyint_min", "2", "-sc_threshold", "0", "-bf", "0", "-b:v", "100k"}
	cases := []struct {
		name, top string
		args      []string
	}{
		{"hls", "master.m3u8", []string{"-f", "hls", "-hls_time", "0.5", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
			"-master_pl_name", "master.m3u8", "-var_stream_map", "v:0 v:1 v:2 v:3", "-hls_flags", "single_file", "index_%v.m3u8"}},
		{"dash", "manifest.mpd", []string{"-f", "dash", "-seg_duration", "0.5", "-use_template", "1", "-use_timeline", "1",
			"-media_seg_name", "s-$RepresentationID$-$Number%05d$.m4s", "-init_seg_name", "init-$RepresentationID$.mp4", "manifest.mpd"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ff, append(src, tc.args...)...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			b, err := Resolve(context.Background(), filepath.Join(dir, tc.top), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := folderFiles(t, dir, tc.top)
			if got := bundleFiles(b); !reflect.DeepEqual(got, want) {
				t.Errorf("files:\n got %v\nwant %v", got, want)
			}
			t.Logf("%s: %d files, %d bytes", tc.name, len(b.Files), b.Size())
		})
	}
}
