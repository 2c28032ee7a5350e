package uploader

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ffprobe opens the uploaded HLS and DASH MediaUrls from the emulator, as
// a player would (ffprobe is installed by .ci/run).
func TestFFprobeOpensMediaURL(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed (the CI image has it)")
	}
	env := newEnv(t, nil)
	for _, c := range []struct{ dir, top string }{{"hls_aes", "index.m3u8"}, {"hls_master", "master.m3u8"}, {"dash_timeline", "manifest.mpd"}} {
		t.Run(c.dir, func(t *testing.T) {
			top := filepath.Join(bundleDir(t, c.dir), c.top)
			res, err := env.u.Upload(context.Background(), Request{MediaFilePath: top}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "stream=codec_type",
				"-of", "csv=p=0", res.MediaURL).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "video") {
				t.Fatalf("ffprobe %s: %v\n%s", res.MediaURL, err, out)
			}
		})
	}
}
